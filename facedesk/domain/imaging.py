"""Image loading and pixel measurements (Pillow + NumPy; no dlib here).

`load_image` turns any file a real gallery holds into an upright 8-bit RGB array, or
raises a typed `ImageError` whose message says what is wrong with the file.
"""

from __future__ import annotations

import hashlib
import io
import os
import stat
import struct
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

#: The formats a photo may come in (Pillow's names). Any other file is refused as
#: unsupported without running its decoder: Pillow also opens EPS (by running
#: Ghostscript), icons, Photoshop and scientific formats, none of them a photo.
#: (JPEG includes the multi-picture files cameras write; AVIF needs a Pillow built with it.)
PHOTO_FORMATS = ("JPEG", "PNG", "GIF", "BMP", "TIFF", "WEBP", "PPM", "JPEG2000", "AVIF")
PHOTO_FORMAT_NAMES = "JPEG, PNG, GIF, BMP, TIFF, WebP, PNM, JPEG 2000 or AVIF"


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


def sha256_file(path: Path) -> str:
    """The SHA-256 of a file, read in 1 MiB blocks (a clip or a backup can be gigabytes)."""
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _open_formats() -> list[str]:
    """PHOTO_FORMATS this Pillow can open (naming one it lacks is an error)."""
    if not all(f in Image.OPEN for f in PHOTO_FORMATS):
        Image.init()
    return [f for f in PHOTO_FORMATS if f in Image.OPEN]


_OPEN_FLAGS = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0)


def read_file(path: Path, max_bytes: int = MAX_FILE_BYTES) -> bytes:
    """Read a whole file, with typed errors for the ways that fails. Only a regular file
    is read: a named pipe, a device or a socket (or a link to one) would block for ever
    or never end, and is refused from what the opened file is, before reading."""
    try:
        # non-blocking: opening a named pipe must not wait for a writer
        fd = os.open(path, _OPEN_FLAGS)
    except FileNotFoundError:
        raise ImageNotFound(f"{path}: file not found") from None
    except PermissionError:
        if path.is_dir():  # Windows does not open folders
            raise UnreadableImage(f"{path}: is a folder, not an image file") from None
        raise UnreadableImage(f"{path}: permission denied") from None
    except OSError as exc:
        raise UnreadableImage(f"{path}: cannot be read ({exc.strerror or exc})") from None
    try:
        st = os.fstat(fd)
        if stat.S_ISDIR(st.st_mode):
            raise UnreadableImage(f"{path}: is a folder, not an image file")
        if not stat.S_ISREG(st.st_mode):
            raise UnreadableImage(f"{path}: not a regular file ({_file_type(st.st_mode)}); "
                                  "only photo files can be read")
        if st.st_size > max_bytes:
            raise ImageTooLarge(f"{path}: file is {st.st_size / 2**20:.0f} MB; the limit is "
                                f"{max_bytes / 2**20:.0f} MB")
        with open(fd, "rb", closefd=False) as f:
            data = f.read(st.st_size + 1)
            if len(data) > st.st_size:  # it grew while being read
                data += f.read(max_bytes + 1 - len(data))
        if len(data) > max_bytes:
            raise ImageTooLarge(f"{path}: file is more than {max_bytes / 2**20:.0f} MB, the "
                                "limit")
        return data
    except OSError as exc:
        raise UnreadableImage(f"{path}: cannot be read ({exc.strerror or exc})") from None
    finally:
        os.close(fd)


def _file_type(mode: int) -> str:
    if stat.S_ISFIFO(mode):
        return "a named pipe"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    return "not a file"


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
            img = Image.open(io.BytesIO(data), formats=_open_formats())
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
            # an opened file is at its first frame/page; n_frames would walk every page
            # (minutes for a TIFF of a million pages), so it is never asked for
            img.load()
            orientation = img.getexif().get(0x0112, 1)
            transposed = orientation not in (None, 1)
            rgb = to_rgb(ImageOps.exif_transpose(img) if transposed else img)
    except (ImageTooLarge, UnreadableImage):
        raise
    except UnidentifiedImageError:
        raise _unidentified(label, data) from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ImageTooLarge(f"{label}: image is too large (possible decompression bomb)") from None
    except MemoryError:
        raise ImageTooLarge(f"{label}: image is too large to decode in memory") from None
    except (OSError, ValueError, SyntaxError, EOFError, IndexError, TypeError,
            struct.error) as exc:  # struct.error: Pillow reading past a damaged header
        raise _damaged(label, exc) from None
    return LoadedImage(rgb=rgb, format=fmt, mode=mode, exif_transposed=transposed)


