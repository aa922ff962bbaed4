"""Image loading and pixel measurements (Pillow + NumPy; no dlib here).

`load_image` turns any file a real gallery holds into an upright 8-bit RGB array, or
raises a typed `ImageError` whose message says what is wrong with the file.
"""

from __future__ import annotations

import hashlib
import io
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray
from PIL import Image, ImageOps, UnidentifiedImageError

from facedesk.errors import ImageNotFound, ImageTooLarge, UnreadableImage, UnsupportedImage

RGBArray = NDArray[np.uint8]

#: Largest image accepted, in pixels (width x height). 60 MP covers any camera still;
#: a 20000 x 20000 "image" is a decompression bomb, not a photo.
MAX_PIXELS = 60_000_000
#: Largest file accepted, in bytes.
MAX_FILE_BYTES = 200 * 1024 * 1024

# We do our own size check with a clear message; Pillow's own bomb guard stays as a
# backstop far above it (it raises DecompressionBombError at twice its setting).
Image.MAX_IMAGE_PIXELS = 10 * MAX_PIXELS


@dataclass(frozen=True)
class LoadedImage:
    rgb: RGBArray  # H x W x 3, uint8, upright (EXIF orientation applied)
    format: str  # e.g. "JPEG", "PNG"
    mode: str  # the file's original Pillow mode, e.g. "CMYK", "I;16"
    exif_transposed: bool

    @property
    def height(self) -> int:
        return int(self.rgb.shape[0])

    @property
    def width(self) -> int:
        return int(self.rgb.shape[1])


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def read_file(path: Path, max_bytes: int = MAX_FILE_BYTES) -> bytes:
    """Read a whole file, with typed errors for the ways that fails."""
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        raise ImageNotFound(f"{path}: file not found") from None
    except OSError as exc:
        raise UnreadableImage(f"{path}: cannot be read ({exc.strerror or exc})") from None
    if path.is_dir():
        raise UnreadableImage(f"{path}: is a folder, not an image file")
    if size > max_bytes:
        raise ImageTooLarge(
            f"{path}: file is {size / 1e6:.0f} MB; the limit is {max_bytes / 1e6:.0f} MB"
        )
    try:
        return path.read_bytes()
    except PermissionError:
        raise UnreadableImage(f"{path}: permission denied") from None
    except OSError as exc:
        raise UnreadableImage(f"{path}: cannot be read ({exc.strerror or exc})") from None


def load_image(source: Path | bytes, *, name: str | None = None,
               max_pixels: int = MAX_PIXELS) -> LoadedImage:
    """Decode `source` (a path or the file's bytes) into upright 8-bit RGB.

    Applies EXIF orientation, takes the first frame of animations and multi-page files,
    converts every mode (L, LA, P, RGBA, CMYK, I;16, I, F, ...) to RGB.
    """
    if isinstance(source, Path):
        label = name or str(source)
        data = read_file(source)
    else:
        label = name or "image"
        data = source
    if not data:
        raise UnreadableImage(f"{label}: file is empty (0 bytes)")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            img = Image.open(io.BytesIO(data))
            width, height = img.size
            if width * height > max_pixels:
                raise ImageTooLarge(
                    f"{label}: {width} x {height} pixels is more than the "
                    f"{max_pixels / 1e6:.0f}-megapixel limit (possible decompression bomb)"
                )
            if width < 1 or height < 1:
                raise UnreadableImage(f"{label}: image has no pixels ({width} x {height})")
            fmt = img.format or "unknown"
            mode = img.mode
            if getattr(img, "n_frames", 1) > 1:
                img.seek(0)
            img.load()
            orientation = img.getexif().get(0x0112, 1)
            transposed = orientation not in (None, 1)
            rgb = to_rgb(ImageOps.exif_transpose(img) if transposed else img)
    except (ImageTooLarge, UnreadableImage):
        raise
    except UnidentifiedImageError:
        raise UnsupportedImage(
            f"{label}: not an image, or an image format that cannot be read"
        ) from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ImageTooLarge(f"{label}: image is too large (possible decompression bomb)") from None
    except MemoryError:
        raise ImageTooLarge(f"{label}: image is too large to decode in memory") from None
    except (OSError, ValueError, SyntaxError, EOFError, IndexError, TypeError) as exc:
        msg = str(exc) or type(exc).__name__
        if "truncated" in msg:
            msg = "the file is truncated (incomplete download or copy?)"
        raise UnreadableImage(f"{label}: image data is damaged: {msg}") from None
    return LoadedImage(rgb=rgb, format=fmt, mode=mode, exif_transposed=transposed)


