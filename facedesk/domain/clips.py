"""CCTV clips: read a video with FFmpeg (PyAV), follow each face through it and keep the
best frames of each face, with the frame numbers and timestamps they came from.

Reading (`open_clip`, `ClipReader.frames`): any container and codec the FFmpeg inside
PyAV's wheel decodes. A clip that cannot be read at all raises a typed `ClipError` whose
one-line message says why (empty, no index, audio only, frames too large, ...); a clip
that is damaged part of the way is read as far as it goes, and `ReadReport.outcome`
says in one line what was read and what was wrong (packets skipped, the file ending
early, a variable frame rate, interlaced frames, a rotation applied). Nothing waits for
ever and nothing grows without bound: reading stops at `ClipLimits` (frames decoded,
seconds of video, wall time, packets without a frame), a cancel token is checked after
every packet, and only the best few frames of each track are kept, as crops.

Tracking (`track_clip`): frames are sampled up to `TrackOptions.analysis_fps` (by
timestamp, so a variable frame rate is sampled evenly in time); faces are detected on a
downscaled copy made by FFmpeg's scaler and described (landmarks, encoding, quality) on
the full-size frame only when there is a face; each face joins the track whose last box
it overlaps or lies near and whose encoding is close, or starts a new one; a scene cut
(the whole picture changes) or a gap of `max_gap_s` ends a track. Frames are ranked by
`frame_score`, built from the quality figures the probe panel shows.

Searching (`fused_encoding`): a track can be searched with one of its frames or with the
mean of its best frames' L2-normalised encodings (see README, "CCTV clips", for what the
measurement on generated clips says and which is the default).

No enhancement invents detail: a probe frame may be cropped, rotated (the clip's own
display rotation, or by hand in steps of 90 degrees) and its brightness and contrast
changed, and each of these is recorded with the search (`Adjustment`).
"""

from __future__ import annotations

import dataclasses
import functools
import io
import math
import os
import stat
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray
from PIL import Image

from facedesk.domain import analysis, imaging
from facedesk.domain.faces import Box, Encoding, Face, FaceEngine, FaceQuality, Point
from facedesk.domain.imaging import LoadedImage, RGBArray, sha256_file
from facedesk.domain.progress import CancelToken
from facedesk.errors import ClipTooLarge, FaceChoiceError, UnreadableClip, UnsupportedClip

# --- limits and options -------------------------------------------------------------------

#: largest frame accepted (pixels): 8K UHD is 33 MP. A larger frame is a damaged header or
#: a decompression bomb; each decoded frame of it would take 120 MB and more.
MAX_FRAME_PIXELS = 40_000_000


@dataclass(frozen=True)
class ClipLimits:
    """Where reading stops even if the clip goes on (each stop is reported)."""

    #: frames decoded (at 25 fps: 5.5 hours)
    max_frames: int = 500_000
    #: seconds of video read (a clip's own claim of its length is never trusted)
    max_video_s: float = 4 * 3600.0
    #: wall-clock seconds spent reading (None: no limit)
    max_wall_s: float | None = None
    #: packets in a row that give no frame (a stream of garbage never ends otherwise)
    max_packets_without_frame: int = 3000
    max_file_bytes: int = 64 * 2**30
    max_frame_pixels: int = MAX_FRAME_PIXELS


@dataclass(frozen=True)
class TrackOptions:
    #: frames analysed per second of video at most (every frame of a slower clip)
    analysis_fps: float = 6.0
    #: faces are detected on a copy at most this long (FFmpeg scales it); boxes are
    #: mapped back to the frame. With `upsample` 1 the detector finds faces down to about
    #: 40 px of the copy: at 640 on a 1280 x 720 clip, about 80 px of the frame.
    detect_side: int = 640
    upsample: int = 1
    #: frames kept per track (crops), best first
    best_per_track: int = 3
    #: a track not seen for this long ends (a person who leaves and comes back later is
    #: a new track)
    max_gap_s: float = 1.0
    #: largest encoding distance between a face and a track it joins
    max_join_distance: float = 0.55
    #: a face joins a track whose last box it overlaps at least this much (IoU) ...
    min_iou: float = 0.15
    #: ... or whose last box's centre is within this many box widths
    max_centre_shift: float = 1.5
    #: mean absolute change of a 32 x 18 grey thumbnail (0-255) that is a scene cut
    cut_threshold: float = 35.0
    #: a track needs this many detections to be reported (one detection is often noise)
    min_detections: int = 2
    #: tracks kept at most (the shortest are dropped first); bounds memory on long clips
    max_tracks: int = 400
    #: a face that plainly continues a track (its box overlaps that track's last box by
    #: `follow_iou` and no other face is near) is not described again (landmarks and
    #: encoding: 40 % of the time otherwise) until `reencode_s` after the track's last
    #: encoding, unless its size and sharpness could make it one of the track's best
    #: frames
    follow_iou: float = 0.5
    reencode_s: float = 1.0
    #: the whole frame is searched for faces in every this many analysed frames (at 6 per
    #: second, 3: every half second, so a person entering is found within half a second);
    #: in the others only the regions around the live tracks' last boxes (1 = always the
    #: whole frame)
    full_detect_every: int = 3
    #: a region is the track's last box grown by this share of its size on each side
    region_margin: float = 1.0

    def __post_init__(self) -> None:
        if self.full_detect_every < 1:
            raise ValueError("full_detect_every must be at least 1")
        if not 0 < self.analysis_fps <= 60:
            raise ValueError("analysis_fps must be between 0 and 60")
        if self.detect_side < 64:
            raise ValueError("detect_side must be at least 64")
        if not 0 <= self.upsample <= 3:
            raise ValueError("upsample must be between 0 and 3")
        if self.best_per_track < 1:
            raise ValueError("best_per_track must be at least 1")


#: search a track with its fused template (True) or its best frame (False) unless told
#: otherwise; set by the measurement in README, "CCTV clips"
DEFAULT_FUSE = True

#: a kept frame is a crop around the face with this share of the box size on each side ...
CROP_MARGIN = 0.8
#: ... at most this many pixels long (larger crops are downscaled, which is recorded)
CROP_MAX_SIDE = 640


# --- the file: is it a clip, and what is it -------------------------------------------------

_PHOTO_SIGNATURES = (b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n", b"GIF87a", b"GIF89a", b"II*\x00",
                     b"MM\x00*", b"BM")
_IMAGE_BRANDS = (b"avif", b"avis", b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis",
                 b"mif1", b"msf1")


def looks_like_clip(path: Path) -> bool:
    """True when the file's first bytes are those of a video container (MP4/MOV/3GP,
    AVI, Matroska/WebM, MPEG transport or program stream, FLV, ASF/WMV, Ogg, raw H.264
    or H.265). Decided by content, not by the name's extension; a photo is never a clip."""
    try:
        with path.open("rb") as fh:
            head = fh.read(4096)
    except OSError:
        return False
    return _clip_head(head)


