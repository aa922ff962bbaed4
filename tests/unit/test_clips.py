"""Reading CCTV clips and following faces through them (facedesk.domain.clips): every kind
of damaged or unusual clip ends with its one-line outcome, reading is bounded, and tracks
split and join where the generator's truth says (fake engine on lossless clips)."""

from __future__ import annotations

import os
from pathlib import Path

import av
import numpy as np
import pytest
from clipgen import FakeWalk, fake_clip, render, walker
from fakes import FakeEngine, one_face, save_png

from facedesk.domain import clips
from facedesk.domain.clips import ClipLimits, TrackOptions
from facedesk.domain.faces import Box
from facedesk.domain.progress import CancelToken
from facedesk.errors import ClipTooLarge, FaceChoiceError, UnreadableClip, UnsupportedClip


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("clips")


@pytest.fixture(scope="module")
def photo(folder: Path) -> Path:
    return save_png(one_face(1, 0, (250, 250)), folder / "face.png")


@pytest.fixture(scope="module")
def variants(folder: Path, photo: Path) -> dict[str, Path]:
    """Good clips of several kinds and the damaged ones built from them."""
    from clipgen import damaged_variants

    out: dict[str, Path] = {}
    for name, kw in {"good.mp4": {}, "rotated.mp4": {"rotation": 90},
                     "interlaced.mp4": {"interlaced": True}, "vfr.mp4": {"vfr": True},
                     "mjpeg.avi": {"codec": "mjpeg", "container": "avi"},
                     "matroska.mkv": {"container": "matroska"},
                     "quicktime.mov": {"container": "mov"}}.items():
        render(walker(("p", photo), duration=1.0, **kw), folder / name)
        out[name.split(".")[0]] = folder / name
    late = folder / "late_index.mp4"  # remuxed without faststart: the index at the end
    with av.open(str(out["good"])) as src, av.open(str(late), "w") as dst:
        stream = dst.add_stream_from_template(src.streams.video[0])
        for packet in src.demux(src.streams.video[0]):
            if packet.dts is not None:
                packet.stream = stream
                dst.mux(packet)
    out["late_index"] = late
    out.update(damaged_variants(out["good"], late, folder))
    return out


def read_all(path: Path, limits: ClipLimits | None = None,
             cancel: CancelToken | None = None) -> tuple[int, str, clips.ReadReport]:
    with clips.ClipReader(path, limits) as r:
        n = sum(1 for _ in r.frames(cancel))
        return n, r.report.outcome(r.info), r.report


# --- every kind of clip: one line ------------------------------------------------------------

REFUSED = {
    "no_moov": (UnreadableClip, "index \\(the 'moov' box\\) is missing"),
    "empty": (UnreadableClip, "empty \\(0 bytes\\)"),
    "text": (UnreadableClip, "not a video that can be read"),
    "audio_only": (UnsupportedClip, "holds no video, only audio \\(aac\\)"),
    "huge": (ClipTooLarge, "7744 x 5376 pixels are larger than the 40-megapixel limit"),
}


@pytest.mark.parametrize("name", sorted(REFUSED))
def test_a_clip_that_cannot_be_read_is_refused_with_its_reason(
        variants: dict[str, Path], name: str) -> None:
    kind, reason = REFUSED[name]
    with pytest.raises(kind, match=reason) as err:
        read_all(variants[name])
    assert "\n" not in str(err.value)
    assert str(variants[name]) in str(err.value)


def test_damaged_clips_are_read_as_far_as_they_go_and_say_so(
        variants: dict[str, Path]) -> None:
    whole, _, _ = read_all(variants["good"])
    n, line, rep = read_all(variants["truncated"])
    assert 0 < n < whole and rep.ended_early
    assert "damaged, read as far as possible" in line and "(truncated?)" in line
    n, line, rep = read_all(variants["flipped"])
    assert n > 0 and (rep.damaged_packets or rep.corrupt_frames)
    assert "damaged, read as far as possible" in line
    n, line, rep = read_all(variants["ten_hours"])
    assert n == 2 and "stopped early: the limit of 04:00:00.000 of video" in line
    for text in (line,):
        assert "\n" not in text


@pytest.mark.parametrize("name,note", [
    ("good", None), ("late_index", None), ("mjpeg", None), ("matroska", None),
    ("quicktime", None), ("rotated", "rotated 90° for display"),
    ("interlaced", "interlaced (13 frames: one field of each, lines doubled)"),
    ("vfr", "variable frame rate (83-167 ms between frames"),
])
def test_good_clips_are_read_whole_with_what_was_done(variants: dict[str, Path], name: str,
                                                     note: str | None) -> None:
    n, line, _ = read_all(variants[name])
    assert n >= 9 and "read whole" in line and "\n" not in line
    if note:
        assert note in line


