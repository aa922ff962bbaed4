"""A fake face engine and synthetic face photos, for fast unit tests.

A synthetic "face" is a square whose green channel is exactly 255; its red channel
carries the person's pattern (an 8 x 16 grid, seeded by the person number) plus a little
noise per photo. The fake engine finds those squares, places 68 landmarks on a frontal
template, and encodes the red pattern as a 128-d vector: photos of one person land close
together, different persons far apart, as with the real engine.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from facedesk.domain.faces import Box, RawFace

FAKE_FACTORY = "fakes:FakeEngine"

# a frontal 68-point template in unit box coordinates (x, y)
_T = np.zeros((68, 2))
_T[0:17, 0] = np.linspace(0.05, 0.95, 17)
_T[0:17, 1] = 0.5 + 0.4 * np.sin(np.linspace(0, np.pi, 17))
_T[17:27] = [(0.2 + 0.06 * i, 0.3) for i in range(10)]
_T[27:36] = [(0.5, 0.4 + 0.03 * i) for i in range(9)]
_T[30] = (0.5, 0.62)
_T[36:42] = [(0.28 + 0.03 * i, 0.42) for i in range(6)]
_T[42:48] = [(0.57 + 0.03 * i, 0.42) for i in range(6)]
_T[48:68] = [(0.35 + 0.015 * i, 0.8) for i in range(20)]


def pattern(person: int) -> np.ndarray:
    return np.random.default_rng(person).uniform(20, 235, size=(8, 16))


class FakeEngine:
    """`detector` is the default detector, as DlibEngine's; `blind` lists detection steps
    ("hog:1", "cnn:0", ...) that find nothing, to play a photo a detector misses."""

    def __init__(self, version: str = "1", detector: str = "hog",
                 blind: Sequence[str] = (), **_: Any) -> None:
        self.version = version
        self.detector = detector
        self.blind = frozenset(blind)
        self.detect_calls: list[tuple[int, int, int]] = []
        #: "detector:upsample" of every detect call, in order
        self.detect_steps: list[str] = []

    def identity(self) -> dict[str, Any]:
        return {"engine": "fake", "dlib": self.version, "models": {"fake.dat": "0" * 64}}

    def detect(self, rgb: np.ndarray, upsample: int, detector: str | None = None) -> list[Box]:
        self.detect_calls.append((rgb.shape[0], rgb.shape[1], upsample))
        step = f"{detector or self.detector}:{upsample}"
        self.detect_steps.append(step)
        if step in self.blind:
            return []
        mask = rgb[:, :, 1] == 255
        cols = mask.any(axis=0)
        boxes = []
        x = 0
        w = len(cols)
        while x < w:
            if not cols[x]:
                x += 1
                continue
            start = x
            while x < w and cols[x]:
                x += 1
            rows = np.flatnonzero(mask[:, start:x].any(axis=1))
            if x - start >= 4 and len(rows) >= 4:
                boxes.append(Box(int(rows[0]), x, int(rows[-1]) + 1, start))
        return boxes

    def describe(self, rgb: np.ndarray, boxes: Sequence[Box]) -> list[RawFace]:
        out = []
        for b in boxes:
            region = rgb[b.top:b.bottom, b.left:b.right, 0]
            small = np.asarray(Image.fromarray(region).resize((16, 8), Image.Resampling.BOX),
                               dtype=np.float32)
            vec = (small.reshape(-1) - 127.5) / 127.5 / 4.0
            pts = [(round(b.left + px * b.width), round(b.top + py * b.height))
                   for px, py in _T]
            out.append(RawFace(b, pts, vec.astype(np.float32)))
        return out


def face_photo(faces: Sequence[tuple[int, Box]], size: tuple[int, int] = (200, 160),
               noise_seed: int = 0, noise: float = 4.0) -> Image.Image:
    """An RGB photo (width, height) with a synthetic face of `person` in each box."""
    w, h = size
    arr = np.full((h, w, 3), 90, dtype=np.uint8)
    rng = np.random.default_rng(noise_seed)
    for person, b in faces:
        pat = Image.fromarray(pattern(person).astype(np.uint8)).resize(
            (b.width, b.height), Image.Resampling.NEAREST)
        red = np.asarray(pat, dtype=np.float64) + rng.normal(0, noise, (b.height, b.width))
        arr[b.top:b.bottom, b.left:b.right, 0] = np.clip(red, 0, 255).astype(np.uint8)
        arr[b.top:b.bottom, b.left:b.right, 1] = 255
        arr[b.top:b.bottom, b.left:b.right, 2] = 40
    return Image.fromarray(arr)


def one_face(person: int, variant: int = 0, size: tuple[int, int] = (200, 160)) -> Image.Image:
    w, h = size
    box = Box(h // 4, w // 2 + w // 5, h // 4 + 2 * w // 5, w // 2 - w // 5)
    return face_photo([(person, box)], size, noise_seed=person * 1000 + variant)


def no_face(size: tuple[int, int] = (200, 160), seed: int = 0) -> Image.Image:
    rng = np.random.default_rng(seed)
    arr = rng.integers(0, 200, (size[1], size[0], 3), dtype=np.uint8)
    return Image.fromarray(arr)


def jpeg_bytes(img: Image.Image, quality: int = 95) -> bytes:
    out = io.BytesIO()
    img.save(out, "PNG" if quality == 0 else "JPEG", quality=quality)
    return out.getvalue()


def save_png(img: Image.Image, path: Path) -> Path:
    """PNG keeps the exact green 255 the fake detector looks for."""
    path.parent.mkdir(parents=True, exist_ok=True)
    img.save(path, "PNG")
    return path
