from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from fakes import one_face
from PIL import Image

from facedesk.domain import imaging
from facedesk.errors import ImageNotFound, ImageTooLarge, UnreadableImage, UnsupportedImage


def encoded(img: Image.Image, fmt: str, **kw) -> bytes:
    out = io.BytesIO()
    img.save(out, fmt, **kw)
    return out.getvalue()


@pytest.fixture
def photo() -> Image.Image:
    return one_face(3, size=(120, 90))


@pytest.mark.parametrize("mode", ["L", "LA", "P", "RGBA", "CMYK", "RGB", "1"])
def test_every_mode_becomes_upright_rgb(photo: Image.Image, mode: str) -> None:
    fmt = "JPEG" if mode in ("CMYK",) else "PNG" if mode != "1" else "BMP"
    loaded = imaging.load_image(encoded(photo.convert(mode), fmt))
    assert loaded.rgb.dtype == np.uint8
    assert loaded.rgb.shape == (90, 120, 3)
    assert loaded.mode == mode


def test_cmyk_colours_survive(photo: Image.Image) -> None:
    ref = np.asarray(photo, dtype=np.float64)
    got = imaging.load_image(encoded(photo.convert("CMYK"), "JPEG", quality=95)).rgb
    assert np.abs(got.astype(np.float64) - ref).mean() < 12


def test_16_bit_grey_is_scaled_not_clipped() -> None:
    grey = np.tile(np.linspace(0, 65535, 64, dtype=np.uint16), (8, 1))
    data = encoded(Image.fromarray(grey), "PNG")
    loaded = imaging.load_image(data)
    assert loaded.mode.startswith("I")
    row = loaded.rgb[0, :, 0].astype(int)
    assert row[0] == 0 and row[-1] == 255
    # a clipping conversion would make most of the ramp white
    assert (row == 255).sum() <= 2
    assert np.all(np.diff(row) >= 0)


def test_alpha_is_composited_on_white() -> None:
    img = Image.new("RGBA", (4, 4), (0, 0, 0, 0))
    rgb = imaging.load_image(encoded(img, "PNG")).rgb
    assert rgb.min() == 255


def test_palette_with_transparency() -> None:
    img = Image.new("P", (4, 4), 0)
    img.putpalette([10, 20, 30] * 256)
    data = encoded(img, "PNG", transparency=0)
    assert imaging.load_image(data).rgb.min() == 255


def test_exif_orientation_is_applied(photo: Image.Image) -> None:
    rotated = photo.transpose(Image.Transpose.ROTATE_90)  # 90 x 120 on disk
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 CW to display"
    loaded = imaging.load_image(encoded(rotated, "JPEG", exif=exif.tobytes(), quality=95))
    assert loaded.exif_transposed
    assert (loaded.width, loaded.height) == (120, 90)
    # the upright image is the original again (up to JPEG loss)
    diff = np.abs(loaded.rgb.astype(int) - np.asarray(photo, dtype=int)).mean()
    assert diff < 10


def test_first_frame_of_animation(photo: Image.Image) -> None:
    frames = [photo, Image.new("RGB", photo.size, (0, 0, 0))]
    out = io.BytesIO()
    frames[0].save(out, "GIF", save_all=True, append_images=frames[1:])
    rgb = imaging.load_image(out.getvalue()).rgb
    assert rgb.mean() > 40  # the face frame, not the black one


def test_empty_file(tmp_path: Path) -> None:
    p = tmp_path / "empty.jpg"
    p.write_bytes(b"")
    with pytest.raises(UnreadableImage, match="empty"):
        imaging.load_image(p)


def test_text_named_jpg(tmp_path: Path) -> None:
    p = tmp_path / "notes.jpg"
    p.write_text("booking notes, not a photo")
    with pytest.raises(UnsupportedImage, match="not an image"):
        imaging.load_image(p)


def test_truncated_jpeg(photo: Image.Image) -> None:
    data = encoded(photo.resize((400, 300)), "JPEG")
    with pytest.raises(UnreadableImage, match=r"truncated|damaged"):
        imaging.load_image(data[: len(data) // 2])


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ImageNotFound, match="not found"):
        imaging.load_image(tmp_path / "nope.jpg")


def test_folder_is_not_an_image(tmp_path: Path) -> None:
    with pytest.raises(UnreadableImage, match="folder"):
        imaging.load_image(tmp_path)


def test_decompression_bomb_is_refused_before_decoding() -> None:
    data = encoded(Image.new("1", (20000, 20000)), "PNG")
    assert len(data) < 2_000_000
    with pytest.raises(ImageTooLarge, match="megapixel"):
        imaging.load_image(data)


def test_resize_to_max_side_maps_back() -> None:
    rgb = np.zeros((300, 1000, 3), dtype=np.uint8)
    small, scale = imaging.resize_to_max_side(rgb, 500)
    assert small.shape[:2] == (150, 500) and scale == pytest.approx(0.5)
    same, s1 = imaging.resize_to_max_side(rgb, 2000)
    assert same is rgb and s1 == 1.0


def test_sharpness_and_brightness_rank_sensibly(photo: Image.Image) -> None:
    from PIL import ImageFilter

    rgb = np.asarray(photo)
    blurred = np.asarray(photo.filter(ImageFilter.GaussianBlur(4)))
    assert imaging.sharpness(rgb) > 3 * imaging.sharpness(blurred)
    dark = (rgb * 0.3).astype(np.uint8)
    assert imaging.brightness(dark) < imaging.brightness(rgb)
    assert imaging.sharpness(rgb[:0]) == 0.0


def test_crop_jpeg_is_small(photo: Image.Image) -> None:
    data = imaging.jpeg_bytes(np.asarray(photo.resize((600, 450))))
    img = Image.open(io.BytesIO(data))
    assert max(img.size) <= 128 and img.format == "JPEG"