def test_a_rotated_clip_is_turned_upright_and_a_field_taken_from_interlaced_frames(
        variants: dict[str, Path]) -> None:
    def frame3(name: str) -> np.ndarray:
        with clips.ClipReader(variants[name]) as r:
            return r.rgb(next(f for f in r.frames() if f.index == 3))

    upright = frame3("good").astype(int)
    for name in ("rotated", "interlaced"):
        other = frame3(name)
        assert other.shape == upright.shape
        assert np.abs(other.astype(int) - upright).mean() < 4.0, name
    # the rotated clip stored turned: unturned, it would differ completely
    with clips.ClipReader(variants["rotated"]) as r:
        assert r.info.rotation == 90 and (r.info.width, r.info.height) == (480, 300)


def test_reading_stops_at_its_limits_and_on_cancel(variants: dict[str, Path]) -> None:
    n, line, _ = read_all(variants["good"], ClipLimits(max_frames=4))
    assert n == 4 and "stopped early: the limit of 4 frames was reached" in line
    n, line, _ = read_all(variants["good"], ClipLimits(max_wall_s=0.0))
    assert n == 0 and "time limit" in line
    cancel = CancelToken()
    cancel.cancel()
    n, line, _ = read_all(variants["good"], cancel=cancel)
    assert n == 0 and "stopped early: cancelled" in line


@pytest.mark.timeout(10)
@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="named pipes")
def test_a_named_pipe_is_refused_at_once(tmp_path: Path) -> None:
    fifo = tmp_path / "stream.mp4"
    os.mkfifo(fifo)
    with pytest.raises(UnreadableClip, match="not a regular file"):
        clips.ClipReader(fifo)


def test_clips_are_recognised_by_content_not_name(variants: dict[str, Path],
                                                  photo: Path, tmp_path: Path) -> None:
    for name in ("good", "mjpeg", "matroska", "quicktime", "audio_only", "truncated",
                 "no_moov"):
        assert clips.looks_like_clip(variants[name]), name
    disguised = tmp_path / "still.jpg"
    disguised.write_bytes(variants["good"].read_bytes())
    assert clips.looks_like_clip(disguised)
    assert not clips.looks_like_clip(photo)
    assert not clips.looks_like_clip(variants["empty"])


def test_frames_by_number_and_time(variants: dict[str, Path]) -> None:
    info, fr, line = clips.read_frame(variants["vfr"], frame=4)
    assert (fr.index, round(fr.time_s, 3)) == (4, 0.417)  # every third frame lasts twice
    _, fr2, _ = clips.read_frame(variants["vfr"], at_s=0.4)
    assert fr2.index == 4 and np.array_equal(fr.rgb, fr2.rgb)
    assert info.codec == "h264" and "read up to frame 4, no damage met" in line
    with pytest.raises(FaceChoiceError, match="there is no frame 500"):
        clips.read_frame(variants["good"], frame=500)


def test_timecodes() -> None:
    assert clips.timecode(83.4) == "00:01:23.400"
    assert [clips.parse_timecode(t) for t in ("83.4", "1:23.4", "00:01:23.4")] == \
        pytest.approx([83.4] * 3)
    for bad in ("", "1::2", "a", "-3"):
        with pytest.raises(ValueError):
            clips.parse_timecode(bad)


# --- fusion and adjustments ---------------------------------------------------------------


def test_the_fused_template_is_the_mean_direction_at_the_mean_length() -> None:
    a = np.zeros(128, np.float32)
    b = np.zeros(128, np.float32)
    a[0], b[1] = 1.0, 3.0
    fused = clips.fused_encoding([a, b])
    assert np.linalg.norm(fused) == pytest.approx(2.0)
    assert fused[0] == pytest.approx(fused[1]) and fused[0] > 0
    with pytest.raises(ValueError):
        clips.fused_encoding([])


def test_only_rotation_and_brightness_contrast_are_applied_and_each_is_recorded() -> None:
    rgb = np.arange(2 * 3 * 3, dtype=np.uint8).reshape(2, 3, 3) * 10
    out, done = clips.adjust(rgb, rotate=90, brightness=10, contrast=2.0)
    assert out.shape == (3, 2, 3)
    assert [(a.op, a.value) for a in done] == [("rotate", 90), ("contrast", 2.0),
                                              ("brightness", 10)]
    expect = np.clip((np.rot90(rgb).astype(float) - 128) * 2 + 138, 0, 255)
    assert np.array_equal(out, expect.astype(np.uint8))
    same, none = clips.adjust(rgb)
    assert none == [] and np.array_equal(same, rgb)
    with pytest.raises(ValueError):
        clips.adjust(rgb, rotate=45)


# --- tracks (fake engine, lossless clips) -------------------------------------------------------


