"""Generated CCTV-like clips with known truth, for the clip tests and benchmarks.

There is no CCTV footage here, so clips are built with PyAV from still photos (LFW,
Congress portraits): each person is a photo pasted on a synthetic background, moving and
scaling along a straight path while it is on screen, optionally motion-blurred; a clip
can hold two or three people, a person entering and leaving, and cuts (the background
changes and everyone moves). `render` returns the truth: for every frame, who is where.

`damaged_variants` turns a good clip into the broken files a store's recorder or a bad
copy produces: truncated, bytes flipped, the MP4 index (moov) missing, zero length,
audio only, frames larger than the limit, a clip that claims ten hours.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from facedesk.domain.faces import Box

#: the share of an LFW (deep-funneled, 250 x 250) photo's side the face box takes, around
#: its centre: dlib's box on those photos is about 0.43 of the side
FACE_SHARE = 0.44


@dataclass(frozen=True)
class Appearance:
    """A person on screen from `start` to `end` seconds, moving from (x0, y0) to (x1, y1)
    (centre, as shares of the frame) while the pasted photo grows from `size0` to `size1`
    pixels; `blur` pixels of horizontal motion blur."""

    person: str
    photo: Path
    start: float
    end: float
    x0: float = 0.3
    y0: float = 0.5
    x1: float = 0.7
    y1: float = 0.5
    size0: int = 200
    size1: int = 200
    blur: int = 0

    def at(self, t: float) -> tuple[float, float, int]:
        span = max(self.end - self.start, 1e-9)
        a = min(1.0, max(0.0, (t - self.start) / span))
        return (self.x0 + a * (self.x1 - self.x0), self.y0 + a * (self.y1 - self.y0),
                round(self.size0 + a * (self.size1 - self.size0)))


@dataclass(frozen=True)
class ClipSpec:
    appearances: tuple[Appearance, ...]
    width: int = 480
    height: int = 270
    fps: int = 15
    duration: float = 3.0
    #: times (s) where the picture cuts to another background
    cuts: tuple[float, ...] = ()
    codec: str = "libx264"
    container: str = "mp4"
    crf: int = 23
    #: display rotation (degrees counter-clockwise) written in the clip; the stored frames
    #: are turned the other way, so the clip shows upright
    rotation: int = 0
    interlaced: bool = False
    #: variable frame rate: every third frame is shown twice as long
    vfr: bool = False
    seed: int = 0
    #: MP4/MOV: the index (moov) first, as exports do; False: at the end, as a recorder
    #: writes it while recording (a recording cut off then has none)
    faststart: bool = True


@dataclass
class Truth:
    """Per frame (index = frame number): its time and who is where (appearance number,
    person, face box in displayed pixels); the frame numbers where shots start."""

    times: list[float] = field(default_factory=list)
    faces: list[list[tuple[int, str, Box]]] = field(default_factory=list)
    shots: list[int] = field(default_factory=list)

    def segments(self) -> dict[tuple[int, int], tuple[str, list[int]]]:
        """(appearance, shot) -> (person, its frames): each is one expected track."""
        out: dict[tuple[int, int], tuple[str, list[int]]] = {}
        for i, faces in enumerate(self.faces):
            shot = max(k for k, s in enumerate(self.shots) if s <= i)
            for app, person, _ in faces:
                out.setdefault((app, shot), (person, []))[1].append(i)
        return out

    def who(self, frame: int, box: Box) -> tuple[int, int, str] | None:
        """(appearance, shot, person) whose face box holds `box`'s centre in `frame`."""
        cx, cy = box.center
        shot = max(k for k, s in enumerate(self.shots) if s <= frame)
        for app, person, b in self.faces[frame]:
            if b.left <= cx <= b.right and b.top <= cy <= b.bottom:
                return app, shot, person
        return None


    def errors(self, result: Any) -> tuple[int, int, int]:
        """(splits, merges, missed) of a ClipTracks against the truth: extra tracks per
        true segment (appearance within a shot), tracks holding more than one segment or
        a face no segment has, segments no track holds."""
        segments = self.segments()
        holders: dict[tuple[int, int], set[int]] = {k: set() for k in segments}
        merges = 0
        for t in result.tracks:
            owners = {self.who(f, b) for f, b in t.boxes.items()}
            keys = {(o[0], o[1]) for o in owners if o is not None}
            merges += len(keys) > 1 or None in owners
            for k in keys:
                holders[k].add(t.id)
        splits = sum(max(0, len(h) - 1) for h in holders.values())
        missed = sum(1 for h in holders.values() if not h)
        return splits, merges, missed


