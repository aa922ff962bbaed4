"""A corpus of hostile and broken import inputs, each with the outcome it must have.

`build_corpus(root, photo)` writes, under `root`:

- `people/`: a folder-per-person source holding every kind of file a real gallery (or an
  attacker) can put there: good photos in every format and mode, odd file names, damaged
  and truncated files, decompression bombs, non-images, special files, symlink loops,
  duplicates;
- `booking/`: CSV manifests (one main manifest with every kind of row, plus one manifest
  per whole-file kind: encodings, delimiters, broken headers, an unclosed quote...);
- `outside/` and `elsewhere/`: files the sources point at from outside.

and returns a `Corpus` naming, for every file or manifest row, its kind and the outcome
the import must give it: stored with a face (`FACE`), stored without a face (`NO_FACE`),
not an item at all (`IGNORED`: hidden files, blank rows), or the problem code it must be
reported with. Good photos are variants of `photo` (a real face photo, e.g. an LFW
JPEG), each with a few stamped pixels so that no two files share their bytes unless a
case says so (`twin`).

Nothing here holds a big image in memory: the 20000 x 20000 PNG is written as
repeated deflate blocks, the 200 MB files are sparse.
"""

from __future__ import annotations

import io
import os
import stat
import struct
import zlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image, PngImagePlugin

FACE = "face"  # stored, with its face
NO_FACE = "no_face"  # stored without a face (and reported as no_face)
IGNORED = "ignored"  # not an item of the source: neither stored nor reported

STORED = (FACE, NO_FACE)

#: the kinds that need a user other than root (root reads any file)
PERMISSION_KINDS = ("unreadable_file_permissions", "unreadable_folder_permissions")


@dataclass(frozen=True)
class Case:
    kind: str
    #: how the import names the item: its path relative to the source folder (or the
    #: manifest's `path` cell); for a manifest row refused before it names a file,
    #: "<manifest name>:<line>"
    display: str
    outcome: str  # FACE, NO_FACE, IGNORED or a problem code
    path: Path | None = None  # the file, as the gallery stores it (absolute)
    line: int | None = None  # manifest line (the row's first line)
    #: display of a copy with the same bytes (same line for manifests: see twin_line):
    #: the first of the two in the source is stored, the other is reported duplicate
    twin: str | None = None
    twin_line: int | None = None
    reason: str | None = None  # a word the recorded reason must contain (lower case)

    @property
    def key(self) -> tuple[str, int | None]:
        return (self.display, self.line)


@dataclass
class ManifestCase:
    kind: str
    csv: Path
    cases: list[Case] = field(default_factory=list)
    #: the manifest is refused as a whole, before anything is stored, with a
    #: ManifestError/SourceError whose message contains this (lower case)
    error: str | None = None
    names: dict[str, str] = field(default_factory=dict)  # person_id -> expected name


@dataclass
class Corpus:
    root: Path
    people: Path  # the folder-per-person source
    people_cases: list[Case]
    manifests: list[ManifestCase]
    #: kinds not built on this machine, with the reason (e.g. running as root)
    skipped: dict[str, str] = field(default_factory=dict)

    @property
    def main_manifest(self) -> ManifestCase:
        return next(m for m in self.manifests if m.kind == "manifest_main")

    @property
    def kinds(self) -> set[str]:
        out = {c.kind for c in self.people_cases}
        for m in self.manifests:
            out.add(m.kind)
            out.update(c.kind for c in m.cases)
        return out


# --- writers for files Pillow will not write -----------------------------------------------


def png_chunk(kind: bytes, data: bytes) -> bytes:
    return (struct.pack(">I", len(data)) + kind + data
            + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))


def png_header(width: int, height: int, bit_depth: int, colour_type: int) -> bytes:
    return b"\x89PNG\r\n\x1a\n" + png_chunk(
        b"IHDR", struct.pack(">IIBBBBB", width, height, bit_depth, colour_type, 0, 0, 0))


def png_bytes(width: int, height: int, bit_depth: int, colour_type: int,
              rows: Iterable[bytes], extra: bytes = b"") -> bytes:
    """A PNG from raw scanlines (each without its filter byte)."""
    raw = b"".join(b"\x00" + r for r in rows)
    return (png_header(width, height, bit_depth, colour_type) + extra
            + png_chunk(b"IDAT", zlib.compress(raw, 9)) + png_chunk(b"IEND", b""))