def run(path: Path, **kw: object) -> clips.ClipTracks:
    return clips.run_tracks(FakeEngine(), path, TrackOptions(**kw))  # type: ignore[arg-type]


def test_two_people_a_visitor_and_a_cut_make_the_tracks_the_truth_says(tmp_path: Path) -> None:
    walks = (FakeWalk(1, 0, 39, Box(60, 70, 120, 20), Box(80, 120, 150, 60)),
             FakeWalk(2, 0, 39, Box(60, 300, 130, 230), Box(70, 300, 140, 230)),
             FakeWalk(3, 12, 22, Box(150, 200, 200, 150), Box(150, 210, 200, 160)))
    truth = fake_clip(tmp_path / "c.mov", walks, 40, cut_at=30)
    result = run(tmp_path / "c.mov", analysis_fps=10)
    assert result.cuts == [30]
    # 1 and 2 before and after the cut, 3 between: five segments, five tracks
    assert len(truth.segments()) == 5
    assert truth.errors(result) == (0, 0, 0)
    assert len(result.tracks) == 5
    for t in result.tracks:
        assert 1 <= len(t.best) <= 3
        assert [f.score for f in t.best] == sorted((f.score for f in t.best), reverse=True)
        for f in t.best:
            assert truth.who(f.frame, f.box) is not None
            assert f.image.shape[0] <= clips.CROP_MAX_SIDE
    visitor = next(t for t in result.tracks if 12 <= t.first_frame <= 13)
    assert visitor.last_frame <= 22


def test_a_person_who_leaves_and_returns_is_a_new_track_and_gaps_within_join(
        tmp_path: Path) -> None:
    box = Box(60, 120, 130, 50)
    walks = (FakeWalk(4, 0, 9, box, box), FakeWalk(4, 30, 39, box, box))
    truth = fake_clip(tmp_path / "away.mov", walks, 40)
    assert truth.errors(run(tmp_path / "away.mov")) == (0, 0, 0)
    # analysed every 0.5 s, a 1.5 s gap ends the track; with max_gap_s 5 it joins
    joined = run(tmp_path / "away.mov", max_gap_s=5.0)
    assert len(joined.tracks) == 1
    assert truth.errors(joined)[1] == 1  # the truth counts two appearances


def test_two_people_who_swap_places_keep_their_tracks(tmp_path: Path) -> None:
    """Faces jump between analysed frames to where the other one was: the encoding keeps
    each with its own track."""
    a0, b0 = Box(60, 90, 120, 30), Box(60, 290, 120, 230)
    walks = (FakeWalk(5, 0, 19, a0, b0), FakeWalk(6, 0, 19, b0, a0))
    truth = fake_clip(tmp_path / "swap.mov", walks, 20)
    result = run(tmp_path / "swap.mov", analysis_fps=2)
    _, merges, missed = truth.errors(result)
    assert merges == 0 and missed == 0


def test_tracking_yields_progress_and_stops_on_cancel(tmp_path: Path) -> None:
    walks = (FakeWalk(1, 0, 59, Box(60, 90, 120, 30), Box(60, 190, 120, 130)),)
    fake_clip(tmp_path / "long.mov", walks, 60)
    cancel = CancelToken()
    events = []
    for ev in clips.track_clip(FakeEngine(), tmp_path / "long.mov", cancel=cancel):
        events.append(ev)
        cancel.cancel()
    last = events[-1]
    assert last.phase == "cancelled" and last.result is not None
    assert last.result.report.stopped == "cancelled"
    assert last.frames_read < 60


def test_between_whole_looks_only_the_regions_of_live_tracks_are_searched_and_encoded(
        tmp_path: Path) -> None:
    walks = (FakeWalk(1, 0, 59, Box(60, 90, 120, 30), Box(60, 150, 120, 90)),)
    truth = fake_clip(tmp_path / "walk.mov", walks, 60)
    engine = FakeEngine()
    described: list[int] = []
    real_describe = engine.describe

    def counting(rgb: np.ndarray, boxes: list[Box]) -> list:
        described.append(len(boxes))
        return real_describe(rgb, boxes)

    engine.describe = counting  # type: ignore[method-assign]
    result = clips.run_tracks(engine, tmp_path / "walk.mov", TrackOptions(analysis_fps=10))
    assert truth.errors(result) == (0, 0, 0) and result.frames_analysed == 60
    whole = [c for c in engine.detect_calls if c[:2] == (240, 320)]
    assert len(whole) == 20  # every third analysed frame
    assert len(engine.detect_calls) == 60  # the others: the track's region only
    assert all(c[0] * c[1] < 240 * 320 / 2 for c in engine.detect_calls if c[:2] != (240, 320))
    # a face that plainly continues its track is encoded again about once a second,
    # or when it could be a better frame: far fewer than 60
    assert sum(described) < 30
    assert result.tracks[0].detections == 60