def background(width: int, height: int, seed: int) -> np.ndarray:
    """A shop-like scene: a gradient wall, a floor, shelves of coloured boxes."""
    rng = np.random.default_rng(seed)
    img = Image.new("RGB", (width, height))
    d = ImageDraw.Draw(img)
    top = rng.integers(60, 200, 3)
    bottom = rng.integers(30, 140, 3)
    for y in range(height):
        a = y / max(1, height - 1)
        d.line([(0, y), (width, y)], fill=tuple(int(v) for v in top * (1 - a) + bottom * a))
    for _ in range(14):
        x, y = int(rng.integers(0, width)), int(rng.integers(0, height))
        w, h = int(rng.integers(width // 20, width // 6)), int(rng.integers(height // 20,
                                                                           height // 5))
        d.rectangle([x, y, x + w, y + h], fill=tuple(int(v) for v in rng.integers(0, 255, 3)))
    return np.asarray(img.filter(ImageFilter.GaussianBlur(1)), dtype=np.uint8)


_PHOTO_CACHE: dict[tuple[Path, int, int], tuple[Image.Image, Image.Image]] = {}


def _pasted(photo: Path, size: int, blur: int) -> tuple[Image.Image, Image.Image]:
    key = (photo, size, blur)
    if key not in _PHOTO_CACHE:
        img = Image.open(photo).convert("RGB").resize((size, size), Image.Resampling.BICUBIC)
        if blur > 1:
            arr = np.asarray(img, dtype=np.float32)
            acc = np.zeros_like(arr)
            for k in range(blur):
                acc += np.roll(arr, k - blur // 2, axis=1)
            img = Image.fromarray(np.clip(acc / blur, 0, 255).astype(np.uint8))
        mask = Image.new("L", (size, size), 0)
        ImageDraw.Draw(mask).ellipse([size * 0.06, size * 0.02, size * 0.94, size * 0.98],
                                     fill=255)
        mask = mask.filter(ImageFilter.GaussianBlur(size / 40))
        if len(_PHOTO_CACHE) > 256:
            _PHOTO_CACHE.clear()
        _PHOTO_CACHE[key] = (img, mask)
    return _PHOTO_CACHE[key]


def compose(spec: ClipSpec, t: float, backgrounds: list[np.ndarray]
            ) -> tuple[np.ndarray, list[tuple[int, str, Box]]]:
    shot = sum(1 for c in spec.cuts if c <= t)
    img = Image.fromarray(backgrounds[shot % len(backgrounds)])
    faces: list[tuple[int, str, Box]] = []
    for i, a in enumerate(spec.appearances):
        if not a.start <= t < a.end:
            continue
        x, y, size = a.at(t)
        if shot:  # after a cut, everyone stands elsewhere
            x, y = 1.0 - x, min(0.8, max(0.2, 1.0 - y))
        cx, cy = round(x * spec.width), round(y * spec.height)
        patch, mask = _pasted(a.photo, size, a.blur)
        img.paste(patch, (cx - size // 2, cy - size // 2), mask)
        half = FACE_SHARE * size / 2
        box = Box(round(cy - half), round(cx + half), round(cy + half), round(cx - half))
        box = box.clipped(spec.width, spec.height)
        if box.width > 0.6 * FACE_SHARE * size and box.height > 0.6 * FACE_SHARE * size:
            faces.append((i, a.person, box))
    return np.asarray(img, dtype=np.uint8), faces


def render(spec: ClipSpec, out: Path) -> Truth:
    """Write the clip to `out` and return its truth."""
    backgrounds = [background(spec.width, spec.height, spec.seed * 10 + k)
                   for k in range(len(spec.cuts) + 1)]
    options = {"movflags": "faststart"} if spec.faststart and \
        spec.container in ("mp4", "mov") else {}
    container = av.open(str(out), "w", format=spec.container, options=options)
    stream = container.add_stream(spec.codec, rate=spec.fps)
    sw, sh = (spec.height, spec.width) if spec.rotation in (90, 270) else \
        (spec.width, spec.height)
    stream.width, stream.height = sw, sh
    stream.pix_fmt = "yuvj420p" if spec.codec == "mjpeg" else "yuv420p"
    stream.time_base = Fraction(1, 1000)
    stream.codec_context.time_base = Fraction(1, 1000)
    opts = {"preset": "veryfast", "crf": str(spec.crf)} if spec.codec == "libx264" else {}
    if spec.interlaced and spec.codec == "libx264":
        opts["x264-params"] = "interlaced=1"
    stream.options = opts
    if spec.rotation:
        stream.set_display_rotation(spec.rotation)
    truth = Truth(shots=[0])

    def frames() -> Iterator[Any]:
        t = 0.0
        i = 0
        shot = 0
        while t < spec.duration - 1e-9:
            rgb, faces = compose(spec, t, backgrounds)
            if spec.interlaced:  # odd lines from half a frame later: a combed picture
                later, _ = compose(spec, t + 0.5 / spec.fps, backgrounds)
                rgb = rgb.copy()
                rgb[1::2] = later[1::2]
            now_shot = sum(1 for c in spec.cuts if c <= t)
            if now_shot != shot:
                truth.shots.append(i)
                shot = now_shot
            truth.times.append(t)
            truth.faces.append(faces)
            stored = np.ascontiguousarray(np.rot90(rgb, k=-(spec.rotation // 90))) \
                if spec.rotation else rgb
            frame = av.VideoFrame.from_ndarray(stored, format="rgb24")
            frame.pts = round(t * 1000)
            frame.time_base = Fraction(1, 1000)
            yield frame
            step = 1.0 / spec.fps
            if spec.vfr and i % 3 == 2:
                step *= 2
            t = round(t + step, 6)
            i += 1

    _finish(container, stream, frames())
    return truth


# --- the clips the tests use -------------------------------------------------------------------


def two_people_with_cut(a: tuple[str, Path], b: tuple[str, Path], c: tuple[str, Path] | None
                        = None, *, seed: int = 1) -> ClipSpec:
    """A walks left to right and grows (comes closer); B stands on the right; after the
    cut at 2 s both are seen from elsewhere; C (if given) enters at 0.8 s and leaves at
    1.6 s, mildly blurred."""
    apps = [Appearance(a[0], a[1], 0.0, 3.2, 0.25, 0.5, 0.45, 0.55, 170, 220),
            Appearance(b[0], b[1], 0.0, 3.2, 0.78, 0.45, 0.74, 0.5, 190, 190)]
    if c is not None:
        apps.append(Appearance(c[0], c[1], 0.8, 1.6, 0.5, 0.3, 0.5, 0.35, 150, 160, blur=3))
    return ClipSpec(tuple(apps), width=640, height=360, fps=12, duration=3.2, cuts=(2.0,),
                    seed=seed)


def walker(a: tuple[str, Path], **kw: object) -> ClipSpec:
    """One person crossing the frame; keyword arguments change the ClipSpec."""
    spec = ClipSpec((Appearance(a[0], a[1], 0.0, 2.0, 0.3, 0.5, 0.7, 0.5, 200, 230),),
                    width=480, height=300, fps=12, duration=2.0)
    return ClipSpec(**{**spec.__dict__, **kw})  # type: ignore[arg-type]


def damaged_variants(good: Path, good_no_faststart: Path, folder: Path) -> dict[str, Path]:
    """Broken copies of `good` (an MP4 with its index first) and of
    `good_no_faststart` (an MP4 with its index last, as recorders write): name -> file."""
    data = good.read_bytes()
    out: dict[str, Path] = {}

    def write(name: str, content: bytes) -> None:
        p = folder / name
        p.write_bytes(content)
        out[name.rsplit(".", 1)[0]] = p

    write("truncated.mp4", data[: int(len(data) * 0.6)])
    flipped = bytearray(data)
    rng = random.Random(7)
    start = data.find(b"mdat") + 64
    for _ in range(60):
        j = rng.randrange(start, len(flipped))
        flipped[j] ^= 0xFF
    write("flipped.mp4", bytes(flipped))
    late = good_no_faststart.read_bytes()
    write("no_moov.mp4", late[: late.find(b"moov") - 4])
    write("empty.mp4", b"")
    write("text.mp4", b"This is not a video, only a note that was named like one.\n" * 20)
    out["audio_only"] = audio_only(folder / "audio_only.m4a")
    out["huge"] = huge_resolution(folder / "huge.avi")
    out["ten_hours"] = claims_ten_hours(folder / "ten_hours.mkv")
    return out


def _finish(container: Any, stream: Any, frames: Iterable[Any]) -> None:
    """Encode `frames` into `stream`, flush the encoder and close the file."""
    for frame in frames:
        for packet in stream.encode(frame):
            container.mux(packet)
    for packet in stream.encode():
        container.mux(packet)
    container.close()


def audio_only(path: Path) -> Path:
    container = av.open(str(path), "w")
    stream = container.add_stream("aac", rate=22050)

    def frames() -> Iterator[Any]:
        for i in range(20):
            frame = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32),
                                               format="fltp", layout="mono")
            frame.sample_rate = 22050
            frame.pts = i * 1024
            yield frame

    _finish(container, stream, frames())
    return path


def huge_resolution(path: Path) -> Path:
    """One grey MJPEG frame of 7744 x 5376 (41.6 megapixels)."""
    container = av.open(str(path), "w", format="avi")
    stream = container.add_stream("mjpeg", rate=1)
    stream.width, stream.height, stream.pix_fmt = 7744, 5376, "yuvj420p"
    frame = av.VideoFrame(7744, 5376, "yuvj420p")
    for plane in frame.planes:
        plane.update(bytes([128]) * plane.buffer_size)
    _finish(container, stream, [frame])
    return path


def claims_ten_hours(path: Path) -> Path:
    """Three small frames, the last stamped at ten hours: the container says 10:00:00."""
    container = av.open(str(path), "w", format="matroska")
    stream = container.add_stream("libx264", rate=25)
    stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
    stream.time_base = Fraction(1, 1000)
    stream.codec_context.time_base = Fraction(1, 1000)

    def frames() -> Iterator[Any]:
        for k, pts in enumerate((0, 40, 36_000_000)):
            frame = av.VideoFrame.from_ndarray(np.full((48, 64, 3), 40 * k, np.uint8),
                                               format="rgb24")
            frame.pts = pts
            frame.time_base = Fraction(1, 1000)
            yield frame

    _finish(container, stream, frames())
    return path


# --- lossless clips of the fake engine's synthetic faces (unit tests) ---------------------------


@dataclass(frozen=True)
class FakeWalk:
    """Fake-engine person `person` on screen from frame `first` to `last` (inclusive),
    its face box moving from `box0` to `box1`."""

    person: int
    first: int
    last: int
    box0: Box
    box1: Box

    def box(self, i: int) -> Box:
        a = (i - self.first) / max(1, self.last - self.first)
        return Box(*(round(p + a * (q - p)) for p, q in zip(self.box0.as_list(),
                                                            self.box1.as_list(), strict=True)))


def fake_clip(path: Path, walks: tuple[FakeWalk, ...], frames: int, *, fps: int = 10,
              size: tuple[int, int] = (320, 240), cut_at: int | None = None) -> Truth:
    """A lossless clip (PNG frames in MOV) of the fake engine's synthetic faces: the
    fake detector needs their exact green 255, which lossy codecs change. After frame
    `cut_at` the background changes (a scene cut)."""
    from fakes import face_photo

    container = av.open(str(path), "w", format="mov")
    stream = container.add_stream("png", rate=fps)
    stream.width, stream.height, stream.pix_fmt = size[0], size[1], "rgb24"
    truth = Truth(shots=[0] if cut_at is None else [0, cut_at])

    def frames_() -> Iterator[Any]:
        for i in range(frames):
            faces = [(k, w) for k, w in enumerate(walks) if w.first <= i <= w.last]
            img = np.asarray(face_photo([(w.person, w.box(i)) for _, w in faces], size,
                                        noise_seed=i), dtype=np.uint8).copy()
            if cut_at is not None and i >= cut_at:  # another scene: a light, patterned room
                mask = img[:, :, 1] != 255
                img[mask] = (200 + np.indices(size[::-1]).sum(axis=0)[mask, None] % 16
                             ).astype(np.uint8)
            truth.times.append(i / fps)
            truth.faces.append([(k, f"person_{w.person}", w.box(i)) for k, w in faces])
            frame = av.VideoFrame.from_ndarray(img, format="rgb24")
            frame.pts = i
            yield frame

    _finish(container, stream, frames_())
    return truth