def write_blank_png(path: Path, width: int, height: int, channels: int = 3) -> None:
    """A valid all-black 8-bit PNG of any size without ever holding its pixels: the
    zlib stream is one deflate block of many rows, repeated (a full flush makes each
    block independent), so a 20000 x 20000 RGB image (1.2 GB of pixels) takes a
    fraction of a second and about 1 MB on disk."""
    colour_type = {1: 0, 3: 2, 4: 6}[channels]
    row = bytes(1 + width * channels)
    rows_per_block = max(1, min(height, (4 << 20) // len(row)))
    blocks, rest = divmod(height, rows_per_block)
    block = row * rows_per_block
    comp = zlib.compressobj(9, zlib.DEFLATED, -15)  # raw deflate; we add header/trailer
    deflated = comp.compress(block) + comp.flush(zlib.Z_FULL_FLUSH)
    tail = comp.compress(row * rest) + comp.flush(zlib.Z_FINISH)
    # Adler-32 of n zero bytes: the byte sum stays 1, the sum of sums is n
    adler = (len(row) * height % 65521) << 16 | 1
    with path.open("wb") as f:
        f.write(png_header(width, height, 8, colour_type))
        # one IDAT per block keeps every chunk small
        f.write(png_chunk(b"IDAT", b"\x78\xda" + deflated))
        for _ in range(blocks - 1):
            f.write(png_chunk(b"IDAT", deflated))
        f.write(png_chunk(b"IDAT", tail + struct.pack(">I", adler & 0xFFFFFFFF)))
        f.write(png_chunk(b"IEND", b""))


def tiff_pages(n: int) -> bytes:
    """A little-endian TIFF of `n` 1 x 1 grey pages sharing one pixel."""
    entry_len = 2 + 8 * 12 + 4
    pixel = 8 + n * entry_len
    out = bytearray(b"II*\x00" + struct.pack("<I", 8))
    for i in range(n):
        nxt = 8 + (i + 1) * entry_len if i < n - 1 else 0
        entries = [(256, 3, 1, 1), (257, 3, 1, 1), (258, 3, 1, 8), (259, 3, 1, 1),
                   (262, 3, 1, 1), (273, 4, 1, pixel), (277, 3, 1, 1), (279, 4, 1, 1)]
        out += struct.pack("<H", len(entries))
        out += b"".join(struct.pack("<HHII", *e) for e in entries)
        out += struct.pack("<I", nxt)
    out += b"\x80"
    return bytes(out)


def tiff_ifd_loop() -> bytes:
    """A one-page TIFF whose page points back to itself as the next page."""
    data = bytearray(tiff_pages(1))
    n = struct.unpack("<H", data[8:10])[0]
    data[10 + 12 * n: 14 + 12 * n] = struct.pack("<I", 8)
    return bytes(data)


def tiff_claiming(width: int, height: int) -> bytes:
    data = bytearray(tiff_pages(1))
    data[8 + 2 + 8: 8 + 2 + 12] = struct.pack("<I", width)  # ImageWidth value
    data[8 + 2 + 12 + 8: 8 + 2 + 24] = struct.pack("<I", height)  # ImageLength value
    return bytes(data)


def jpeg_segments(data: bytes) -> list[tuple[int, int, int]]:
    """(marker, offset, length) of the JPEG header segments up to the scan."""
    out = []
    i = 2
    while i + 4 <= len(data) and data[i] == 0xFF:
        marker = data[i + 1]
        length = struct.unpack(">H", data[i + 2:i + 4])[0]
        out.append((marker, i, length))
        if marker == 0xDA:
            break
        i += 2 + length
    return out


def jpeg_with_size(data: bytes, width: int, height: int) -> bytes:
    """The JPEG with its frame header claiming another size."""
    sof = next(off for m, off, _ in jpeg_segments(data) if m in (0xC0, 0xC1, 0xC2))
    out = bytearray(data)
    out[sof + 5:sof + 9] = struct.pack(">HH", height, width)
    return bytes(out)


def gif_frame_offsets(data: bytes) -> list[int]:
    """Offsets of the image descriptors (one per frame) of a GIF."""
    i = 13
    if data[10] & 0x80:
        i += 3 << ((data[10] & 7) + 1)
    out = []
    while i < len(data) and data[i] != 0x3B:
        if data[i] == 0x21:  # extension: label, then sub-blocks
            i += 2
        else:  # image descriptor, local colour table, LZW code size, then sub-blocks
            out.append(i)
            flags = data[i + 9]
            i += 10 + ((3 << ((flags & 7) + 1)) if flags & 0x80 else 0) + 1
        while data[i]:
            i += data[i] + 1
        i += 1
    return out


def flip(data: bytes, offset: int, mask: int = 0xFF) -> bytes:
    out = bytearray(data)
    out[offset] ^= mask
    return bytes(out)


def display_name(name: str) -> str:
    """How the import shows a file name that is not valid UTF-8."""
    return os.fsencode(name).decode("utf-8", "backslashreplace")


# --- the corpus ----------------------------------------------------------------------------


class _Builder:
    def __init__(self, root: Path, photo: Path) -> None:
        self.root = root
        self.base = Image.open(photo).convert("RGB")
        self.stamp_no = 0

    def unique(self, img: Image.Image | None = None) -> Image.Image:
        """A copy whose top-left pixels carry a serial number: every file made from it
        has bytes of its own."""
        img = (img or self.base).copy()
        self.stamp_no += 1
        n = self.stamp_no
        # the bits of n as black and white 4 x 4 squares: they survive lossy compression
        for bit in range(10):
            value = 255 if n >> bit & 1 else 0
            img.paste((value,) * len(img.getbands()), (4 * bit, 0, 4 * bit + 4, 4))
        return img

    def encode(self, img: Image.Image, fmt: str, **kwargs: object) -> bytes:
        out = io.BytesIO()
        img.save(out, fmt, **kwargs)
        return out.getvalue()

    def jpeg(self, img: Image.Image | None = None, **kwargs: object) -> bytes:
        kwargs.setdefault("quality", 92)
        return self.encode(self.unique(img), "JPEG", **kwargs)


_ENGINES: dict[tuple[tuple[str, object], ...], object] = {}


def shared_real_engine(**options: object) -> object:
    """The real engine, one instance per process and options, for EngineSpec
    ("hostile:shared_real_engine"): a test importing many small sources in one process
    loads and hashes the model files once instead of once per import."""
    from facedesk.engine.dlib_engine import DlibEngine

    key = tuple(sorted(options.items()))
    if key not in _ENGINES:
        _ENGINES[key] = DlibEngine(**options)  # type: ignore[arg-type]
    return _ENGINES[key]


def _exif(orientation: int) -> bytes:
    exif = Image.Exif()
    exif[0x0112] = orientation
    return exif.tobytes()


def _write(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def _sparse(path: Path, size: int) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as f:
        f.truncate(size)
    return path


def _is_root() -> bool:
    return hasattr(os, "geteuid") and os.geteuid() == 0


def build_corpus(root: Path, photo: Path) -> Corpus:
    """Write the hostile corpus under `root` (an empty folder) from `photo`, a real face
    photo, and return what the import must do with every file and row."""
    b = _Builder(root, photo)
    people = root / "people"
    elsewhere = root / "elsewhere"
    cases: list[Case] = []
    skipped: dict[str, str] = {}

    def add(kind: str, rel: str, data: bytes | None, outcome: str, *,
            reason: str | None = None, twin: str | None = None) -> Path:
        path = people / rel
        if data is not None:
            _write(path, data)
        cases.append(Case(kind, rel, outcome, path, twin=twin, reason=reason))
        return path

    base = b.base
    w, h = base.size
    plain_jpeg = b.jpeg()
    png_rgb = b.encode(b.unique(), "PNG")

    # --- good photos: every format and mode, stored with their face -----------------------
    g = "Good_Formats"
    add("jpeg_baseline", f"{g}/baseline.jpg", plain_jpeg, FACE)
    add("jpeg_progressive", f"{g}/progressive.jpg", b.jpeg(progressive=True), FACE)
    add("jpeg_grey", f"{g}/grey.jpg", b.encode(b.unique().convert("L"), "JPEG", quality=92),
        FACE)
    add("jpeg_cmyk", f"{g}/cmyk.jpg", b.encode(b.unique().convert("CMYK"), "JPEG",
                                                 quality=95), FACE)
    for orientation, turn in ((3, Image.Transpose.ROTATE_180), (6, Image.Transpose.ROTATE_90),
                              (8, Image.Transpose.ROTATE_270)):
        add(f"jpeg_exif_orientation_{orientation}", f"{g}/orientation{orientation}.jpg",
            b.encode(b.unique().transpose(turn), "JPEG", quality=92,
                     exif=_exif(orientation)), FACE)
    add("jpeg_exif_orientation_invalid", f"{g}/orientation9.jpg",
        b.jpeg(exif=_exif(9)), FACE)
    add("jpeg_exif_corrupt", f"{g}/corrupt_exif.jpg",
        b.jpeg(exif=b"Exif\x00\x00II*\x00\xff\xff\xff\x7f" + b"\x00" * 30), FACE)
    add("jpeg_trailing_garbage", f"{g}/trailing_garbage.jpg",
        b.jpeg() + b"\x00GARBAGE" * 512, FACE)
    # a damaged tail of the scan: the bottom rows decode to noise, the face is intact
    tail = b.jpeg()
    add("jpeg_bitflip_in_last_rows", f"{g}/bitflip_tail.jpg",
        flip(flip(tail, len(tail) - 40, 0x10), len(tail) - 90, 0x04), FACE)
    add("png_rgb", f"{g}/rgb.png", png_rgb, FACE)
    add("png_rgba", f"{g}/rgba.png", b.encode(b.unique().convert("RGBA"), "PNG"), FACE)
    add("png_grey_alpha", f"{g}/grey_alpha.png", b.encode(b.unique().convert("LA"), "PNG"),
        FACE)
    add("png_palette", f"{g}/palette.png",
        b.encode(b.unique().quantize(256), "PNG"), FACE)
    pal = b.unique().quantize(256)
    pal.info["transparency"] = 0
    add("png_palette_transparency", f"{g}/palette_transparent.png",
        b.encode(pal, "PNG", transparency=0), FACE)
    grey16 = np.asarray(b.unique().convert("L"), dtype=np.uint16) * 257
    add("png_16bit_grey", f"{g}/grey16.png",
        b.encode(Image.fromarray(grey16), "PNG"), FACE)
    rgb16 = np.asarray(b.unique(), dtype=">u2") * 257
    add("png_16bit_rgb", f"{g}/rgb16.png",
        png_bytes(w, h, 16, 2, (r.tobytes() for r in rgb16)), FACE)
    info = PngImagePlugin.PngInfo()
    info.add_text("Comment", "x" * 2000, zip=True)
    add("png_text_chunks", f"{g}/text_chunks.png",
        b.encode(b.unique(), "PNG", pnginfo=info), FACE)
    apng_frames = [b.unique(), Image.new("RGB", (w, h), (128, 128, 128))]
    add("apng_first_frame", f"{g}/animated.png",
        b.encode(apng_frames[0], "PNG", save_all=True, append_images=apng_frames[1:]), FACE)
    gif_frames = [b.unique(), Image.new("RGB", (w, h), (90, 90, 90)),
                  Image.new("RGB", (w, h), (200, 200, 200))]
    add("gif_animated_first_frame", f"{g}/animated.gif",
        b.encode(gif_frames[0], "GIF", save_all=True, append_images=gif_frames[1:],
                 duration=100, loop=0), FACE)
    # cut inside the second frame's header: the first frame is whole (counting the
    # frames used to raise struct.error here, found by scripts/fuzz.py)
    two = b.encode(b.unique(), "GIF", save_all=True, duration=100,
                   append_images=[Image.new("RGB", (w, h), (60, 60, 60))])
    add("gif_cut_in_second_frame_header", f"{g}/cut_second_frame.gif",
        two[:gif_frame_offsets(two)[1] + 7], FACE)
    add("tiff_multipage_first_page", f"{g}/multipage.tif",
        b.encode(b.unique(), "TIFF", save_all=True,
                 append_images=[Image.new("RGB", (w, h), (20, 20, 20))]), FACE)
    add("tiff_lzw", f"{g}/lzw.tiff", b.encode(b.unique(), "TIFF", compression="tiff_lzw"),
        FACE)
    add("tiff_16bit_grey", f"{g}/grey16.tif",
        b.encode(Image.fromarray(np.asarray(b.unique().convert("L"), np.uint16) * 257)
                 .convert("I;16"), "TIFF"), FACE)
    add("tiff_float", f"{g}/float.tif",
        b.encode(Image.fromarray(np.asarray(b.unique().convert("L"), np.float32) / 255.0),
                 "TIFF"), FACE)
    add("webp_lossy", f"{g}/lossy.webp", b.encode(b.unique(), "WEBP", quality=90), FACE)
    add("webp_lossless", f"{g}/lossless.webp", b.encode(b.unique(), "WEBP", lossless=True),
        FACE)
    add("webp_animated_first_frame", f"{g}/animated.webp",
        b.encode(b.unique(), "WEBP", save_all=True, quality=90,
                 append_images=[Image.new("RGB", (w, h), (128, 128, 128))]), FACE)
    add("bmp", f"{g}/photo.bmp", b.encode(b.unique(), "BMP"), FACE)
    add("ppm", f"{g}/photo.ppm", b.encode(b.unique(), "PPM"), FACE)
    add("pgm", f"{g}/photo.pgm", b.encode(b.unique().convert("L"), "PPM"), FACE)
    add("jpeg2000", f"{g}/photo.jp2", b.encode(b.unique(), "JPEG2000"), FACE)
    big = b.unique().resize((2000, 2000), Image.Resampling.BILINEAR)
    add("large_valid_2000px", f"{g}/large.jpg", b.encode(big, "JPEG", quality=85), FACE)

    # --- valid photos with the wrong name -------------------------------------------------
    n = "Odd_Names"
    add("png_named_jpg", f"{n}/really_a_png.jpg", b.encode(b.unique(), "PNG"), FACE)
    add("jpeg_named_png", f"{n}/really_a_jpeg.png", b.jpeg(), FACE)
    add("webp_named_jpg", f"{n}/really_a_webp.jpg", b.encode(b.unique(), "WEBP"), FACE)
    add("no_extension", f"{n}/no_extension", b.jpeg(), FACE)
    add("upper_case_extension", f"{n}/UPPER.JPG", b.jpeg(), FACE)
    add("name_with_spaces", f"{n}/name with  spaces .jpg", b.jpeg(), FACE)
    add("name_with_quotes", f"{n}/it's \"quoted\" `x`.jpg", b.jpeg(), FACE)
    add("name_with_newline", f"{n}/line one\nline two.jpg", b.jpeg(), FACE)
    add("name_with_tab_and_cr", f"{n}/tab\there\rcr.jpg", b.jpeg(), FACE)
    add("name_with_terminal_escape", f"{n}/\x1b[31mred\x1b[0m.jpg", b.jpeg(), FACE)
    add("name_non_latin", f"{n}/Фото 照片 صورة.jpg", b.jpeg(), FACE)
    add("name_decomposed_unicode", f"{n}/Jose\u0301.jpg", b.jpeg(), FACE)
    add("name_emoji", f"{n}/📷🙂.jpg", b.jpeg(), FACE)
    add("name_leading_dash", f"{n}/-rf --help.jpg", b.jpeg(), FACE)
    add("name_shell_and_glob_characters", f"{n}/$(echo) [a]*?;|&.jpg", b.jpeg(), FACE)
    add("name_backslash", f"{n}/back\\slash.jpg", b.jpeg(), FACE)
    add("name_csv_formula", f"{n}/=HYPERLINK(\"x\").jpg", b.jpeg(), FACE)
    add("name_255_bytes", f"{n}/{'n' * 251}.jpg", b.jpeg(), FACE)
    add("person_folder_non_latin", "Пётр_Иванов/фото.jpg", b.jpeg(), FACE)
    add("person_folder_with_spaces_and_quotes", "O'Brien \"Jr\"/photo.jpg", b.jpeg(), FACE)
    add("nested_sub_folder", f"{n}/2019/booking/photo.jpg", b.jpeg(), FACE)

    # a file name that is not UTF-8: it cannot be stored as text, so it is refused
    bad_dir = people / "Bad_Names"
    bad_dir.mkdir(parents=True)
    raw = os.fsencode(bad_dir) + b"/latin1_\xe9t\xe9_\xff.jpg"
    with open(raw, "wb") as f:
        f.write(b.jpeg())
    bad_name = os.fsdecode(raw)
    cases.append(Case("name_not_utf8", f"Bad_Names/{display_name(Path(bad_name).name)}",
                      "bad_name", None, reason="utf-8"))

    # --- links and special files ------------------------------------------------------------
    s = "Links"
    target = _write(elsewhere / "linked_target.jpg", b.jpeg())
    (people / s).mkdir(parents=True)
    (people / s / "symlink_to_photo.jpg").symlink_to(target)
    cases.append(Case("symlink_to_file", f"{s}/symlink_to_photo.jpg", FACE,
                      people / s / "symlink_to_photo.jpg"))
    (people / s / "dangling.jpg").symlink_to(elsewhere / "gone.jpg")
    cases.append(Case("dangling_symlink", f"{s}/dangling.jpg", "missing",
                      people / s / "dangling.jpg", reason="not found"))
    (people / s / "loop_a.jpg").symlink_to("loop_b.jpg")
    (people / s / "loop_b.jpg").symlink_to("loop_a.jpg")
    for name in ("loop_a.jpg", "loop_b.jpg"):
        cases.append(Case("symlink_loop_file", f"{s}/{name}", "unreadable",
                          people / s / name, reason="symbolic links"))
    (people / s / "to_itself").symlink_to(".")
    cases.append(Case("symlink_loop_folder_self", f"{s}/to_itself", "symlink_loop",
                      reason="loop"))
    (people / s / "sub").mkdir()
    (people / s / "sub" / "to_parent").symlink_to("..")
    cases.append(Case("symlink_loop_folder_parent", f"{s}/sub/to_parent", "symlink_loop",
                      reason="loop"))
    (people / s / "to_root").symlink_to(people)
    cases.append(Case("symlink_to_source_root", f"{s}/to_root", "symlink_loop",
                      reason="loop"))
    other = elsewhere / "other_folder"
    _write(other / "not_read.jpg", b.jpeg())
    (people / s / "to_other_folder").symlink_to(other)
    cases.append(Case("symlink_to_other_folder", f"{s}/to_other_folder", "not_followed",
                      reason="not followed"))
    (people / s / "dev_zero.jpg").symlink_to("/dev/zero")
    cases.append(Case("symlink_to_dev_zero", f"{s}/dev_zero.jpg", "unreadable",
                      people / s / "dev_zero.jpg", reason="not a regular file"))
    (people / s / "dev_null.jpg").symlink_to("/dev/null")
    cases.append(Case("symlink_to_dev_null", f"{s}/dev_null.jpg", "unreadable",
                      people / s / "dev_null.jpg", reason="not a regular file"))
    os.mkfifo(people / s / "named_pipe.jpg")
    cases.append(Case("named_pipe", f"{s}/named_pipe.jpg", "unreadable",
                      people / s / "named_pipe.jpg", reason="not a regular file"))
    # a person folder that is a link: followed, as the top level is the list of persons
    linked_person = elsewhere / "linked_person"
    _write(linked_person / "photo.jpg", b.jpeg())
    (people / "Linked_Person").symlink_to(linked_person)
    cases.append(Case("symlinked_person_folder", "Linked_Person/photo.jpg", FACE,
                      people / "Linked_Person" / "photo.jpg"))
    (people / "Loop_Person").symlink_to(people)
    cases.append(Case("person_folder_link_to_source", "Loop_Person", "symlink_loop",
                      reason="loop"))
    (people / "Gone_Person").symlink_to(elsewhere / "no_such_folder")
    cases.append(Case("person_folder_dangling_link", "Gone_Person", "missing",
                      reason="does not exist"))

    # --- damaged files -----------------------------------------------------------------------
    d = "Damaged"
    add("empty_file", f"{d}/empty.jpg", b"", "unreadable", reason="empty")
    add("truncated_jpeg", f"{d}/truncated.jpg", plain_jpeg[:len(plain_jpeg) // 2],
        "unreadable", reason="truncated")
    add("truncated_jpeg_in_header", f"{d}/truncated_header.jpg", plain_jpeg[:120],
        "unreadable", reason="truncated")
    add("jpeg_signature_only", f"{d}/signature_only.jpg", b"\xff\xd8\xff", "unreadable")
    add("truncated_png", f"{d}/truncated.png", png_rgb[:len(png_rgb) // 2], "unreadable",
        reason="truncated")
    segments = {m: off for m, off, _ in jpeg_segments(plain_jpeg)}
    add("bitflip_jpeg_frame_header", f"{d}/bitflip_sof.jpg",
        flip(plain_jpeg, segments[0xC0] + 9, 0xFF), "unreadable")
    add("bitflip_jpeg_marker", f"{d}/bitflip_dqt.jpg",
        flip(plain_jpeg, segments[0xDB] + 1, 0x01), "unreadable", reason="jpeg")
    add("bitflip_jpeg_huffman_table", f"{d}/bitflip_dht.jpg",
        flip(plain_jpeg, segments[0xC4] + 5, 0xFF), "unreadable")
    add("bitflip_png_header", f"{d}/bitflip_ihdr.png", flip(png_rgb, 20, 0x01),
        "unreadable", reason="png")
    add("bitflip_png_data", f"{d}/bitflip_idat.png", flip(png_rgb, len(png_rgb) // 2, 0x55),
        "unreadable")
    add("png_zero_width", f"{d}/zero_width.png",
        png_bytes(0, 10, 8, 0, [b""] * 10), "unreadable", reason="png")
    add("jpeg_zero_height", f"{d}/zero_height.jpg", jpeg_with_size(plain_jpeg, 250, 0),
        "unreadable", reason="jpeg")
    # bad files with names that could break a report: each problem stays on its line
    add("bad_file_named_with_newline", f"{d}/truncated\nsecond line.jpg", plain_jpeg[:600],
        "unreadable", reason="truncated")
    add("bad_file_named_with_terminal_escape", f"{d}/\x1b[2J\x1b[31mcleared.jpg",
        b"not an image", "unsupported")
    gif = b.encode(b.unique(), "GIF")
    add("gif_truncated", f"{d}/truncated.gif", gif[:len(gif) // 3], "unreadable")
    webp = b.encode(b.unique(), "WEBP")
    add("webp_truncated", f"{d}/truncated.webp", webp[:len(webp) // 2], "unreadable")
    tif = b.encode(b.unique(), "TIFF")
    add("tiff_truncated", f"{d}/truncated.tif", tif[:len(tif) // 2], "unreadable")

    # --- too large: refused from the header, before decoding --------------------------------
    t = "Too_Large"
    bomb = people / t / "bomb_64mp.png"
    bomb.parent.mkdir(parents=True)
    write_blank_png(bomb, 8000, 8000)
    cases.append(Case("decompression_bomb_png_64mp", f"{t}/bomb_64mp.png", "too_large",
                      bomb, reason="megapixel"))
    huge = people / t / "huge_20000x20000.png"
    write_blank_png(huge, 20000, 20000)
    cases.append(Case("png_20000x20000", f"{t}/huge_20000x20000.png", "too_large", huge,
                      reason="20000 x 20000"))
    add("jpeg_header_claims_20000x20000", f"{t}/claims_20000.jpg",
        jpeg_with_size(plain_jpeg, 20000, 20000), "too_large", reason="20000 x 20000")
    gif_big = bytearray(b.encode(b.unique(), "GIF"))
    gif_big[6:10] = struct.pack("<HH", 65535, 65535)
    add("gif_screen_65535x65535", f"{t}/huge_screen.gif", bytes(gif_big), "too_large")
    add("bmp_header_claims_30000x30000", f"{t}/huge.bmp",
        b"BM" + struct.pack("<IHHI", 0, 0, 0, 54)
        + struct.pack("<IiiHHIIiiII", 40, 30000, 30000, 1, 24, 0, 0, 0, 0, 0, 0),
        "too_large")
    add("tiff_header_claims_100000x100000", f"{t}/huge.tif", tiff_claiming(100000, 100000),
        "too_large")
    tiny = [bytes([128] * 10)] * 10
    iccp = png_chunk(b"iCCP", b"icc\x00\x00" + zlib.compress(bytes(16 << 20), 9))
    add("png_iccp_chunk_bomb", f"{t}/iccp_bomb.png", png_bytes(10, 10, 8, 0, tiny, iccp),
        "too_large")
    ztxt = png_chunk(b"zTXt", b"Comment\x00\x00" + zlib.compress(b"A" * (16 << 20), 9))
    add("png_ztxt_chunk_bomb", f"{t}/ztxt_bomb.png", png_bytes(10, 10, 8, 0, tiny, ztxt),
        "too_large")
    cases.append(Case("file_over_200mb", f"{t}/sparse_201mb.jpg", "too_large",
                      _sparse(people / t / "sparse_201mb.jpg", 201 * 1024 * 1024),
                      reason="mb"))

    # --- not images ---------------------------------------------------------------------------
    x = "Not_Images"
    add("text_named_jpg", f"{x}/notes.jpg", b"name,dob\nJohn Doe,1970-01-01\n", "unsupported")
    add("html_named_jpg", f"{x}/error_page.jpg",
        b"<!DOCTYPE html><html><body>404 Not Found</body></html>", "unsupported")
    add("random_bytes", f"{x}/random.jpg",
        np.random.default_rng(5).integers(0, 256, 4096, dtype=np.uint8).tobytes(),
        "unsupported")
    add("pdf_named_jpg", f"{x}/scan.jpg", b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF",
        "unsupported", reason="pdf")
    add("svg", f"{x}/drawing.svg",
        b'<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"/>', "unsupported")
    add("heic", f"{x}/iphone.heic",
        b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic" + bytes(200), "unsupported",
        reason="heic")
    add("mp4_named_jpg", f"{x}/clip.jpg",
        b"\x00\x00\x00\x20ftypisom\x00\x00\x02\x00isomiso2avc1mp41" + bytes(200),
        "unsupported")
    add("eps_ghostscript", f"{x}/figure.eps",
        b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 10 10\nshowpage\n", "unsupported")
    add("ico_with_a_face", f"{x}/icon.ico", b.encode(b.unique(), "ICO"), "unsupported")
    add("zip_named_jpg", f"{x}/archive.jpg", b"PK\x03\x04" + bytes(100), "unsupported")
    cases.append(Case("zero_filled_190mb", f"{x}/zeros_190mb.jpg", "unsupported",
                      _sparse(people / x / "zeros_190mb.jpg", 190 * 1024 * 1024)))

    # --- images without a face (stored, reported no_face) -------------------------------------
    f_ = "No_Face"
    add("one_pixel", f"{f_}/one_pixel.png",
        b.encode(Image.new("RGB", (1, 1), (90, 60, 40)), "PNG"), NO_FACE)
    add("one_pixel_gif", f"{f_}/one_pixel.gif",
        b.encode(Image.new("P", (1, 1), 3), "GIF"), NO_FACE)
    add("sliver_1x20000", f"{f_}/sliver.png",
        b.encode(Image.new("L", (20000, 1), 100), "PNG"), NO_FACE)
    add("sliver_20000x1", f"{f_}/sliver_tall.png",
        b.encode(Image.new("L", (1, 20000), 100), "PNG"), NO_FACE)
    add("flat_grey", f"{f_}/flat_grey.jpg",
        b.encode(Image.new("RGB", (250, 250), (128, 128, 128)), "JPEG"), NO_FACE)
    noise = np.random.default_rng(7).integers(0, 256, (250, 250, 3), dtype=np.uint8)
    add("noise", f"{f_}/noise.png", b.encode(Image.fromarray(noise), "PNG"), NO_FACE)
    add("bilevel_tiny", f"{f_}/bilevel.bmp", b.encode(Image.new("1", (16, 16), 1), "BMP"),
        NO_FACE)
    add("tiff_50000_pages", f"{f_}/many_pages.tif", tiff_pages(50_000), NO_FACE)
    add("tiff_page_loop", f"{f_}/page_loop.tif", tiff_ifd_loop(), NO_FACE)
    many = [Image.new("P", (8, 8), i % 256) for i in range(2000)]
    add("gif_2000_frames", f"{f_}/many_frames.gif",
        b.encode(many[0], "GIF", save_all=True, append_images=many[1:], duration=10),
        NO_FACE)

    # --- duplicates ---------------------------------------------------------------------------
    twin = b.jpeg()
    add("same_photo_two_names", "Twins/a_first.jpg", twin, FACE)
    add("same_photo_two_names", "Twins/b_second.jpg", twin, "duplicate",
        twin="Twins/a_first.jpg", reason="same photo")
    add("same_photo_other_person", "Twins_Other_Person/copy.jpg", twin, "duplicate",
        twin="Twins/a_first.jpg", reason="person")

    # --- not items: hidden files, files beside the person folders ------------------------------
    add("hidden_file", "Hidden/.hidden.jpg", b.jpeg(), IGNORED)
    add("appledouble_file", "Hidden/._photo.jpg", b"\x00\x05\x16\x07" + bytes(80), IGNORED)
    add("hidden_folder", "Hidden/.thumbnails/thumb.jpg", b.jpeg(), IGNORED)
    add("photo_beside_person_folders", "stray.jpg", b.jpeg(), "not_in_person_folder")
    add("text_beside_person_folders", "README.txt", b"one folder per person\n", IGNORED)
    add("empty_person_folder", "Empty_Person/.keep", b"", IGNORED)

    # --- permissions (root reads any file: only built for other users) -----------------------
    if _is_root():
        for kind in PERMISSION_KINDS:
            skipped[kind] = ("running as root, which reads any file whatever its "
                             "permissions: an unreadable file cannot be made here")
    else:
        p = add("unreadable_file_permissions", "Permissions/locked.jpg", b.jpeg(),
                "unreadable", reason="permission")
        p.chmod(0)
        locked = people / "Permissions" / "locked_folder"
        _write(locked / "inside.jpg", b.jpeg())
        locked.chmod(0)
        cases.append(Case("unreadable_folder_permissions", "Permissions/locked_folder",
                          "unreadable", reason="permission"))

    manifests = _build_manifests(b, root)
    return Corpus(root=root, people=people, people_cases=cases, manifests=manifests,
                  skipped=skipped)


def restore_permissions(corpus: Corpus) -> None:
    """Make every file of the corpus deletable again (pytest cleans tmp_path)."""
    for dirpath, dirnames, filenames in os.walk(corpus.root):
        for name in dirnames + filenames:
            p = Path(dirpath) / name
            if not p.is_symlink() and p.exists():
                mode = p.stat().st_mode
                if stat.S_IMODE(mode) == 0:
                    p.chmod(0o700 if stat.S_ISDIR(mode) else 0o600)


# --- manifests -------------------------------------------------------------------------------


class _Rows:
    """Lines of a manifest with their line numbers and expected cases."""

    def __init__(self, folder: Path, name: str, header: str) -> None:
        self.folder = folder
        self.name = name
        self.lines: list[str] = [header]
        self.cases: list[Case] = []

    @property
    def next_line(self) -> int:
        return sum(chunk.count("\n") + 1 for chunk in self.lines) + 1

    def row(self, text: str, case: tuple[str, str, str] | None = None, *,
            path: Path | None = None, twin_line: int | None = None,
            twin: str | None = None, reason: str | None = None) -> int:
        """Add `text` (one row, may span lines); `case` = (kind, display, outcome), with
        display None meaning '<manifest>:<line>'."""
        line = self.next_line
        self.lines.append(text)
        if case is not None:
            kind, display, outcome = case
            self.cases.append(Case(kind, display or f"{self.name}:{line}", outcome, path,
                                   line=line, twin=twin, twin_line=twin_line,
                                   reason=reason))
        return line

    def text(self, newline: str = "\n") -> str:
        return newline.join(self.lines) + newline


def _build_manifests(b: _Builder, root: Path) -> list[ManifestCase]:
    folder = root / "booking"
    photos = folder / "photos"
    outside = root / "outside"
    out: list[ManifestCase] = []

    def photo(name: str, data: bytes | None = None) -> Path:
        return _write(photos / name, data if data is not None else b.jpeg())

    outside_photo = _write(outside / "outside.jpg", b.jpeg())
    r = _Rows(folder, "manifest.csv", "path,person_id,name,notes")
    m = "manifest_main"
    good = photo("m_good.jpg")
    good_line = r.row("photos/m_good.jpg,M01,Good Row,", ("manifest_good_row",
                      "photos/m_good.jpg", FACE), path=good)
    r.row("photos/m_comma_name.jpg,M02,\"Doe, Jane\",",
          ("quoted_comma_in_name", "photos/m_comma_name.jpg", FACE),
          path=photo("m_comma_name.jpg"))
    r.row("\"photos/m_a,b.jpg\",M03,,", ("quoted_comma_in_path", "photos/m_a,b.jpg", FACE),
          path=photo("m_a,b.jpg"))
    r.row("photos/m_multiline.jpg,M04,Multi,\"first line\nsecond, line\"",
          ("quoted_newline_in_field", "photos/m_multiline.jpg", FACE),
          path=photo("m_multiline.jpg"))
    r.row("\"photos/m_\"\"q\"\".jpg\",M05,\"Said \"\"hi\"\"\",",
          ("escaped_quotes", 'photos/m_"q".jpg', FACE), path=photo('m_"q".jpg'))
    r.row("  photos/m_padded.jpg  ,  M06  ,Padded,",
          ("padded_fields", "photos/m_padded.jpg", FACE), path=photo("m_padded.jpg"))
    r.row("\"photos/m_new\nline.jpg\",M07,,",
          ("newline_in_path", "photos/m_new\nline.jpg", FACE), path=photo("m_new\nline.jpg"))
    r.row("photos/m_extra.jpg,M08,Extra,,surplus", ("extra_fields", None, "bad_row"),
          reason="5 fields")
    photo("m_extra.jpg")
    r.row("photos/m_short.jpg,M09", ("missing_fields", None, "bad_row"), reason="2 fields")
    photo("m_short.jpg")
    r.row("photos/m_good.jpg,,Nobody,", ("empty_person_id", None, "bad_row"),
          reason="person_id")
    r.row(",M10,,", ("empty_path", None, "bad_row"), reason="path")
    r.row("")  # blank line: skipped
    r.row("   ,  ,  ,  ")  # blank cells only: skipped
    r.row("photos/m_good.jpg,M01,Good Row,", ("duplicate_row", "photos/m_good.jpg",
                                              "duplicate"), path=good,
          twin="photos/m_good.jpg", twin_line=good_line, reason="same photo")
    r.row("photos/m_good.jpg,M99,Someone Else,",
          ("same_file_two_persons", "photos/m_good.jpg", "duplicate"), path=good,
          twin="photos/m_good.jpg", twin_line=good_line, reason="person")
    twin_data = b.jpeg()
    twin_a = r.row("photos/m_twin_a.jpg,M11,,", ("manifest_same_photo_two_names",
                   "photos/m_twin_a.jpg", FACE), path=photo("m_twin_a.jpg", twin_data))
    r.row("photos/m_twin_b.jpg,M12,,", ("manifest_same_photo_two_names",
          "photos/m_twin_b.jpg", "duplicate"), path=photo("m_twin_b.jpg", twin_data),
          twin="photos/m_twin_a.jpg", twin_line=twin_a, reason="same photo")
    r.row("../outside/outside.jpg,M13,,",
          ("path_escapes_with_dotdot", "../outside/outside.jpg", "outside_folder"),
          reason="outside")
    r.row(f"{outside_photo},M14,,", ("absolute_path_outside", str(outside_photo),
                                     "outside_folder"), reason="outside")
    (photos / "link_out.jpg").symlink_to(outside_photo)
    r.row("photos/link_out.jpg,M15,,", ("symlink_escapes_folder", "photos/link_out.jpg",
                                        "outside_folder"), reason="outside")
    r.row("photos/../photos/m_dotdot.jpg,M16,,",
          ("dotdot_inside_folder", "photos/../photos/m_dotdot.jpg", FACE),
          path=photo("m_dotdot.jpg"))
    absolute = photo("m_absolute.jpg").resolve()
    r.row(f"{absolute},M17,,", ("absolute_path_inside", str(absolute), FACE), path=absolute)
    r.row("photos/does_not_exist.jpg,M18,,",
          ("missing_file", "photos/does_not_exist.jpg", "missing"), reason="not found")
    r.row("photos,M19,,", ("path_is_a_folder", "photos", "unreadable"), reason="folder")
    r.row("photos/m_nul\x00.jpg,M20,,", ("nul_in_path", None, "bad_row"), reason="nul")
    r.row("photos/m_long_field.jpg,M21," + "N" * 200_000 + ",",
          ("oversized_field", None, "bad_row"), reason="field")
    photo("m_long_field.jpg")
    r.row("photos\\m_backslash.jpg,M22,,",
          ("windows_backslash_path", "photos\\m_backslash.jpg", FACE),
          path=photo("m_backslash.jpg"))
    r.row("photos/Фото_照片.jpg,M23,Пётр Иванов,",
          ("non_latin_path_and_name", "photos/Фото_照片.jpg", FACE),
          path=photo("Фото_照片.jpg"))
    r.row("photos/m with spaces.jpg,M24,,",
          ("path_with_spaces", "photos/m with spaces.jpg", FACE),
          path=photo("m with spaces.jpg"))
    r.row("photos/m_formula.jpg,M25,\"=HYPERLINK(\"\"http://x\"\")\",@SUM(1)",
          ("formula_in_cells", "photos/m_formula.jpg", FACE), path=photo("m_formula.jpg"))
    r.row("photos/m_truncated.jpg,M26,,", ("row_to_truncated_photo", "photos/m_truncated.jpg",
                                          "unreadable"), reason="truncated")
    photo("m_truncated.jpg", b.jpeg()[:3000])
    r.row("photos/m_text.jpg,M27,,", ("row_to_non_image", "photos/m_text.jpg",
                                     "unsupported"))
    photo("m_text.jpg", b"not an image\n")
    grey = photo("m_grey.png", b.encode(Image.new("L", (200, 200), 128), "PNG"))
    r.row("photos/m_grey.png,M28,,", ("row_to_photo_without_face", "photos/m_grey.png",
                                     NO_FACE), path=grey)
    os.mkfifo(photos / "m_fifo.jpg")
    r.row("photos/m_fifo.jpg,M29,,", ("row_to_named_pipe", "photos/m_fifo.jpg",
                                     "unreadable"), reason="not a regular file")
    r.row("photos/m_last.jpg,M30,Last Row,no newline at the end",
          ("last_row_without_newline", "photos/m_last.jpg", FACE),
          path=photo("m_last.jpg"))
    main = folder / "manifest.csv"
    main.write_bytes(b"\xef\xbb\xbf" + r.text().rstrip("\n").encode("utf-8"))
    out.append(ManifestCase(m, main, r.cases,
                            names={"M02": "Doe, Jane", "M05": 'Said "hi"',
                                   "M06": "Padded", "M23": "Пётр Иванов",
                                   "M25": '=HYPERLINK("http://x")'}))

    # --- one manifest per whole-file kind -----------------------------------------------------
    def small(kind: str, name: str, header: str, sep: str, person: str,
              person_name: str = "", newline: str = "\n",
              encoding: str = "utf-8") -> ManifestCase:
        rows = _Rows(folder, name, header)
        p = photo(f"{kind}.jpg")
        rows.row(sep.join([f"photos/{kind}.jpg", person, person_name]),
                 (kind, f"photos/{kind}.jpg", FACE), path=p)
        csv_path = folder / name
        csv_path.write_bytes(rows.text(newline).encode(encoding))
        return ManifestCase(kind, csv_path, rows.cases,
                            names={person: person_name} if person_name else {})

    out.append(small("manifest_utf16_tab_crlf", "excel_unicode.txt",
                     "path\tperson_id\tname", "\t", "U1", "Zoë Ångström", "\r\n", "utf-16"))
    out.append(small("manifest_cp1252", "latin.csv", "path,person_id,name", ",", "W1",
                     "José Müller", encoding="cp1252"))
    out.append(small("manifest_semicolon", "semicolon.csv", "path;person_id;name", ";",
                     "S1", "Semi Colon"))
    out.append(small("manifest_crlf", "crlf.csv", "path,person_id,name", ",", "C1",
                     "Carriage Return", "\r\n"))
    out.append(small("manifest_cr_only", "old_mac.csv", "path,person_id,name", ",", "R1",
                     "Old Mac", "\r"))
    out.append(small("manifest_extra_columns", "extra_columns.csv",
                     "Path,Person_ID,name,sex,race,dob,,", ",", "E1", "Extra Columns,F,,,,"))
    # every column is kept as metadata; the name is what the column says
    out[-1].names = {"E1": "Extra Columns"}

    header_only = folder / "header_only.csv"
    header_only.write_text("path,person_id,name\n", encoding="utf-8")
    out.append(ManifestCase("manifest_header_only", header_only))

    # an unclosed quote swallows the following lines into one row: reported, with the
    # lines it covers; the rows after the quote closes are read again as usual
    u = _Rows(folder, "unclosed_quote.csv", "path,person_id,name")
    photo("u1.jpg")
    photo("u2.jpg")
    photo("u3.jpg")
    u.row("photos/u1.jpg,Q1,\"Unclosed\nphotos/u2.jpg,Q2,ok\nphotos/u3.jpg,Q3,\"closed\"",
          ("manifest_unclosed_quote", None, "bad_row"), reason="quote")
    u.row("photos/u4.jpg,Q4,after", ("row_after_unclosed_quote", "photos/u4.jpg", FACE),
          path=photo("u4.jpg"))
    (folder / u.name).write_text(u.text(), encoding="utf-8")
    out.append(ManifestCase("manifest_unclosed_quote", folder / u.name, u.cases))

    def refused(kind: str, name: str, data: bytes, error: str) -> None:
        p = folder / name
        p.write_bytes(data)
        out.append(ManifestCase(kind, p, error=error))

    refused("manifest_missing_required_columns", "no_person.csv",
            b"path,name\nphotos/m_good.jpg,X\n", "missing required column")
    refused("manifest_duplicate_columns", "dup_columns.csv",
            b"path,person_id,path\nphotos/m_good.jpg,X,y\n", "more than once")
    refused("manifest_empty", "empty.csv", b"", "empty")
    refused("manifest_blank_lines_only", "blank.csv", b"\n\n\n", "missing required column")
    refused("manifest_binary", "photo_named.csv", b.jpeg(), "not a text file")
    refused("manifest_nul_bytes", "nul.csv", b"path,person_id\x00\x00\x00\nx,y\n",
            "not a text file")
    (folder / "folder.csv").mkdir()
    out.append(ManifestCase("manifest_is_a_folder", folder / "folder.csv", error="folder"))
    os.mkfifo(folder / "pipe.csv")
    out.append(ManifestCase("manifest_is_a_named_pipe", folder / "pipe.csv",
                            error="not a regular file"))
    out.append(ManifestCase("manifest_missing", folder / "no_such.csv", error="not found"))
    return out