#: how the photo formats begin: a file that begins like one but cannot be opened is a
#: damaged photo, not an unsupported file
_SIGNATURES = (
    (b"\xff\xd8\xff", "JPEG"), (b"\x89PNG\r\n\x1a\n", "PNG"), (b"GIF87a", "GIF"),
    (b"GIF89a", "GIF"), (b"II*\x00", "TIFF"), (b"MM\x00*", "TIFF"),
    (b"\x00\x00\x00\x0cjP  \r\n\x87\n", "JPEG 2000"), (b"\xffO\xffQ", "JPEG 2000"),
)
#: other files found among photos, named so the reason says what they are
_OTHER_FILES = (
    (b"%PDF", "a PDF document"), (b"%!PS", "a PostScript (EPS) file"),
    (b"PK\x03\x04", "a ZIP archive (or an Office document)"),
    (b"8BPS", "a Photoshop document"), (b"\x00\x00\x01\x00", "an icon (ICO)"),
    (b"<!doctype html", "a web page (HTML)"), (b"<html", "a web page (HTML)"),
    (b"<svg", "an SVG drawing"), (b"<?xml", "an XML file (an SVG drawing?)"),
)
_HEIF_BRANDS = (b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"mif1", b"msf1")


def _unidentified(label: str, data: bytes) -> UnreadableImage | UnsupportedImage:
    """The error for a file no photo format accepts: damaged when it begins like a
    photo, otherwise unsupported (saying what it is when that is known)."""
    head = data[:32]
    fmt = next((name for sig, name in _SIGNATURES if head.startswith(sig)), None)
    if fmt is None and head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        fmt = "WebP"
    if fmt is None and head[:2] == b"BM" and head[14:15] in (b"\x0c", b"(", b"@", b"l", b"|"):
        fmt = "BMP"
    if fmt is not None:
        return UnreadableImage(f"{label}: damaged {fmt} file: its header cannot be read")
    what = next((name for sig, name in _OTHER_FILES
                 if head.lstrip().lower().startswith(sig.lower())), None)
    if head[4:8] == b"ftyp" and head[8:12] in (b"avif", b"avis"):
        return UnreadableImage(f"{label}: damaged AVIF file: its header cannot be read")
    if head[4:8] == b"ftyp" and head[8:12] in _HEIF_BRANDS:
        return UnsupportedImage(f"{label}: a HEIC/HEIF photo (as iPhones take), a format "
                                "that cannot be read here; convert it to JPEG")
    if head[4:8] == b"ftyp":
        what = "a video or another ISO media file"
    if what is not None:
        return UnsupportedImage(f"{label}: {what}, not a photo; photos must be "
                                f"{PHOTO_FORMAT_NAMES}")
    return UnsupportedImage(f"{label}: not an image, or an image format that cannot be "
                            f"read (photos must be {PHOTO_FORMAT_NAMES})")


def _damaged(label: str, exc: BaseException) -> ImageTooLarge | UnreadableImage:
    msg = str(exc) or type(exc).__name__
    low = msg.lower()
    if "decompressed data too large" in low or "too much memory" in low:
        # a compressed chunk (text, colour profile) expanding beyond Pillow's limits
        return ImageTooLarge(f"{label}: a compressed part of the file expands to more than "
                             "the limit (possible decompression bomb)")
    if "truncated" in low:
        msg = "the file is truncated (incomplete download or copy?)"
    return UnreadableImage(f"{label}: image data is damaged: {msg}")


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


def rotated(rgb: RGBArray, degrees: float, *, expand: bool = True) -> RGBArray:
    """The image turned `degrees` counter-clockwise on screen (Pillow's convention) about
    its centre; with `expand` the canvas grows to hold all of it (corners filled black)."""
    img = Image.fromarray(rgb).rotate(degrees, resample=Image.Resampling.BICUBIC,
                                      expand=expand)
    return np.ascontiguousarray(np.asarray(img, dtype=np.uint8))


def square_region(rgb: RGBArray, cx: float, cy: float, side: int, out: int) -> RGBArray:
    """The side x side square centred on (cx, cy), black where it leaves the image,
    resized to out x out."""
    half = side / 2.0
    box = (round(cx - half), round(cy - half), round(cx - half) + side,
           round(cy - half) + side)
    region = Image.fromarray(rgb).crop(box)  # Pillow fills outside the image with black
    if side != out:
        region = region.resize((out, out), Image.Resampling.BILINEAR)
    return np.ascontiguousarray(np.asarray(region, dtype=np.uint8))


def png_bytes(rgb: RGBArray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, format="PNG")
    return buf.getvalue()


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