def _clip_head(head: bytes) -> bool:
    if len(head) < 12 or any(head.startswith(s) for s in _PHOTO_SIGNATURES):
        return False
    if head[4:8] == b"ftyp":
        return head[8:12] not in _IMAGE_BRANDS
    if head[4:8] in (b"moov", b"mdat", b"free", b"wide", b"skip"):
        return True
    if head[:4] == b"RIFF":
        return head[8:12] == b"AVI "
    if head.startswith((b"\x1a\x45\xdf\xa3", b"FLV\x01", b"OggS", b"\x00\x00\x01\xba",
                        b"\x30\x26\xb2\x75\x8e\x66\xcf\x11")):
        return True
    if head[0] == 0x47 and len(head) > 376 and head[188] == 0x47 and head[376] == 0x47:
        return True  # MPEG transport stream: a sync byte every 188 bytes
    # raw H.264 / H.265 elementary streams (a recorder's .264 / .h265 export)
    return head.startswith((b"\x00\x00\x00\x01\x67", b"\x00\x00\x00\x01\x40",
                            b"\x00\x00\x00\x01\x09"))


def _mp4_boxes(path: Path, limit: int = 64) -> list[bytes]:
    """The top-level box types of an ISO media file (MP4, MOV), as far as they can be
    walked."""
    kinds: list[bytes] = []
    size = path.stat().st_size
    with path.open("rb") as fh:
        pos = 0
        while pos + 8 <= size and len(kinds) < limit:
            fh.seek(pos)
            hdr = fh.read(16)
            if len(hdr) < 8:
                break
            n = int.from_bytes(hdr[:4], "big")
            kinds.append(hdr[4:8])
            if n == 1 and len(hdr) >= 16:
                n = int.from_bytes(hdr[8:16], "big")
            elif n == 0:
                break
            if n < 8:
                break
            pos += n
    return kinds


@dataclass(frozen=True)
class ClipInfo:
    """What a clip is, as its container says (the length is a claim until read)."""

    path: str
    sha256: str
    size_bytes: int
    container: str  # FFmpeg's demuxer name, e.g. "mov,mp4,m4a,3gp,3g2,mj2"
    codec: str  # e.g. "h264"
    width: int  # as displayed (after the clip's rotation)
    height: int
    rotation: int  # degrees the stored frames are turned to be shown upright (0, 90, ...)
    fps: float | None  # the stream's average rate, if it states one
    duration_s: float | None  # claimed
    frames_claimed: int | None
    pixel_format: str

    @property
    def name(self) -> str:
        return self.path.replace("\\", "/").rsplit("/", 1)[-1]

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name, "path": self.path, "sha256": self.sha256,
            "size_bytes": self.size_bytes, "container": self.container, "codec": self.codec,
            "width": self.width, "height": self.height, "rotation": self.rotation,
            "fps": None if self.fps is None else round(self.fps, 3),
            "duration_s": None if self.duration_s is None else round(self.duration_s, 3),
            "frames_claimed": self.frames_claimed, "pixel_format": self.pixel_format,
        }


def timecode(seconds: float) -> str:
    """00:01:23.400"""
    ms = max(0, round(seconds * 1000))
    return f"{ms // 3_600_000:02d}:{ms // 60_000 % 60:02d}:{ms // 1000 % 60:02d}.{ms % 1000:03d}"


def parse_timecode(text: str) -> float:
    """'83.4', '1:23.4', '00:01:23.4' -> seconds; ValueError with the accepted forms."""
    parts = text.strip().split(":")
    try:
        if not 1 <= len(parts) <= 3 or any(p.strip() == "" for p in parts):
            raise ValueError
        seconds = 0.0
        for p in parts:
            seconds = seconds * 60 + float(p)
    except ValueError:
        raise ValueError(f"time {text!r} must be seconds (83.4) or [hh:]mm:ss[.s] "
                         "(00:01:23.4)") from None
    if seconds < 0 or not math.isfinite(seconds):
        raise ValueError(f"time {text!r} must not be negative")
    return seconds



# --- reading -------------------------------------------------------------------------------


@dataclass
class ReadReport:
    """What reading found, for the one-line outcome."""

    frames_decoded: int = 0
    last_time_s: float = 0.0
    damaged_packets: int = 0
    corrupt_frames: int = 0
    interlaced_frames: int = 0
    timestamp_repairs: int = 0
    min_interval_s: float | None = None
    max_interval_s: float | None = None
    #: why reading stopped before the end of the stream ("" = it reached the end)
    stopped: str = ""
    #: the file ended before the length it claims
    ended_early: bool = False
    #: reading stopped on purpose at this frame (one frame was wanted), "" = not
    until: str = ""

    @property
    def variable_rate(self) -> bool:
        lo, hi = self.min_interval_s, self.max_interval_s
        return lo is not None and hi is not None and hi > 1.2 * lo + 0.002

    def problems(self, info: ClipInfo) -> list[str]:
        out = []
        if self.damaged_packets:
            out.append(f"{self.damaged_packets} damaged packet"
                       f"{'s' if self.damaged_packets != 1 else ''} skipped")
        if self.corrupt_frames:
            out.append(f"{self.corrupt_frames} frame{'s' if self.corrupt_frames != 1 else ''}"
                       " decoded with errors")
        if self.ended_early and info.duration_s:
            out.append(f"the file ends at {timecode(self.last_time_s)} of the "
                       f"{timecode(info.duration_s)} it claims (truncated?)")
        if self.timestamp_repairs:
            out.append(f"{self.timestamp_repairs} missing or backward timestamps repaired")
        return out

    def notes(self, info: ClipInfo) -> list[str]:
        out = []
        if self.variable_rate and self.min_interval_s and self.max_interval_s:
            out.append(f"variable frame rate ({self.min_interval_s * 1000:.0f}-"
                       f"{self.max_interval_s * 1000:.0f} ms between frames; times are "
                       "each frame's own timestamp)")
        if self.interlaced_frames:
            out.append(f"interlaced ({self.interlaced_frames} frames: one field of each, "
                       "lines doubled)")
        if info.rotation:
            out.append(f"rotated {info.rotation}° for display, as the clip says")
        return out

    def outcome(self, info: ClipInfo) -> str:
        """One line: what was read and what was wrong."""
        head = (f"{info.name}: {info.width}x{info.height} {info.codec} in "
                f"{info.container.split(',')[0]}; read {self.frames_decoded} frames "
                f"({timecode(self.last_time_s)})")
        problems = self.problems(info)
        if self.stopped:
            problems.insert(0, f"stopped early: {self.stopped}")
        tail = "; ".join(problems + self.notes(info))
        verdict = "damaged, read as far as possible" if problems else (
            f"read up to {self.until}, no damage met" if self.until else "read whole")
        return f"{head}: {verdict}" + (f"; {tail}" if tail else "")

    def as_dict(self, info: ClipInfo) -> dict[str, Any]:
        return {"frames_decoded": self.frames_decoded,
                "last_time_s": round(self.last_time_s, 3),
                "damaged_packets": self.damaged_packets,
                "corrupt_frames": self.corrupt_frames,
                "interlaced_frames": self.interlaced_frames,
                "variable_frame_rate": self.variable_rate,
                "stopped": self.stopped, "ended_early": self.ended_early,
                "problems": self.problems(info), "notes": self.notes(info),
                "outcome": self.outcome(info)}


