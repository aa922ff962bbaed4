"""`facedesk frames`, and the part of `facedesk search` that takes its probe from a video
clip (facedesk.domain.clips). A thin layer: reading, tracking and provenance are in the domain."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from facedesk.cli import options
from facedesk.cli.options import json_option, quiet_option
from facedesk.cli.output import emit_json, json_text, note
from facedesk.cli.progress import StatusLine, run
from facedesk.domain import clips
from facedesk.domain.clips import ClipProbe, ClipProgress, ClipTracks, TrackOptions
from facedesk.domain.faces import FaceEngine
from facedesk.domain.formatting import percent
from facedesk.domain.imaging import sha256_bytes
from facedesk.errors import FaceChoiceError


def show_reading(line: StatusLine, ev: ClipProgress) -> None:
    if ev.phase != "reading":
        return
    share = "" if ev.fraction is None else f" ({percent(ev.fraction, 0)})"
    speed = ev.time_s / ev.elapsed_s if ev.elapsed_s > 0 else 0.0
    line.show(f"read {clips.timecode(ev.time_s)}{share}, {ev.frames_read} frames, "
              f"{ev.frames_analysed} analysed, {ev.tracks} face tracks, "
              f"{speed:.1f}x real time")


def read_tracks(engine: FaceEngine, clip: Path, track_options: TrackOptions, quiet: bool
                ) -> ClipTracks:
    """Track the clip with a progress line on stderr; Ctrl-C stops (exit 130)."""
    line = StatusLine(quiet)
    last = run(lambda cancel: clips.track_clip(engine, clip, track_options, cancel=cancel),
               show=lambda ev: show_reading(line, ev),
               cancelled="\ncancelled: nothing was written")
    line.end()
    assert last.result is not None
    return last.result


def track_lines(result: ClipTracks) -> list[str]:
    out = []
    for t in result.tracks:
        best = t.best[0]
        q = best.quality
        out.append(f"  track {t.id}: {clips.timecode(t.first_time_s)}-"
                   f"{clips.timecode(t.last_time_s)}, seen in {t.detections} frames; best "
                   f"frame {best.frame} at {clips.timecode(best.time_s)} (face {q.size_px} px, "
                   f"eyes {q.eye_distance_px:.0f} px apart, sharpness {q.sharpness:.0f}, "
                   f"yaw {q.yaw_deg:+.0f}°, score {best.score:.2f})")
    return out


def write_frames(result: ClipTracks, out: Path) -> dict[str, Any]:
    """Each track's kept frames as PNG (track-K/frame-N.png) and summary.json; returns
    the summary (with the PNG files and their SHA-256)."""
    out.mkdir(parents=True, exist_ok=True)
    doc = result.as_dict()
    for t, td in zip(result.tracks, doc["tracks"], strict=True):
        folder = out / f"track-{t.id:03d}"
        folder.mkdir(exist_ok=True)
        for f, fd in zip(t.best, td["best"], strict=True):
            png = clips.png_bytes(f.image)
            name = f"frame-{f.frame:07d}.png"
            (folder / name).write_bytes(png)
            fd["png"] = f"{folder.name}/{name}"
            fd["png_sha256"] = sha256_bytes(png)
    (out / "summary.json").write_text(json_text(doc), encoding="utf-8")
    return doc


def clip_probe(engine: FaceEngine, clip: Path, *, track: int | None, frame: int | None,
               at: str | None, fuse: bool | None, rotate: int, brightness: float,
               contrast: float, track_options: TrackOptions, quiet: bool) -> ClipProbe:
    """The probe `facedesk search CLIP` searches: a frame (--frame / --at, without
    --track: the whole frame, its largest face), or a track's best frame or fused
    template (--track; without it, the track with the best frame)."""
    if frame is not None and at is not None:
        raise click.UsageError("give --frame or --at, not both")
    adjust: dict[str, Any] = {"rotate": rotate, "brightness": brightness, "contrast": contrast}
    if track is None and (frame is not None or at is not None):
        if fuse:
            raise click.UsageError("--fuse needs a track: one frame has nothing to fuse")
        at_s = None if at is None else clips.parse_timecode(at)
        return clips.frame_probe(engine, clip, frame=frame, at_s=at_s, **adjust)
    if at is not None:
        raise click.UsageError("with --track, choose one of its kept frames with --frame")
    result = read_tracks(engine, clip, track_options, quiet)
    if not quiet:
        for line in [result.outcome(), *track_lines(result)]:
            note(line)
    if not result.tracks:
        raise FaceChoiceError(
            f"{result.info.name}: no face was followed in it; search one frame with --frame "
            "N or --at TIME (the frames command shows the clip's tracks)")
    if track is None:
        track = max(result.tracks, key=lambda t: (t.best[0].score, -t.id)).id
        if not quiet and len(result.tracks) > 1:
            note(f"searching track {track} (the best frame); choose another with --track K")
    use_fuse = clips.DEFAULT_FUSE if fuse is None else fuse
    if frame is not None:
        use_fuse = False if fuse is None else fuse
        if use_fuse:
            raise click.UsageError("--fuse searches the track's fused template, not --frame")
    return clips.track_probe(engine, result, track, frame=frame, fuse=use_fuse, **adjust)


# --- facedesk frames ------------------------------------------------------------------------


@click.command("frames")
@click.argument("clip", type=click.Path(path_type=Path))
@click.option("--out", "out", required=True, type=click.Path(path_type=Path, file_okay=False),
              help="Folder for the PNGs (track-K/frame-N.png) and summary.json.")
@click.option("--fps", "analysis_fps", type=click.FloatRange(0.5, 60),
              default=TrackOptions.analysis_fps, show_default=True,
              help="Frames analysed per second of video, at most.")
@click.option("--detect-side", type=click.IntRange(160, 4096),
              default=TrackOptions.detect_side, show_default=True,
              help="Detect faces on a copy of each frame at most this many pixels long.")
@click.option("--upsample", type=click.IntRange(0, 3), default=TrackOptions.upsample,
              show_default=True, help="Times the detector doubles that copy.")
@click.option("--best", "best", type=click.IntRange(1, 20),
              default=TrackOptions.best_per_track, show_default=True,
              help="Frames kept per track.")
@json_option("Print the summary as JSON.")
@quiet_option()
def frames(clip: Path, out: Path, analysis_fps: float, detect_side: int, upsample: int,
           best: int, as_json: bool, quiet: bool) -> None:
    """Read a video CLIP, follow every face through it, and write each track's best
    frames (crops around the face, as PNG) with a JSON summary (frame numbers,
    timestamps, quality figures, the clip's SHA-256 and how it was read)."""
    track_options = TrackOptions(analysis_fps=analysis_fps, detect_side=detect_side,
                                 upsample=upsample, best_per_track=best)
    result = read_tracks(options.engine_spec("hog", 0).create(), clip, track_options, quiet)
    doc = write_frames(result, out)
    if as_json:
        emit_json(doc)
        return
    click.echo(result.outcome())
    for line in track_lines(result):
        click.echo(line)
    click.echo(f"wrote {sum(len(t.best) for t in result.tracks)} frames of "
               f"{len(result.tracks)} tracks and summary.json to {out}")


COMMANDS: list[click.Command] = [frames]
