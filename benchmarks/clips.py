"""How fast FaceDesk reads a CCTV clip: tracks and best frames of every face
(facedesk.domain.clips.track_clip with the default TrackOptions, the real engine), against
the same clip only decoded (the floor: what FFmpeg costs) and against real time.

Target (issue 17): a 60-second 1280 x 720, 25 fps H.264 clip in at most 60 s on 2 cores
(at least real time), under 1 GB of memory. Also 1080p, and a 10-minute clip (how it
scales: the 60-second clip's packets repeated ten times, so the content is the same).

The clips are generated (tests/clipgen.py) from LFW photos: people walking across a
shop-like background, two or three on screen at a time, coming and going, with a cut
every 20 s; faces of about 90-180 pixels. They are cached in --cache.

    .venv/bin/python benchmarks/clips.py                    # 720p, 60 s
    .venv/bin/python benchmarks/clips.py --sizes 720p 1080p --long

Each measurement runs in a fresh process (peak memory is that process's); the machine's
load average is printed before and after each, as the machine is shared.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))
DATA = Path(os.environ.get("FACEDESK_TEST_DATA") or REPO.parent / "shared" / "data")
SIZES = {"720p": (1280, 720), "1080p": (1920, 1080)}


def make_clip(path: Path, width: int, height: int, seconds: float = 60.0) -> None:
    import clipgen

    lfw = DATA / "lfw" / "images"
    people = [d for d in sorted(lfw.iterdir()) if len(list(d.iterdir())) >= 2][::97][:12]
    apps = []
    scale = height / 720
    for k in range(12):
        person = people[k % len(people)]
        start = (k * 5.0) % seconds
        end = min(seconds, start + 9.0 + (k % 3) * 3)
        y = 0.35 + 0.12 * (k % 3)
        left_to_right = k % 2 == 0
        x0, x1 = (0.15, 0.85) if left_to_right else (0.85, 0.15)
        size0, size1 = round((200 + 20 * (k % 4)) * scale), round((260 + 40 * (k % 3)) * scale)
        apps.append(clipgen.Appearance(person.name, sorted(person.iterdir())[0], start, end,
                                       x0, y, x1, y + 0.05, size0, size1,
                                       blur=2 if k % 4 == 3 else 0))
    spec = clipgen.ClipSpec(tuple(apps), width=width, height=height, fps=25,
                            duration=seconds, cuts=(20.0, 40.0), crf=26, seed=3)
    clipgen.render(spec, path)


def repeat_clip(src: Path, dst: Path, times: int) -> None:
    """`src`'s packets `times` over, one after the other (no re-encoding)."""
    import av

    with av.open(str(src)) as inp, av.open(str(dst), "w") as out:
        s_in = inp.streams.video[0]
        s_out = out.add_stream_from_template(s_in)
        packets = [p for p in inp.demux(s_in) if p.dts is not None]
        span = max(p.pts + (p.duration or 0) for p in packets) - min(p.pts for p in packets)
        for k in range(times):
            for p in packets:
                q = av.Packet(bytes(p))
                q.pts, q.dts = p.pts + k * span, p.dts + k * span
                q.duration, q.time_base = p.duration, p.time_base
                q.is_keyframe = p.is_keyframe
                q.stream = s_out
                out.mux(q)