@dataclass
class RawFrame:
    """A decoded frame: its number (counted from 0 in presentation order as decoded), its
    time in seconds from the clip's start, and FFmpeg's frame (converted on demand)."""

    index: int
    time_s: float
    frame: Any  # av.VideoFrame


def _av() -> Any:
    try:
        import av
    except ImportError as exc:  # pragma: no cover - a broken installation
        raise UnsupportedClip(f"video support is not installed ({exc}); run "
                              "scripts/setup.sh (package av)") from None
    return av


class _Restart(Exception):
    """Frame-threaded decoding met damage: read again with one thread."""


class ClipReader:
    """An open clip. Use as a context manager; `frames()` decodes it once."""

    def __init__(self, path: Path, limits: ClipLimits | None = None, threads: int = 2,
                 sha256: str | None = None) -> None:
        self.limits = limits or ClipLimits()
        self.path = path
        self.report = ReadReport()
        self._threads = threads
        label = str(path)
        try:
            st = os.stat(path)
        except FileNotFoundError:
            raise UnreadableClip(f"{label}: file not found") from None
        except OSError as exc:
            raise UnreadableClip(f"{label}: cannot be read ({exc.strerror or exc})") from None
        if stat.S_ISDIR(st.st_mode):
            raise UnreadableClip(f"{label}: is a folder, not a video file")
        if not stat.S_ISREG(st.st_mode):
            raise UnreadableClip(f"{label}: not a regular file (a pipe or a device); only "
                                 "video files can be read")
        if st.st_size == 0:
            raise UnreadableClip(f"{label}: file is empty (0 bytes)")
        if st.st_size > self.limits.max_file_bytes:
            raise ClipTooLarge(f"{label}: file is {st.st_size / 2**30:.1f} GB; the limit is "
                               f"{self.limits.max_file_bytes / 2**30:.0f} GB")
        av = _av()
        try:
            digest = sha256 or sha256_file(path)
        except OSError as exc:
            raise UnreadableClip(f"{label}: cannot be read ({exc.strerror or exc})") from None
        try:
            self._open_container()
        except av.error.FFmpegError as exc:
            raise self._unopenable(label, exc) from None
        except (OSError, ValueError) as exc:
            raise UnreadableClip(f"{label}: not a video that can be read ({exc})") from None
        try:
            streams = list(self._container.streams.video)
            if not streams:
                kinds = sorted({f"{s.type} ({getattr(s.codec_context, 'name', '?')})"
                                for s in self._container.streams}) or ["none"]
                raise UnsupportedClip(f"{label}: holds no video, only {', '.join(kinds)}: "
                                      "nothing to look at")
            self._stream = streams[0]
            self._stream.thread_type = "AUTO"
            cc = self._stream.codec_context
            w, h = int(cc.width or 0), int(cc.height or 0)
            if w <= 0 or h <= 0:
                raise UnreadableClip(f"{label}: the video stream has no frame size (its "
                                     "header is damaged)")
            if w * h > self.limits.max_frame_pixels:
                raise ClipTooLarge(
                    f"{label}: frames of {w} x {h} pixels are larger than the "
                    f"{self.limits.max_frame_pixels / 1e6:.0f}-megapixel limit (8K is 33); "
                    "export the clip at a lower resolution")
            rate = self._stream.average_rate or self._stream.guessed_rate
            fps = float(rate) if rate and float(rate) > 0 else None
            duration = None
            if self._stream.duration and self._stream.time_base:
                duration = float(self._stream.duration * self._stream.time_base)
            elif self._container.duration:
                duration = self._container.duration / 1_000_000
            codec = str(cc.name)
            pix = str(cc.format.name) if cc.format is not None else "?"
            claimed = int(self._stream.frames) or None
            container = str(self._container.format.name)
            self._rotation = self._probe_rotation()
            dw, dh = (h, w) if self._rotation in (90, 270) else (w, h)
            self.info = ClipInfo(
                path=str(path), sha256=digest, size_bytes=st.st_size, container=container,
                codec=codec, width=dw, height=dh, rotation=self._rotation, fps=fps,
                duration_s=duration, frames_claimed=claimed, pixel_format=pix)
        except BaseException:
            self._container.close()
            raise

    @staticmethod
    def _unopenable(label: str, exc: Exception) -> UnreadableClip:
        path = Path(label)
        try:
            with path.open("rb") as fh:
                head = fh.read(64)
        except OSError:
            head = b""
        if head[4:8] == b"ftyp" and b"moov" not in _mp4_boxes(path):
            return UnreadableClip(
                f"{label}: damaged MP4/MOV: its index (the 'moov' box) is missing, as when a "
                "recording is cut off before it is finished or a copy is incomplete; export "
                "the clip again (a repair tool with a good clip from the same recorder may "
                "rebuild it)")
        if any(head.startswith(s) for s in _PHOTO_SIGNATURES):
            return UnreadableClip(f"{label}: a still image, not a video: open it as a photo")
        reason = getattr(exc, "strerror", None) or str(exc)
        return UnreadableClip(f"{label}: not a video that can be read, or damaged at its "
                              f"start ({reason})")

    def _open_container(self) -> None:
        self._container = _av().open(str(self.path), metadata_errors="ignore")

    def _open(self) -> None:
        self._open_container()
        self._stream = self._container.streams.video[0]
        self._stream.thread_type = "AUTO" if self._threads > 1 else "SLICE"
        if self._threads > 0:
            self._stream.codec_context.thread_count = self._threads

    def _probe_rotation(self) -> int:
        """The display rotation of the first decodable frame (the display matrix FFmpeg
        reads from the container); 0 when it says none. The clip is opened again
        afterwards, so reading starts at its beginning."""
        rotation = 0
        try:
            for packet in self._container.demux(self._stream):
                frames = packet.decode()
                if frames:
                    rotation = round(float(getattr(frames[0], "rotation", 0) or 0)) % 360
                    break
        except Exception:  # a damaged start is reported by frames()
            rotation = 0
        self._container.close()
        self._open()
        return rotation if rotation in (0, 90, 180, 270) else 0

    def __enter__(self) -> ClipReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._container.close()

    # -- frames ---------------------------------------------------------------------------

    def _decoded(self, cancel: CancelToken | None, started: float,
                 threaded: bool) -> Iterator[Any]:
        """FFmpeg's frames in order. A damaged packet is skipped and counted; with frame
        threads on, FFmpeg loses the frames in flight at an error, so the first one raises
        `_Restart` instead (the caller reads again without them)."""
        av = _av()
        lim, rep = self.limits, self.report
        idle = 0
        demux = self._container.demux(self._stream)
        while True:
            if cancel is not None and cancel.cancelled:
                rep.stopped = "cancelled"
                return
            if lim.max_wall_s is not None and time.monotonic() - started > lim.max_wall_s:
                rep.stopped = f"the time limit of {lim.max_wall_s:.0f} s was reached"
                return
            try:
                packet = next(demux)
            except StopIteration:
                return
            except av.error.FFmpegError as exc:
                rep.stopped = (f"the file is damaged after {timecode(rep.last_time_s)} "
                               f"({getattr(exc, 'strerror', None) or exc})")
                return
            try:
                decoded = packet.decode()
            except av.error.FFmpegError:
                if threaded:
                    raise _Restart() from None
                rep.damaged_packets += 1
                decoded = []
            if not decoded:
                idle += 1 if packet.size else 0
                if idle > lim.max_packets_without_frame:
                    rep.stopped = (f"{lim.max_packets_without_frame} packets in a row gave "
                                   "no frame")
                    return
                continue
            idle = 0
            yield from decoded

    def frames(self, cancel: CancelToken | None = None) -> Iterator[RawFrame]:
        """Every decodable frame, in order, until the end of the stream or a limit (the
        reason is in `report.stopped`). Damaged packets are skipped and counted."""
        lim, rep = self.limits, self.report
        started = time.monotonic()
        step = 1.0 / self.info.fps if self.info.fps else 0.04
        prev: float | None = None
        start_time: float | None = None
        index = 0
        threaded = self._threads > 1
        skip = 0
        while True:
            try:
                for frame in self._decoded(cancel, started, threaded):
                    if skip:
                        skip -= 1
                        continue
                    t = frame.time
                    if t is None or not math.isfinite(t) or (prev is not None and t <= prev):
                        t = (prev + step) if prev is not None else 0.0
                        if frame.time is not None or prev is not None:
                            rep.timestamp_repairs += 1
                    if start_time is None:
                        start_time = t
                    t -= start_time
                    if prev is not None:
                        gap = t - prev
                        rep.min_interval_s = gap if rep.min_interval_s is None else min(
                            rep.min_interval_s, gap)
                        rep.max_interval_s = gap if rep.max_interval_s is None else max(
                            rep.max_interval_s, gap)
                    prev = t
                    if t > lim.max_video_s:
                        rep.stopped = (f"the limit of {timecode(lim.max_video_s)} of video "
                                       "was reached")
                        return
                    if getattr(frame, "is_corrupt", False):
                        rep.corrupt_frames += 1
                    if frame.interlaced_frame:
                        rep.interlaced_frames += 1
                    rep.frames_decoded = index + 1
                    rep.last_time_s = t
                    yield RawFrame(index, t, frame)
                    index += 1
                    if index >= lim.max_frames:
                        rep.stopped = f"the limit of {lim.max_frames} frames was reached"
                        return
                break
            except _Restart:
                # damage met with frame threads: read again from the start, one thread,
                # past the frames already given
                threaded = False
                skip = index
                self._container.close()
                self._threads = 1
                self._open()
        claimed = self.info.duration_s
        if claimed and rep.frames_decoded and rep.last_time_s + max(2 * step, 0.5) < claimed \
                and not rep.stopped:
            rep.ended_early = True
        if rep.frames_decoded == 0 and not rep.stopped:
            raise UnreadableClip(f"{self.info.path}: no frame could be decoded (the video "
                                 f"data is damaged or missing; {rep.damaged_packets} damaged "
                                 "packets)")

    def rgb(self, raw: RawFrame, max_side: int = 0) -> RGBArray:
        """The frame upright as RGB, at most `max_side` long (0: full size), scaled by
        FFmpeg; one field of an interlaced frame, its lines doubled."""
        frame = raw.frame
        w, h = int(frame.width), int(frame.height)
        if frame.interlaced_frame:
            arr = frame.to_ndarray(format="rgb24")[0::2]
            arr = np.repeat(arr, 2, axis=0)[:h]
            if max_side and max(w, h) > max_side:
                arr, _ = imaging.resize_to_max_side(np.ascontiguousarray(arr), max_side)
        elif max_side and max(w, h) > max_side:
            s = max_side / max(w, h)
            arr = frame.reformat(width=max(2, round(w * s)), height=max(2, round(h * s)),
                                 format="rgb24", interpolation="AREA").to_ndarray()
        else:
            arr = frame.to_ndarray(format="rgb24")
        return _rotate(arr, self.info.rotation)

    def thumbnail(self, raw: RawFrame) -> NDArray[np.float32]:
        """A 32 x 18 grey copy, for finding scene cuts."""
        small = raw.frame.reformat(width=32, height=18, format="gray",
                                   interpolation="AREA").to_ndarray()
        return np.asarray(small, dtype=np.float32)