def to_rgb(img: Image.Image) -> RGBArray:
    """Any Pillow image -> H x W x 3 uint8 RGB, alpha composited on white."""
    mode = img.mode
    if mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        arr = np.asarray(img, dtype=np.float64)
        if mode.startswith("I;16"):
            scaled = arr / 257.0
        else:
            lo, hi = float(arr.min()), float(arr.max())
            if mode == "I" and lo >= 0 and hi <= 255:
                scaled = arr
            elif mode == "I" and lo >= 0 and hi <= 65535:
                scaled = arr / 257.0
            else:
                scaled = (arr - lo) * (255.0 / (hi - lo)) if hi > lo else np.zeros_like(arr)
        grey = np.clip(np.rint(scaled), 0, 255).astype(np.uint8)
        return np.ascontiguousarray(np.repeat(grey[:, :, None], 3, axis=2))
    if mode == "P" and "transparency" in img.info:
        img = img.convert("RGBA")
        mode = "RGBA"
    if mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = img.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        img = Image.alpha_composite(background, rgba)
    if img.mode != "RGB":
        img = img.convert("RGB")
    return np.ascontiguousarray(np.asarray(img, dtype=np.uint8))


def resize_to_max_side(rgb: RGBArray, max_side: int) -> tuple[RGBArray, float]:
    """Downscale so the longer side is at most `max_side`; returns (image, scale) where
    original coordinate = working coordinate / scale. Never upscales (scale <= 1)."""
    h, w = rgb.shape[:2]
    longest = max(h, w)
    if max_side <= 0 or longest <= max_side:
        return rgb, 1.0
    scale = max_side / longest
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    small = Image.fromarray(rgb).resize(size, Image.Resampling.BILINEAR, reducing_gap=2.0)
    return np.asarray(small, dtype=np.uint8), scale


def crop(rgb: RGBArray, top: int, right: int, bottom: int, left: int) -> RGBArray:
    """Crop with the box clipped to the image (may return an empty array)."""
    h, w = rgb.shape[:2]
    t, b = max(0, top), min(h, bottom)
    lft, r = max(0, left), min(w, right)
    return rgb[t:max(t, b), lft:max(lft, r)]


def to_grey(rgb: RGBArray) -> NDArray[np.float64]:
    """ITU-R BT.601 luma, 0..255."""
    f = rgb.astype(np.float64)
    return 0.299 * f[..., 0] + 0.587 * f[..., 1] + 0.114 * f[..., 2]


#: Faces are resampled to this size before measuring sharpness, so the figure is
#: comparable between a 40-pixel CCTV face and a 400-pixel booking photo.
SHARPNESS_SIZE = 128


def sharpness(face_rgb: RGBArray) -> float:
    """Variance of the 4-neighbour Laplacian of the face, resampled to 128 x 128.

    Typical values: below ~30 the face is blurred or heavily upscaled; crisp booking
    photos give several hundred.
    """
    if face_rgb.size == 0:
        return 0.0
    img = Image.fromarray(face_rgb).convert("L")
    img = img.resize((SHARPNESS_SIZE, SHARPNESS_SIZE), Image.Resampling.BILINEAR)
    g = np.asarray(img, dtype=np.float64)
    lap = -4.0 * g[1:-1, 1:-1] + g[:-2, 1:-1] + g[2:, 1:-1] + g[1:-1, :-2] + g[1:-1, 2:]
    return float(lap.var())


def brightness(face_rgb: RGBArray) -> float:
    """Mean luma of the face, 0 (black) .. 255 (white)."""
    if face_rgb.size == 0:
        return 0.0
    return float(to_grey(face_rgb).mean())


def jpeg_bytes(rgb: RGBArray, max_side: int = 128, quality: int = 85) -> bytes:
    img = Image.fromarray(rgb)
    img.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
    out = io.BytesIO()
    img.save(out, format="JPEG", quality=quality, optimize=True)
    return out.getvalue()