def peak_rss_mb() -> float:
    """This process's peak resident memory (VmHWM: since its exec; getrusage's ru_maxrss
    would carry over the parent's peak, which generated the clip)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def measure(clip: Path, mode: str) -> dict[str, object]:
    """In this process: decode only, or the whole tracking."""
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    from facedesk.domain import clips
    from facedesk.engine.dlib_engine import DlibEngine

    t0 = time.perf_counter()
    cpu0 = 0.0
    if mode == "decode":
        with clips.ClipReader(clip) as reader:
            n = sum(1 for _ in reader.frames())
            video_s = reader.report.last_time_s
        out: dict[str, object] = {"frames": n, "video_s": video_s}
    else:
        engine = DlibEngine()
        engine.detect(__import__("numpy").zeros((64, 64, 3), "uint8"), 0)  # load models
        engine._load_describers()
        t0 = time.perf_counter()
        usage = resource.getrusage(resource.RUSAGE_SELF)
        cpu0 = usage.ru_utime + usage.ru_stime
        result = clips.run_tracks(engine, clip)
        out = {"frames": result.report.frames_decoded, "video_s": result.report.last_time_s,
               "analysed": result.frames_analysed, "tracks": len(result.tracks),
               "stages": result.times.as_dict(), "outcome": result.outcome()}
    out["wall_s"] = time.perf_counter() - t0
    usage = resource.getrusage(resource.RUSAGE_SELF)
    out["cpu_s"] = usage.ru_utime + usage.ru_stime - cpu0
    out["peak_rss_mb"] = peak_rss_mb()
    return out


def run_child(clip: Path, mode: str) -> dict[str, object]:
    before = os.getloadavg()[0]
    proc = subprocess.run([sys.executable, __file__, "--child", mode, str(clip)],
                          capture_output=True, text=True, check=True)
    doc: dict[str, object] = json.loads(proc.stdout)
    doc["load"] = (round(before, 1), round(os.getloadavg()[0], 1))
    return doc


def report(name: str, decode: dict[str, object], full: dict[str, object]) -> None:
    video = float(full["video_s"])  # type: ignore[arg-type]
    wall = float(full["wall_s"])  # type: ignore[arg-type]
    frames = int(full["frames"])  # type: ignore[call-overload]
    stages = dict(full["stages"])  # type: ignore[call-overload]
    other = wall - sum(stages.values())
    print(f"\n{name}: {video:.0f} s of video, {frames} frames, "
          f"{full['analysed']} analysed, {full['tracks']} tracks")
    print(f"  decode only   {float(decode['wall_s']):7.1f} s, CPU "  # type: ignore[arg-type]
          f"{float(decode['cpu_s']):.1f} s "  # type: ignore[arg-type]
          f"({frames / float(decode['wall_s']):.0f} frames/s; "  # type: ignore[arg-type]
          f"peak {float(decode['peak_rss_mb']):.0f} MB; load {decode['load']})")
    cpu = float(full["cpu_s"])  # type: ignore[arg-type]
    print(f"  tracks        {wall:7.1f} s  ({frames / wall:.1f} frames/s, "
          f"{video / wall:.2f}x real time; peak {float(full['peak_rss_mb']):.0f} MB; "
          f"load {full['load']})")
    print(f"  CPU time      {cpu:7.1f} s  (user + system of the process: what it takes "
          f"when it has the cores to itself; {video / cpu:.2f}x real time)")
    shares = ", ".join(f"{k} {v / wall:.0%}" for k, v in stages.items()) + \
        f", other {other / wall:.0%}"
    print(f"  time by stage {shares}")
    peak = float(full["peak_rss_mb"])  # type: ignore[arg-type]
    print(f"  target: at most {video:.0f} s and under 1024 MB: wall "
          f"{'met' if wall <= video and peak < 1024 else 'NOT met'}, CPU time "
          f"{'met' if cpu <= video and peak < 1024 else 'NOT met'}")
    print(f"  {full['outcome']}")


def main() -> None:
    if len(sys.argv) == 4 and sys.argv[1] == "--child":
        print(json.dumps(measure(Path(sys.argv[3]), sys.argv[2])))
        return
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", nargs="+", choices=sorted(SIZES), default=["720p"])
    ap.add_argument("--long", action="store_true", help="also the 10-minute 720p clip")
    ap.add_argument("--cache", type=Path, default=Path(os.environ.get("TMPDIR", "/tmp"))
                    / "facedesk-bench" / "clips")
    args = ap.parse_args()
    args.cache.mkdir(parents=True, exist_ok=True)
    print(f"cores: {os.cpu_count()}; load average now: {os.getloadavg()}")
    todo = []
    for size in args.sizes:
        clip = args.cache / f"shop-{size}-60s.mp4"
        if not clip.exists():
            t = time.perf_counter()
            make_clip(clip, *SIZES[size])
            print(f"made {clip} in {time.perf_counter() - t:.0f} s")
        todo.append((f"{size}, 25 fps, H.264, 60 s", clip))
    if args.long:
        base = args.cache / "shop-720p-60s.mp4"
        if not base.exists():
            make_clip(base, *SIZES["720p"])
        long_clip = args.cache / "shop-720p-600s.mp4"
        if not long_clip.exists():
            repeat_clip(base, long_clip, 10)
        todo.append(("720p, 25 fps, H.264, 10 minutes", long_clip))
    for name, clip in todo:
        report(name, run_child(clip, "decode"), run_child(clip, "tracks"))


if __name__ == "__main__":
    main()