def _rotate(arr: RGBArray, rotation: int) -> RGBArray:
    """Turn a stored frame upright: `rotation` degrees counter-clockwise (the display
    matrix's sense)."""
    if rotation == 0:
        return arr
    return np.ascontiguousarray(np.rot90(arr, k=rotation // 90))


def open_clip(path: Path, limits: ClipLimits | None = None, threads: int = 2) -> ClipReader:
    return ClipReader(path, limits, threads)


def read_frame(path: Path, *, frame: int | None = None, at_s: float | None = None,
               limits: ClipLimits | None = None,
               cancel: CancelToken | None = None) -> tuple[ClipInfo, RawFrameImage, str]:
    """One frame of a clip, by number (counted from 0) or by time (the first frame at or
    after it), upright, with the clip's info and the reading's one-line outcome. Frames
    are decoded from the start so that the number is the same one tracking gives."""
    if (frame is None) == (at_s is None):
        raise ValueError("give a frame number or a time, not both")
    with ClipReader(path, limits) as reader:
        info = reader.info
        for raw in reader.frames(cancel):
            if (frame is not None and raw.index == frame) or (
                    at_s is not None and raw.time_s + 1e-6 >= at_s):
                reader.report.until = f"frame {raw.index}"
                return info, RawFrameImage(raw.index, raw.time_s, reader.rgb(raw)), \
                    reader.report.outcome(info)
        if reader.report.stopped == "cancelled":
            raise FaceChoiceError(f"{info.name}: cancelled")
        last = reader.report
        want = f"frame {frame}" if frame is not None else f"time {timecode(at_s or 0.0)}"
        raise FaceChoiceError(
            f"{info.name}: there is no {want}: the clip has {last.frames_decoded} frames "
            f"(0-{max(0, last.frames_decoded - 1)}, to {timecode(last.last_time_s)})")


@dataclass
class RawFrameImage:
    index: int
    time_s: float
    rgb: RGBArray


def preview_frame(path: Path, at_s: float, max_side: int = 960) -> tuple[float, RGBArray]:
    """A quick look at the clip near `at_s` (a seek to the keyframe before it, then
    decoding up to it) for a scrubber: approximate, not for provenance (no frame
    number). Returns the frame's time and the picture."""
    av = _av()
    with ClipReader(path, ClipLimits(max_frames=2000, max_wall_s=10.0)) as reader:
        stream = reader._stream
        try:
            if at_s > 0 and stream.time_base:
                reader._container.seek(int(at_s / float(stream.time_base)), stream=stream,
                                       backward=True, any_frame=False)
        except av.error.FFmpegError:
            pass
        best: tuple[float, RGBArray] | None = None
        try:
            for packet in reader._container.demux(stream):
                try:
                    frames = packet.decode()
                except av.error.FFmpegError:
                    continue
                for f in frames:
                    t = float(f.time or 0.0) - float((stream.start_time or 0) *
                                                     (stream.time_base or 0))
                    raw = RawFrame(-1, t, f)
                    best = (t, reader.rgb(raw, max_side))
                    if t + 1e-6 >= at_s:
                        return best
        except av.error.FFmpegError:
            pass
        if best is None:
            raise UnreadableClip(f"{reader.info.name}: no frame near {timecode(at_s)}")
        return best


# --- quality ranking --------------------------------------------------------------------------


def frame_score(q: FaceQuality) -> float:
    """How good a face is for a search, 0..1, from the probe panel's figures: eyes far
    enough apart (resolution: 60 px and more is full marks), sharp (150 and more),
    frontal (0 at 45 degrees of turn), and neither dark nor over-exposed. Weights: size
    0.4, sharpness 0.3, pose 0.2, brightness 0.1."""
    size = min(1.0, q.eye_distance_px / 60.0)
    sharp = min(1.0, q.sharpness / 150.0)
    pose = max(0.0, 1.0 - abs(q.yaw_deg) / 45.0)
    bright = 1.0 if 50 <= q.brightness <= 215 else 0.4
    return 0.4 * size + 0.3 * sharp + 0.2 * pose + 0.1 * bright


# --- tracks -------------------------------------------------------------------------------------


@dataclass
class Adjustment:
    """A change made to a frame before it is searched: crop (box in the frame, t,r,b,l),
    rotate (degrees counter-clockwise), scale (factor), brightness (added, -255..255)
    and contrast (factor around mid-grey). Nothing else is ever applied."""

    op: str
    value: Any

    def as_dict(self) -> dict[str, Any]:
        return {"op": self.op, "value": self.value}


ADJUSTMENTS = ("crop", "rotate", "scale", "brightness", "contrast")


@dataclass
class TrackFrame:
    """One kept frame of a track: where the face is and how good it is, with a crop of the
    frame around it (`image`; `crop` is its box in the frame, `scale` its downscale)."""

    frame: int
    time_s: float
    box: Box  # in frame pixels
    landmarks: list[Point]  # in frame pixels
    encoding: Encoding
    quality: FaceQuality
    score: float
    image: RGBArray = field(repr=False)
    crop: Box
    scale: float = 1.0
    #: `estimated_score` of the face (what a face not described is compared with)
    estimate: float = 0.0

    def face_in_image(self) -> tuple[Box, list[Point]]:
        """The face's box and landmarks in `image`'s pixels."""
        s, c = self.scale, self.crop

        def pt(x: float, y: float) -> tuple[int, int]:
            return round((x - c.left) * s), round((y - c.top) * s)

        t, l_ = pt(self.box.left, self.box.top)[::-1]
        b, r = pt(self.box.right, self.box.bottom)[::-1]
        return Box(t, r, b, l_), [pt(x, y) for x, y in self.landmarks]

    def adjustments(self) -> list[Adjustment]:
        out = [Adjustment("crop", self.crop.as_list())]
        if self.scale != 1.0:
            out.append(Adjustment("scale", round(self.scale, 6)))
        return out

    def as_dict(self) -> dict[str, Any]:
        return {"frame": self.frame, "time_s": round(self.time_s, 3),
                "timecode": timecode(self.time_s), "box": self.box.as_list(),
                "quality": self.quality.as_dict(), "score": round(self.score, 4),
                "crop": self.crop.as_list(), "scale": round(self.scale, 6)}


@dataclass
class Track:
    id: int
    first_frame: int
    first_time_s: float
    last_frame: int
    last_time_s: float
    last_box: Box
    last_encoding: Encoding
    detections: int = 1
    #: the time of the track's last described (encoded) face
    last_encoded_s: float = 0.0
    best: list[TrackFrame] = field(default_factory=list)
    #: frame -> box of every detection (the truth comparison and the scrubber use it)
    boxes: dict[int, Box] = field(default_factory=dict)
    _unit_sum: NDArray[np.float64] = field(default_factory=lambda: np.zeros(128))

    def mean_unit(self) -> NDArray[np.float64]:
        n = float(np.linalg.norm(self._unit_sum))
        return self._unit_sum / n if n > 0 else self._unit_sum

    def fused(self, n: int | None = None) -> Encoding:
        """The track's fused template from its best `n` frames (all kept: None)."""
        return fused_encoding([f.encoding for f in self.best[:n]])

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.id, "first_frame": self.first_frame,
                "first_time_s": round(self.first_time_s, 3),
                "first_timecode": timecode(self.first_time_s),
                "last_frame": self.last_frame, "last_time_s": round(self.last_time_s, 3),
                "last_timecode": timecode(self.last_time_s), "detections": self.detections,
                "best": [f.as_dict() for f in self.best]}


def fused_encoding(encodings: Sequence[Encoding]) -> Encoding:
    """The mean of the L2-normalised encodings, scaled back to their mean length (dlib's
    distances are absolute, so the template keeps the encodings' scale)."""
    if not encodings:
        raise ValueError("no encodings to fuse")
    m = np.asarray(encodings, dtype=np.float64)
    norms = np.linalg.norm(m, axis=1)
    norms[norms == 0] = 1.0
    mean = (m / norms[:, None]).mean(axis=0)
    length = float(np.linalg.norm(mean))
    if length == 0:
        return np.asarray(m[0], dtype=np.float32)
    return np.asarray(mean / length * float(norms.mean()), dtype=np.float32)


def iou(a: Box, b: Box) -> float:
    t, bt = max(a.top, b.top), min(a.bottom, b.bottom)
    lf, r = max(a.left, b.left), min(a.right, b.right)
    inter = max(0, bt - t) * max(0, r - lf)
    union = a.area + b.area - inter
    return inter / union if union > 0 else 0.0


@dataclass
class StageTimes:
    decode: float = 0.0
    convert: float = 0.0
    detect: float = 0.0
    describe: float = 0.0
    quality: float = 0.0
    track: float = 0.0

    def as_dict(self) -> dict[str, float]:
        return {k: round(v, 3) for k, v in self.__dict__.items()}


@dataclass
class ClipTracks:
    """The result of reading a clip: its info, the reading report, the tracks (each with
    its best frames), the frames analysed and the scene cuts found."""

    info: ClipInfo
    report: ReadReport
    tracks: list[Track]
    frames_analysed: int
    cuts: list[int]
    options: TrackOptions
    times: StageTimes
    elapsed_s: float
    tracks_dropped: int = 0

    def track(self, track_id: int) -> Track:
        for t in self.tracks:
            if t.id == track_id:
                return t
        ids = ", ".join(str(t.id) for t in self.tracks) or "none"
        raise FaceChoiceError(f"{self.info.name}: there is no track {track_id} (tracks: "
                              f"{ids})")

    def outcome(self) -> str:
        n = len(self.tracks)
        return (f"{self.report.outcome(self.info)}; {n} face track{'s' if n != 1 else ''} "
                f"in {self.frames_analysed} frames analysed")

    def as_dict(self) -> dict[str, Any]:
        return {"clip": self.info.as_dict(), "read": self.report.as_dict(self.info),
                "outcome": self.outcome(), "frames_analysed": self.frames_analysed,
                "analysis_fps": self.options.analysis_fps, "cuts": self.cuts,
                "tracks": [t.as_dict() for t in self.tracks],
                "tracks_dropped": self.tracks_dropped,
                "elapsed_s": round(self.elapsed_s, 3), "stage_s": self.times.as_dict()}


@dataclass
class ClipProgress:
    phase: str  # "reading", "finished", "cancelled"
    frames_read: int
    frames_analysed: int
    time_s: float  # of video read so far
    duration_s: float | None  # claimed
    tracks: int
    elapsed_s: float
    result: ClipTracks | None = None

    @property
    def fraction(self) -> float | None:
        if not self.duration_s:
            return None
        return max(0.0, min(1.0, self.time_s / self.duration_s))


def _crop_of(rgb: RGBArray, box: Box) -> tuple[RGBArray, Box, float]:
    h, w = rgb.shape[:2]
    mx, my = round(box.width * CROP_MARGIN), round(box.height * CROP_MARGIN)
    crop = Box(box.top - my, box.right + mx, box.bottom + my, box.left - mx).clipped(w, h)
    region = np.ascontiguousarray(rgb[crop.top:crop.bottom, crop.left:crop.right])
    small, scale = imaging.resize_to_max_side(region, CROP_MAX_SIDE)
    return np.ascontiguousarray(small), crop, scale


class Tracker:
    """Joins the faces of successive analysed frames into tracks (see the module doc)."""

    def __init__(self, options: TrackOptions) -> None:
        self.options = options
        self.active: list[Track] = []
        self.finished: list[Track] = []
        self._next_id = 1
        self.dropped = 0

    def cut(self) -> None:
        self._close(self.active)
        self.active = []

    def _close(self, tracks: list[Track]) -> None:
        opt = self.options
        for t in tracks:
            if t.detections >= opt.min_detections:
                self.finished.append(t)
        if len(self.finished) > opt.max_tracks:
            self.finished.sort(key=lambda t: (-t.detections, t.id))
            self.dropped += len(self.finished) - opt.max_tracks
            del self.finished[opt.max_tracks:]
            self.finished.sort(key=lambda t: t.id)

    def plan(self, time_s: float, boxes: Sequence[Box],
             best_possible: Callable[[Box], float]) -> dict[int, Track]:
        """The boxes (by position) that plainly continue a track and need no new
        encoding (see TrackOptions.follow_iou); `best_possible(box)` is the face's
        `estimated_score`."""
        opt = self.options
        live = [t for t in self.active if time_s - t.last_time_s <= opt.max_gap_s]
        follow: dict[int, Track] = {}
        for i, b in enumerate(boxes):
            near = [t for t in live if iou(b, t.last_box) >= opt.follow_iou]
            if len(near) != 1 or near[0] in follow.values():
                continue
            t = near[0]
            if sum(1 for other in boxes if iou(other, t.last_box) >= opt.min_iou) != 1:
                continue
            if time_s - t.last_encoded_s > opt.reencode_s:
                continue
            if len(t.best) < opt.best_per_track or \
                    best_possible(b) > min(f.estimate for f in t.best):
                continue
            follow[i] = t
        return follow

    def follow(self, track: Track, index: int, time_s: float, box: Box) -> None:
        track.detections += 1
        track.last_frame, track.last_time_s, track.last_box = index, time_s, box
        track.boxes[index] = box

    def update(self, index: int, time_s: float, rgb: RGBArray | None,
               faces: Sequence[tuple[Box, list[Point], Encoding, FaceQuality]]) -> None:
        """Join the described faces of frame `index` to tracks (tracks already followed
        in this frame excepted), or start new ones; keep each track's best frames."""
        opt = self.options
        stale = [t for t in self.active if time_s - t.last_time_s > opt.max_gap_s]
        if stale:
            self._close(stale)
            self.active = [t for t in self.active if t not in stale]
        pairs: list[tuple[float, int, int]] = []
        for fi, (box, _, enc, _) in enumerate(faces):
            for ti, t in enumerate(self.active):
                if t.last_frame == index and t.detections:
                    continue  # followed in this frame
                overlap = iou(box, t.last_box)
                (cx, cy), (tx, ty) = box.center, t.last_box.center
                shift = math.hypot(cx - tx, cy - ty) / max(1, t.last_box.width)
                if overlap < opt.min_iou and shift > opt.max_centre_shift:
                    continue
                e64 = enc.astype(np.float64)
                unit = e64 / max(float(np.linalg.norm(e64)), 1e-9)
                dist = min(float(np.linalg.norm(e64 - t.last_encoding)),
                           float(np.linalg.norm(unit - t.mean_unit())))
                if dist > opt.max_join_distance:
                    continue
                pairs.append((dist - 0.2 * overlap, fi, ti))
        pairs.sort()
        taken_f: set[int] = set()
        taken_t: set[int] = set()
        owner: dict[int, Track] = {}
        for _, fi, ti in pairs:
            if fi in taken_f or ti in taken_t:
                continue
            taken_f.add(fi)
            taken_t.add(ti)
            owner[fi] = self.active[ti]
        for fi, (box, landmarks, enc, q) in enumerate(faces):
            found = owner.get(fi)
            if found is not None:
                t = found
            else:
                t = Track(self._next_id, index, time_s, index, time_s, box, enc, detections=0)
                self._next_id += 1
                self.active.append(t)
            t.detections += 1
            t.last_frame, t.last_time_s, t.last_box, t.last_encoding = index, time_s, box, enc
            t.last_encoded_s = time_s
            t.boxes[index] = box
            e64 = enc.astype(np.float64)
            t._unit_sum = t._unit_sum + e64 / max(float(np.linalg.norm(e64)), 1e-9)
            score = frame_score(q)
            if rgb is not None and (len(t.best) < opt.best_per_track
                                    or score > t.best[-1].score):
                image, crop, scale = _crop_of(rgb, box)
                t.best.append(TrackFrame(index, time_s, box, list(landmarks), enc, q, score,
                                         image, crop, scale, estimated_score(rgb, box)))
                t.best.sort(key=lambda f: (-f.score, f.frame))
                del t.best[opt.best_per_track:]

    def finish(self) -> list[Track]:
        self.cut()
        return sorted(self.finished, key=lambda t: t.id)


def detect_boxes(engine: FaceEngine, small: RGBArray, full_size: tuple[int, int],
                 options: TrackOptions, times: StageTimes,
                 regions: Sequence[Box] | None = None) -> list[Box]:
    """Faces found on `small` (only within `regions`, boxes of the full frame, when
    given), in the full frame's pixels."""
    w, h = full_size
    scale = small.shape[1] / w
    t0 = time.perf_counter()
    if regions is None:
        found = engine.detect(small, options.upsample)
    else:
        found = []
        sh, sw = small.shape[:2]
        for r in regions:
            m_x, m_y = r.width * options.region_margin, r.height * options.region_margin
            top, left = max(0, round((r.top - m_y) * scale)), max(0, round((r.left - m_x) * scale))
            bottom = min(sh, round((r.bottom + m_y) * scale))
            right = min(sw, round((r.right + m_x) * scale))
            if bottom - top < 8 or right - left < 8:
                continue
            crop = np.ascontiguousarray(small[top:bottom, left:right])
            ch, cw = crop.shape[:2]
            for b in engine.detect(crop, options.upsample):
                # a face cut by the region's edge (not the frame's) is left to the next
                # look at the whole frame
                if (b.top <= 0 < top) or (b.left <= 0 < left) or \
                        (b.bottom >= ch and bottom < sh) or (b.right >= cw and right < sw):
                    continue
                box = Box(b.top + top, b.right + left, b.bottom + top, b.left + left)
                if all(iou(box, o) < 0.5 for o in found):
                    found.append(box)
    times.detect += time.perf_counter() - t0
    boxes = [b.scaled(scale).clipped(w, h) if scale != 1.0 else b for b in found]
    return [b for b in boxes if b.width > 0 and b.height > 0]


def describe_boxes(engine: FaceEngine, full: RGBArray, boxes: Sequence[Box],
                   times: StageTimes) -> list[tuple[Box, list[Point], Encoding, FaceQuality]]:
    """Landmarks, encoding and quality figures of each box (the full frame)."""
    if not boxes:
        return []
    t0 = time.perf_counter()
    raws = engine.describe(full, boxes)
    times.describe += time.perf_counter() - t0
    t0 = time.perf_counter()
    image = LoadedImage(rgb=full, format="video", mode="RGB", exif_transposed=False)
    faces = [(r.box, r.landmarks, r.encoding, analysis.quality_of(image, r)) for r in raws]
    times.quality += time.perf_counter() - t0
    return faces


def estimated_score(full: RGBArray, box: Box) -> float:
    """`frame_score` estimated without landmarks: the eyes taken as 0.4 of the box apart
    (as in dlib's boxes) and the head frontal. A face that continues a track is described
    again only if this beats the estimate of one of the track's kept frames."""
    face = imaging.crop(full, box.top, box.right, box.bottom, box.left)
    return frame_score(FaceQuality(
        size_px=min(box.width, box.height), eye_distance_px=0.4 * box.width,
        sharpness=imaging.sharpness(face), brightness=imaging.brightness(face), yaw_deg=0.0))


def track_clip(engine: FaceEngine, path: Path, options: TrackOptions | None = None,
               limits: ClipLimits | None = None, cancel: CancelToken | None = None,
               threads: int = 2) -> Iterator[ClipProgress]:
    """Read a clip and follow its faces; yields progress about twice a second and, last,
    an event whose `result` holds the tracks (also when cancelled: what was read)."""
    opt = options or TrackOptions()
    started = time.monotonic()
    times = StageTimes()
    with ClipReader(path, limits, threads) as reader:
        info = reader.info
        tracker = Tracker(opt)
        analysed = 0
        cuts: list[int] = []
        due = 0.0
        prev_thumb: NDArray[np.float32] | None = None
        last_emit = started
        frames = reader.frames(cancel)
        t_dec = time.perf_counter()
        for raw in frames:
            times.decode += time.perf_counter() - t_dec
            if raw.time_s + 0.002 >= due:
                # on a grid of 1/analysis_fps (timestamps rounded to the millisecond still
                # land on it), never more than half a step behind the frame analysed
                step_s = 1.0 / opt.analysis_fps
                due = max(due + step_s, raw.time_s + step_s / 2)
                analysed += 1
                t0 = time.perf_counter()
                thumb = reader.thumbnail(raw)
                small = reader.rgb(raw, opt.detect_side)
                times.convert += time.perf_counter() - t0
                t0 = time.perf_counter()
                if prev_thumb is not None and \
                        float(np.abs(thumb - prev_thumb).mean()) > opt.cut_threshold:
                    tracker.cut()
                    cuts.append(raw.index)
                prev_thumb = thumb
                times.track += time.perf_counter() - t0
                live = [t.last_box for t in tracker.active
                        if raw.time_s - t.last_time_s <= opt.max_gap_s]
                whole = not live or analysed % opt.full_detect_every == 1 or \
                    opt.full_detect_every <= 1 or (cuts and cuts[-1] == raw.index)
                boxes = detect_boxes(engine, small, (info.width, info.height), opt, times,
                                     None if whole else live)
                full: RGBArray | None = None
                faces: list[tuple[Box, list[Point], Encoding, FaceQuality]] = []
                if boxes:
                    t0 = time.perf_counter()
                    full = reader.rgb(raw)
                    times.convert += time.perf_counter() - t0
                    t0 = time.perf_counter()
                    follow = tracker.plan(raw.time_s, boxes,
                                          functools.partial(estimated_score, full))
                    for i, t in follow.items():
                        tracker.follow(t, raw.index, raw.time_s, boxes[i])
                    times.track += time.perf_counter() - t0
                    faces = describe_boxes(engine, full, [b for i, b in enumerate(boxes)
                                                          if i not in follow], times)
                t0 = time.perf_counter()
                tracker.update(raw.index, raw.time_s, full, faces)
                times.track += time.perf_counter() - t0
            now = time.monotonic()
            if now - last_emit >= 0.5 or raw.index == 0:
                last_emit = now
                yield ClipProgress("reading", raw.index + 1, analysed, raw.time_s,
                                   info.duration_s,
                                   len(tracker.finished) + len(tracker.active),
                                   now - started)
            t_dec = time.perf_counter()
        tracks = tracker.finish()
        result = ClipTracks(info, reader.report, tracks, analysed, cuts, opt, times,
                            time.monotonic() - started, tracker.dropped)
        phase = "cancelled" if reader.report.stopped == "cancelled" else "finished"
        yield ClipProgress(phase, reader.report.frames_decoded, analysed,
                           reader.report.last_time_s, info.duration_s, len(tracks),
                           result.elapsed_s, result)


def run_tracks(engine: FaceEngine, path: Path, options: TrackOptions | None = None,
               limits: ClipLimits | None = None, cancel: CancelToken | None = None,
               on_progress: Callable[[ClipProgress], None] | None = None) -> ClipTracks:
    """`track_clip` to its end: the result."""
    last: ClipProgress | None = None
    for ev in track_clip(engine, path, options, limits, cancel):
        last = ev
        if on_progress is not None:
            on_progress(ev)
    assert last is not None and last.result is not None
    return last.result


# --- from a track or a frame to a probe ------------------------------------------------------


def png_bytes(rgb: RGBArray) -> bytes:
    out = io.BytesIO()
    Image.fromarray(rgb).save(out, format="PNG", optimize=False, compress_level=6)
    return out.getvalue()


def adjust(rgb: RGBArray, *, rotate: int = 0, brightness: float = 0.0,
           contrast: float = 1.0) -> tuple[RGBArray, list[Adjustment]]:
    """Turn by `rotate` degrees counter-clockwise (a multiple of 90), then
    out = (in - 128) x contrast + 128 + brightness, clipped: the only changes made to a
    frame beyond cropping. Returns the picture and what was done."""
    done: list[Adjustment] = []
    if rotate % 90:
        raise ValueError("rotate must be a multiple of 90 degrees")
    if not -255 <= brightness <= 255:
        raise ValueError("brightness must be between -255 and 255")
    if not 0.1 <= contrast <= 10:
        raise ValueError("contrast must be between 0.1 and 10")
    out = rgb
    if rotate % 360:
        out = _rotate(out, rotate % 360)
        done.append(Adjustment("rotate", rotate % 360))
    if brightness or contrast != 1.0:
        f = (out.astype(np.float32) - 128.0) * contrast + 128.0 + brightness
        out = np.clip(np.rint(f), 0, 255).astype(np.uint8)
        if contrast != 1.0:
            done.append(Adjustment("contrast", contrast))
        if brightness:
            done.append(Adjustment("brightness", brightness))
    return np.ascontiguousarray(out), done


@dataclass
class ClipProbe:
    """A probe made from a clip: the picture searched (PNG bytes, exactly what was
    analysed), its face, the encoding to search (one frame's, or the track's fused
    template) and the provenance stored with the search."""

    image: LoadedImage
    png: bytes
    sha256: str
    face: Face
    encoding: Encoding
    provenance: dict[str, Any]
    frame_pngs: list[bytes]


def _frame_record(frame: int, time_s: float, png: bytes, box: Box,
                  adjustments: Sequence[Adjustment], quality: FaceQuality | None
                  ) -> dict[str, Any]:
    return {"frame": frame, "time_s": round(time_s, 3), "timecode": timecode(time_s),
            "png_sha256": imaging.sha256_bytes(png), "box": box.as_list(),
            "adjustments": [a.as_dict() for a in adjustments],
            "quality": None if quality is None else quality.as_dict()}


def clip_provenance(info: ClipInfo, outcome: str, frames: list[dict[str, Any]], *,
                    track: int | None, fused: bool) -> dict[str, Any]:
    return {"kind": "clip",
            "clip": {k: v for k, v in info.as_dict().items() if k != "path"},
            "read": outcome, "track": track, "fused": fused,
            "fused_frames": len(frames) if fused else 1, "frames": frames}


def describe_provenance(prov: dict[str, Any]) -> str:
    """One line: which clip, which frames, fused or not."""
    clip = prov["clip"]
    frames = prov["frames"]
    what = (f"the fused template of {len(frames)} frames of track {prov['track']}"
            if prov["fused"] else
            f"frame {frames[0]['frame']} at {frames[0]['timecode']}"
            + (f" (track {prov['track']})" if prov.get("track") is not None else ""))
    return (f"probe from clip {clip['name']} (SHA-256 {clip['sha256'][:16]}…, "
            f"{clip['container'].split(',')[0]}/{clip['codec']}): {what}")


def _describe_on(engine: FaceEngine, rgb: RGBArray, box: Box | None,
                 detector: str) -> Face:
    """The face in `rgb`: in `box` when given (the tracked face), else the largest
    detected."""
    image = LoadedImage(rgb=rgb, format="PNG", mode="RGB", exif_transposed=False)
    if box is None:
        faces = analysis.all_faces(engine, image, analysis.DetectOptions(upsample=1,
                                                                         max_side=2048))
        if not faces:
            raise FaceChoiceError("no face found in that frame: choose another frame or "
                                  "a track")
        return max(faces, key=lambda f: f.box.area)
    face = analysis.describe(engine, image, [box.clipped(image.width, image.height)],
                             detector=detector)[0]
    face.index = 0
    return face


def track_probe(engine: FaceEngine, result: ClipTracks, track_id: int, *,
                frame: int | None = None, fuse: bool = False, rotate: int = 0,
                brightness: float = 0.0, contrast: float = 1.0) -> ClipProbe:
    """A probe from a track: its best kept frame (or the kept frame `frame`), or, with
    `fuse`, the fused template of its kept frames (the best frame is the picture
    shown and stored; every frame fused is stored with its PNG)."""
    t = result.track(track_id)
    if not t.best:
        raise FaceChoiceError(f"track {track_id} has no kept frame")
    chosen = t.best[0]
    if frame is not None:
        found = [f for f in t.best if f.frame == frame]
        if not found:
            kept = ", ".join(str(f.frame) for f in t.best)
            raise FaceChoiceError(f"frame {frame} is not one of track {track_id}'s kept "
                                  f"frames ({kept}); search it with --frame alone")
        chosen = found[0]
    used = list(t.best) if fuse else [chosen]
    records: list[dict[str, Any]] = []
    pngs: list[bytes] = []
    faces: list[Face] = []
    for tf in used:
        box, _ = tf.face_in_image()
        img, extra = adjust(tf.image, rotate=rotate, brightness=brightness, contrast=contrast)
        if rotate % 360:
            box = _rotate_box(box, tf.image.shape[1], tf.image.shape[0], rotate % 360)
        face = _describe_on(engine, img, box, "track")
        png = png_bytes(img)
        pngs.append(png)
        faces.append(face)
        records.append(_frame_record(tf.frame, tf.time_s, png, box,
                                     [*_rotation_record(result.info), *tf.adjustments(),
                                      *extra], face.quality))
    encoding = fused_encoding([f.encoding for f in faces]) if fuse else faces[0].encoding
    # the face shown and searched: the first frame's, carrying the encoding searched
    first = dataclasses.replace(faces[0], encoding=encoding)
    image = LoadedImage(rgb=np.asarray(Image.open(io.BytesIO(pngs[0])).convert("RGB")),
                        format="PNG", mode="RGB", exif_transposed=False)
    prov = clip_provenance(result.info, result.outcome(), records, track=track_id, fused=fuse)
    return ClipProbe(image, pngs[0], imaging.sha256_bytes(pngs[0]), first, encoding, prov, pngs)


def frame_probe(engine: FaceEngine, path: Path, *, frame: int | None = None,
                at_s: float | None = None, rotate: int = 0, brightness: float = 0.0,
                contrast: float = 1.0, cancel: CancelToken | None = None) -> ClipProbe:
    """A probe from one frame of a clip (by number or time): the whole frame, upright,
    its largest face."""
    info, fr, outcome = read_frame(path, frame=frame, at_s=at_s, cancel=cancel)
    img, extra = adjust(fr.rgb, rotate=rotate, brightness=brightness, contrast=contrast)
    face = _describe_on(engine, img, None, "")
    png = png_bytes(img)
    record = _frame_record(fr.index, fr.time_s, png, face.box,
                           [*_rotation_record(info), *extra], face.quality)
    prov = clip_provenance(info, outcome, [record], track=None, fused=False)
    image = LoadedImage(rgb=img, format="PNG", mode="RGB", exif_transposed=False)
    return ClipProbe(image, png, imaging.sha256_bytes(png), face, face.encoding, prov, [png])


def _rotation_record(info: ClipInfo) -> list[Adjustment]:
    return [Adjustment("rotate", info.rotation)] if info.rotation else []


def _rotate_box(box: Box, w: int, h: int, rotation: int) -> Box:
    """`box` in a w x h picture after turning it `rotation` degrees counter-clockwise."""
    pts = [(box.left, box.top), (box.right, box.bottom)]
    for _ in range(rotation // 90):
        pts = [(y, w - x) for x, y in pts]
        w, h = h, w
    xs, ys = [p[0] for p in pts], [p[1] for p in pts]
    return Box(min(ys), max(xs), max(ys), min(xs))
