"""Tests of fakescope.images: intake, validation, decoding to RGB, JPEG quality, drift features.

Every input is built here with PIL/numpy (or crafted byte by byte): no binary fixtures.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import struct
import threading
import time
import zipfile
import zlib
from pathlib import Path

import numpy as np
import pytest
from hostile_corpus import encode
from hostile_corpus import photo as photo_image
from PIL import Image, ImageFile

from fakescope.config import Settings
from fakescope.errors import ConfigError, FakeScopeError, InvalidImageError
from fakescope.images import (
    ACCEPTED_FORMATS,
    FEATURE_MAX_SIDE,
    FEATURE_NAMES,
    PROCESS_PIXELS,
    BatchPixels,
    LoadedImage,
    PixelBudget,
    compute_features,
    detect_format,
    estimate_jpeg_quality,
    feature_copy,
    load_image,
)

pytestmark = pytest.mark.unit

ACCEPTED_SENTENCE = "Accepted: JPEG, PNG, WebP, BMP, TIFF or GIF images"
LOSSLESS_OPTIONS = {"PNG": {}, "BMP": {}, "TIFF": {}, "WEBP": {"lossless": True}}


# --------------------------------------------------------------------------------------------
# Helpers: every input is made here
# --------------------------------------------------------------------------------------------


# An RGB image with gradients and noise (every channel and position differs), and its encoding:
# the same builders as the hostile corpus's.
make_photo = photo_image


def png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def png_header_only(width: int, height: int) -> bytes:
    """A PNG whose valid IHDR (correct CRC) claims width x height, with no pixel data at all."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr) + png_chunk(b"IEND", b"")


def pixels(loaded: LoadedImage) -> np.ndarray:
    return np.asarray(loaded.image, dtype=np.int16)


def assert_rejected(
    source: object, reason: str, match: str, settings: Settings | None = None
) -> InvalidImageError:
    """``source`` is rejected with ``reason``; the message says the problem and what is accepted."""
    with pytest.raises(InvalidImageError, match=match) as caught:
        load_image(source, settings)  # type: ignore[arg-type]
    error = caught.value
    assert error.reason == reason
    message = str(error)
    assert ACCEPTED_SENTENCE in message
    limits = settings or Settings()
    assert f"{limits.max_file_bytes / 1_000_000:g} MB" in message
    assert f"{limits.max_pixels:,} pixels" in message
    assert f"at least {limits.min_side} px" in message
    return error


@pytest.fixture
def photo() -> Image.Image:
    return make_photo()


# --------------------------------------------------------------------------------------------
# Format detection
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ACCEPTED_FORMATS)
def test_detect_format_recognises_each_accepted_format(photo: Image.Image, fmt: str) -> None:
    assert detect_format(encode(photo, fmt)) == fmt


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"%PDF-1.7\n",
        b"hello world",
        b"BM is not a bitmap just because it starts with BM",
        b"RIFF\x10\x00\x00\x00WAVEfmt ",
        b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00",
    ],
)
def test_detect_format_returns_none_for_non_images(data: bytes) -> None:
    assert detect_format(data) is None


# --------------------------------------------------------------------------------------------
# Accepted formats and input kinds
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", sorted(LOSSLESS_OPTIONS))
def test_load_image_lossless_formats_keep_exact_pixels(photo: Image.Image, fmt: str) -> None:
    data = encode(photo, fmt, **LOSSLESS_OPTIONS[fmt])

    loaded = load_image(data)

    assert loaded.format == fmt
    assert loaded.image.mode == "RGB"
    assert (loaded.width, loaded.height) == (96, 64)
    assert loaded.image.size == (96, 64)
    assert loaded.size_bytes == len(data)
    assert loaded.sha256 == hashlib.sha256(data).hexdigest()
    assert loaded.jpeg_quality is None
    assert loaded.name is None
    np.testing.assert_array_equal(np.asarray(loaded.image), np.asarray(photo))


def test_load_image_jpeg_decodes_like_pillow(photo: Image.Image) -> None:
    data = encode(photo, "JPEG", quality=95)

    loaded = load_image(data)

    assert loaded.format == "JPEG"
    assert loaded.image.mode == "RGB"
    assert loaded.jpeg_quality == 95.0
    reference = np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))
    np.testing.assert_array_equal(np.asarray(loaded.image), reference)


def test_load_image_gif_is_decoded_to_rgb(photo: Image.Image) -> None:
    loaded = load_image(encode(photo, "GIF"))

    assert loaded.format == "GIF"
    assert loaded.image.mode == "RGB"
    assert loaded.image.size == (96, 64)
    # GIF keeps at most 256 colours: close to the original, not equal.
    assert np.abs(pixels(loaded) - np.asarray(photo, dtype=np.int16)).mean() < 20


def test_load_image_jpeg_named_txt_is_a_jpeg(tmp_path: Path, photo: Image.Image) -> None:
    path = tmp_path / "x.txt"
    path.write_bytes(encode(photo, "JPEG"))

    loaded = load_image(path)

    assert loaded.format == "JPEG"
    assert loaded.name == str(path)


def test_load_image_png_named_jpg_is_a_png(tmp_path: Path, photo: Image.Image) -> None:
    path = tmp_path / "holiday.jpg"
    path.write_bytes(encode(photo, "PNG"))

    assert load_image(str(path)).format == "PNG"


def test_load_image_path_and_bytes_give_the_same_result(tmp_path: Path, photo: Image.Image) -> None:
    data = encode(photo, "PNG")
    path = tmp_path / "photo.png"
    path.write_bytes(data)

    from_path = load_image(path)
    from_str = load_image(str(path), name="shown.png")
    from_bytes = load_image(data)

    assert from_path.sha256 == from_str.sha256 == from_bytes.sha256
    assert from_path.size_bytes == len(data)
    assert from_str.name == "shown.png"
    np.testing.assert_array_equal(np.asarray(from_path.image), np.asarray(from_bytes.image))


def test_load_image_accepts_bytearray_and_file_like(photo: Image.Image) -> None:
    data = encode(photo, "PNG")
    stream = io.BytesIO(data)
    stream.name = "upload.png"  # type: ignore[attr-defined]

    from_stream = load_image(stream)
    from_bytearray = load_image(bytearray(data))

    assert from_stream.name == "upload.png"
    assert from_stream.sha256 == from_bytearray.sha256 == hashlib.sha256(data).hexdigest()


def test_load_image_pil_input_is_hashed_canonically_and_copied(photo: Image.Image) -> None:
    before = np.asarray(photo).copy()

    loaded = load_image(photo)

    expected = hashlib.sha256(b"RGB:96x64:" + photo.tobytes()).hexdigest()
    assert loaded.sha256 == expected
    assert loaded.format == "PNG"  # an in-memory image has no format of its own
    assert loaded.size_bytes == 0
    assert loaded.name is None
    assert loaded.image is not photo
    photo.putpixel((0, 0), (1, 2, 3))
    np.testing.assert_array_equal(np.asarray(loaded.image), before)


def test_load_image_pil_hash_changes_with_one_pixel(photo: Image.Image) -> None:
    first = load_image(photo).sha256
    same = load_image(photo.copy()).sha256
    changed = photo.copy()
    changed.putpixel((5, 5), (0, 0, 0) if photo.getpixel((5, 5)) != (0, 0, 0) else (9, 9, 9))

    assert first == same
    assert load_image(changed).sha256 != first


def test_load_image_pil_opened_jpeg_keeps_format_and_quality(photo: Image.Image) -> None:
    opened = Image.open(io.BytesIO(encode(photo, "JPEG", quality=90)))

    loaded = load_image(opened, name="camera.jpg")

    assert loaded.format == "JPEG"
    assert loaded.jpeg_quality == 90.0
    assert loaded.name == "camera.jpg"


def test_load_image_pil_grayscale_is_converted_without_touching_the_input() -> None:
    gray = Image.new("L", (40, 40), 77)

    loaded = load_image(gray)

    assert gray.mode == "L"
    assert loaded.image.mode == "RGB"
    assert loaded.image.getpixel((3, 3)) == (77, 77, 77)
    assert loaded.sha256 == hashlib.sha256(b"L:40x40:" + bytes([77]) * 40 * 40 * 3).hexdigest()


# --------------------------------------------------------------------------------------------
# Colour modes
# --------------------------------------------------------------------------------------------


def test_load_image_palette_png_is_converted_exactly() -> None:
    palette = Image.new("P", (40, 40), 1)
    palette.putpalette([10, 20, 30, 200, 100, 50] + [0, 0, 0] * 254)

    loaded = load_image(encode(palette, "PNG"))

    assert loaded.image.getpixel((5, 5)) == (200, 100, 50)


@pytest.mark.parametrize("fmt", ["PNG", "GIF"])
def test_load_image_palette_with_transparency_is_composited_on_white(fmt: str) -> None:
    palette = Image.new("P", (40, 40), 0)
    palette.putpalette([10, 20, 30, 200, 100, 50] + [0, 0, 0] * 254)
    palette.paste(1, (0, 0, 20, 40))  # left half opaque colour 1, right half transparent index 0

    loaded = load_image(encode(palette, fmt, transparency=0))

    assert loaded.image.getpixel((5, 5)) == (200, 100, 50)
    assert loaded.image.getpixel((30, 5)) == (255, 255, 255)


def test_load_image_grayscale_l_is_replicated_to_rgb() -> None:
    loaded = load_image(encode(Image.new("L", (40, 40), 123), "PNG"))

    assert loaded.image.mode == "RGB"
    assert loaded.image.getpixel((0, 0)) == (123, 123, 123)


@pytest.mark.parametrize("fmt", ["PNG", "BMP", "TIFF"])
def test_load_image_one_bit_is_black_and_white(fmt: str) -> None:
    bilevel = Image.new("1", (40, 40), 0)
    bilevel.paste(1, (20, 0, 40, 40))

    loaded = load_image(encode(bilevel, fmt))

    assert loaded.image.getpixel((5, 5)) == (0, 0, 0)
    assert loaded.image.getpixel((30, 5)) == (255, 255, 255)


@pytest.mark.parametrize("fmt", ["PNG", "TIFF"])
def test_load_image_16_bit_is_scaled_not_clipped(fmt: str) -> None:
    values = np.full((40, 40), 40000, dtype=np.uint16)
    values[:, 20:] = 65535
    sixteen = Image.fromarray(values)
    assert sixteen.mode == "I;16"

    loaded = load_image(encode(sixteen, fmt))

    assert loaded.image.getpixel((5, 5)) == (156, 156, 156)  # round(40000 / 257)
    assert loaded.image.getpixel((30, 5)) == (255, 255, 255)


def test_load_image_32_bit_integer_in_16_bit_range_is_scaled() -> None:
    wide = Image.fromarray(np.full((40, 40), 40000, dtype=np.int32))
    assert wide.mode == "I"

    loaded = load_image(encode(wide, "TIFF"))

    assert loaded.image.getpixel((0, 0)) == (156, 156, 156)


def test_load_image_32_bit_integer_in_8_bit_range_is_kept() -> None:
    wide = Image.fromarray(np.full((40, 40), 200, dtype=np.int32))

    assert load_image(wide).image.getpixel((0, 0)) == (200, 200, 200)


@pytest.mark.parametrize(("value", "expected"), [(0.25, 64), (1.0, 255), (100.0, 100)])
def test_load_image_float_images_are_scaled_from_0_1_or_clipped(
    value: float, expected: int
) -> None:
    floating = Image.fromarray(np.full((40, 40), value, dtype=np.float32))
    assert floating.mode == "F"

    loaded = load_image(encode(floating, "TIFF"))

    assert loaded.image.getpixel((0, 0)) == (expected,) * 3


@pytest.mark.parametrize("fmt", ["TIFF", "JPEG"])
def test_load_image_cmyk_is_converted(fmt: str) -> None:
    cmyk = Image.new("CMYK", (40, 40), (0, 255, 255, 0))  # no cyan, full magenta + yellow: red

    loaded = load_image(encode(cmyk, fmt))

    red, green, blue = loaded.image.getpixel((5, 5))
    assert red >= 250 and green <= 5 and blue <= 5


def test_load_image_la_alpha_is_composited_on_white() -> None:
    gray_alpha = Image.new("LA", (40, 40), (60, 255))
    gray_alpha.paste((60, 0), (20, 0, 40, 40))

    loaded = load_image(encode(gray_alpha, "PNG"))

    assert loaded.image.getpixel((5, 5)) == (60, 60, 60)
    assert loaded.image.getpixel((30, 5)) == (255, 255, 255)


@pytest.mark.parametrize("fmt", ["PNG", "WEBP", "TIFF"])
def test_load_image_rgba_alpha_is_composited_on_white(fmt: str) -> None:
    rgba = Image.new("RGBA", (40, 40), (200, 0, 0, 255))
    rgba.paste((0, 0, 0, 0), (20, 0, 40, 20))  # transparent black must not show as black
    rgba.paste((200, 0, 0, 128), (20, 20, 40, 40))
    options = {"lossless": True} if fmt == "WEBP" else {}

    loaded = load_image(encode(rgba, fmt, **options))

    assert loaded.image.getpixel((5, 5)) == (200, 0, 0)
    assert loaded.image.getpixel((30, 5)) == (255, 255, 255)
    # 50 % red over white: 200 * 128/255 + 255 * 127/255, and 255 * 127/255 for G and B.
    red, green, blue = loaded.image.getpixel((30, 30))
    assert abs(red - 227) <= 1 and abs(green - 127) <= 1 and abs(blue - 127) <= 1


# --------------------------------------------------------------------------------------------
# Orientation, frames, draft decoding
# --------------------------------------------------------------------------------------------


def oriented_jpeg(width: int, height: int, orientation: int) -> bytes:
    """A JPEG stored width x height with a red top band, the rest blue, and an EXIF orientation."""
    stored = Image.new("RGB", (width, height), (0, 0, 255))
    stored.paste((255, 0, 0), (0, 0, width, height // 4))
    exif = Image.Exif()
    exif[0x0112] = orientation
    return encode(stored, "JPEG", quality=95, exif=exif.tobytes())


def test_load_image_applies_exif_orientation_6() -> None:
    # Orientation 6: the stored image must be turned 90 degrees clockwise to be shown upright,
    # so the stored top band ends up on the right.
    loaded = load_image(oriented_jpeg(80, 48, orientation=6))

    assert loaded.image.size == (48, 80)
    assert (loaded.width, loaded.height) == (48, 80)
    red, _, blue = loaded.image.getpixel((46, 40))
    assert red > 200 and blue < 60
    red, _, blue = loaded.image.getpixel((2, 40))
    assert red < 60 and blue > 200


def test_load_image_orientation_1_keeps_the_stored_layout() -> None:
    loaded = load_image(oriented_jpeg(80, 48, orientation=1))

    assert loaded.image.size == (80, 48)
    assert loaded.image.getpixel((40, 2))[0] > 200


@pytest.mark.parametrize("fmt", ["GIF", "WEBP", "TIFF", "PNG"])
def test_load_image_animation_gives_first_frame(fmt: str) -> None:
    frames = [Image.new("RGB", (40, 40), colour) for colour in ((255, 0, 0), (0, 255, 0))]
    data = encode(frames[0], fmt, save_all=True, append_images=frames[1:])
    assert getattr(Image.open(io.BytesIO(data)), "n_frames", 1) == 2

    loaded = load_image(data)

    red, green, blue = loaded.image.getpixel((20, 20))
    assert red >= 250 and green <= 5 and blue <= 5


def test_load_image_draft_size_reduces_jpeg_decode_but_keeps_original_size() -> None:
    data = encode(make_photo(1600, 1200), "JPEG")

    loaded = load_image(data, draft_size=(224, 224))

    # 1200 // 224 = 5 -> the largest DCT scale <= 5 is 1/4.
    assert loaded.image.size == (400, 300)
    assert (loaded.width, loaded.height) == (1600, 1200)
    assert loaded.sha256 == hashlib.sha256(data).hexdigest()


def test_load_image_draft_size_follows_exif_orientation() -> None:
    # Stored 1600x800, shown 800x1600. The caller asks in shown terms (224 wide, 448 high);
    # the decoder gets (448, 224) and may use scale 1/2. Without the swap it could not reduce.
    loaded = load_image(oriented_jpeg(1600, 800, orientation=6), draft_size=(224, 448))

    assert loaded.image.size == (400, 800)
    assert (loaded.width, loaded.height) == (800, 1600)


def test_load_image_draft_size_is_ignored_for_png(photo: Image.Image) -> None:
    loaded = load_image(encode(photo, "PNG"), draft_size=(32, 32))

    assert loaded.image.size == (96, 64)


# --------------------------------------------------------------------------------------------
# Rejections
# --------------------------------------------------------------------------------------------


def test_load_image_rejects_empty_bytes() -> None:
    assert_rejected(b"", "empty", r"The input is empty \(0 bytes\)")


def test_load_image_rejects_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "empty.jpg"
    path.write_bytes(b"")

    assert_rejected(path, "empty", r"empty\.jpg' is empty \(0 bytes\)")


def test_load_image_rejects_bytes_over_the_size_limit(photo: Image.Image) -> None:
    data = encode(photo, "PNG")
    settings = Settings(max_file_bytes=1024)
    assert len(data) > 1024

    assert_rejected(data, "too_large", r"too large \(.* KB; the limit is 1\.0 KB\)", settings)


def test_load_image_checks_a_path_size_before_reading(tmp_path: Path) -> None:
    path = tmp_path / "huge.jpg"
    with open(path, "wb") as handle:
        handle.truncate(30_000_000)  # sparse: 30 MB of size, no disk used

    # The exact size in the message comes from the file size: the file was not read.
    assert_rejected(path, "too_large", r"huge\.jpg' is too large \(30\.0 MB; the limit is 20\.0 MB")


def test_load_image_reads_at_most_the_limit_from_a_stream() -> None:
    stream = io.BytesIO(b"\xff\xd8\xff" + b"\x00" * 5000)

    assert_rejected(
        stream, "too_large", r"too large \(more than 1\.0 KB", Settings(max_file_bytes=1024)
    )


def test_load_image_rejects_a_header_claiming_100000_by_100000() -> None:
    # 10^10 pixels: past Pillow's own bomb limit, so Pillow refuses it while opening.
    error = assert_rejected(
        png_header_only(100_000, 100_000), "too_many_pixels", r"claims 10,000,000,000 pixels"
    )
    assert "decompression bomb" in str(error)


def test_load_image_rejects_a_header_in_pillows_warning_range(recwarn: object) -> None:
    # 10^8 pixels: Pillow only warns (DecompressionBombWarning); we must reject, not warn.
    assert_rejected(png_header_only(10_000, 10_000), "too_many_pixels", r"10000x10000")
    assert len(recwarn) == 0  # type: ignore[arg-type]


def test_load_image_checks_pixels_before_decoding() -> None:
    # A header-only PNG would fail as corrupt if it were decoded: the limit must come first.
    settings = Settings(max_pixels=1_000_000)

    assert_rejected(
        png_header_only(5000, 5000),
        "too_many_pixels",
        r"5000x5000 \(25,000,000 pixels\), more than the limit of 1,000,000",
        settings,
    )


def test_load_image_rejects_pil_input_over_the_pixel_limit(photo: Image.Image) -> None:
    assert_rejected(photo, "too_many_pixels", r"96x64", Settings(max_pixels=1000))


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "GIF", "BMP", "TIFF", "WEBP"])
def test_load_image_rejects_truncated_data(photo: Image.Image, fmt: str) -> None:
    data = encode(photo, fmt)

    assert_rejected(data[: len(data) // 2], "truncated", r"The \w+ data is truncated")
    assert ImageFile.LOAD_TRUNCATED_IMAGES is False


def test_load_image_rejects_tiff_cut_inside_its_first_directory(photo: Image.Image) -> None:
    # Pillow calls this corrupt EXIF; the directory that runs past the end says truncated.
    assert_rejected(encode(photo, "TIFF")[:40], "truncated", r"The TIFF data is truncated")


def test_load_image_rejects_png_with_a_broken_header(photo: Image.Image) -> None:
    data = bytearray(encode(photo, "PNG"))
    data[29] ^= 0xFF  # a byte of the IHDR checksum

    assert_rejected(bytes(data), "corrupt", r"The PNG data is corrupt")


def test_load_image_rejects_tiff_with_a_bad_first_directory() -> None:
    # A complete little-endian TIFF header whose only directory is 3 entries of nonsense tags.
    directory = struct.pack("<H", 3) + b"\xff" * 36 + struct.pack("<I", 0)
    data = b"II*\x00" + struct.pack("<I", 8) + directory

    assert_rejected(data, "corrupt", r"The TIFF data is corrupt")


@pytest.mark.parametrize(
    ("data", "looks_like"),
    [
        (b"%PDF-1.7\n1 0 obj << /Type /Catalog >> endobj\n", "a PDF document"),
        (
            b'<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg" width="10"/>',
            "an SVG vector drawing",
        ),
        (b"<!DOCTYPE html><html><body><img src=x.jpg></body></html>", "an HTML page"),
        (b"just some words, not a picture\n", "plain text"),
        (b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic", "a HEIC/HEIF photo"),
    ],
)
def test_load_image_rejects_non_images_and_says_what_they_look_like(
    data: bytes, looks_like: str
) -> None:
    assert_rejected(data, "unsupported_type", rf"it looks like {looks_like}")


def test_load_image_rejects_a_zip_archive(photo: Image.Image) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("photo.png", encode(photo, "PNG"))

    assert_rejected(buffer.getvalue(), "unsupported_type", r"looks like a ZIP archive")


def test_load_image_rejects_a_gzipped_image(photo: Image.Image) -> None:
    data = gzip.compress(encode(photo, "PNG"))

    assert_rejected(data, "unsupported_type", r"looks like a gzip-compressed file")


def test_load_image_rejects_random_bytes() -> None:
    data = np.random.default_rng(7).integers(0, 256, 4096, dtype=np.uint8).tobytes()

    assert_rejected(data, "unsupported_type", r"unrecognised binary data")


def test_load_image_rejects_an_unsupported_source_type() -> None:
    assert_rejected(
        12345, "unsupported_type", r"from an int: give encoded image bytes .* or a PIL image"
    )


def test_load_image_rejects_images_below_the_minimum_side() -> None:
    assert_rejected(
        encode(make_photo(20, 50), "PNG"), "too_small", r"20x50 pixels, too small to judge"
    )


def test_load_image_accepts_small_images_when_min_side_is_lowered() -> None:
    loaded = load_image(encode(make_photo(20, 50), "PNG"), Settings(min_side=8))

    assert loaded.image.size == (20, 50)


def test_load_image_rejects_a_missing_path(tmp_path: Path) -> None:
    assert_rejected(tmp_path / "nope.png", "unreadable", r"nope\.png': no such file")


def test_load_image_rejects_a_folder(tmp_path: Path) -> None:
    assert_rejected(tmp_path, "unreadable", r"it is a folder")


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs named pipes")
def test_load_image_rejects_a_fifo_without_blocking(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe.png"
    os.mkfifo(fifo)

    assert_rejected(fifo, "unreadable", r"not a regular file")


def test_invalid_image_error_is_a_fakescope_error() -> None:
    with pytest.raises(FakeScopeError):
        load_image(b"not an image")


def test_load_image_leaves_pillow_guards_unchanged() -> None:
    limit = Image.MAX_IMAGE_PIXELS
    with pytest.raises(InvalidImageError):
        load_image(png_header_only(100_000, 100_000))

    assert Image.MAX_IMAGE_PIXELS == limit is not None
    assert ImageFile.LOAD_TRUNCATED_IMAGES is False


# --------------------------------------------------------------------------------------------
# JPEG quality
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("quality", [50, 75, 90, 95])
def test_estimate_jpeg_quality_matches_the_saved_quality(photo: Image.Image, quality: int) -> None:
    opened = Image.open(io.BytesIO(encode(photo, "JPEG", quality=quality)))

    estimate = estimate_jpeg_quality(opened)

    assert estimate is not None
    assert abs(estimate - quality) <= 2
    assert estimate == float(quality)  # libjpeg tables are exactly the IJG ones


@pytest.mark.parametrize("quality", [10, 60])
def test_estimate_jpeg_quality_works_for_grayscale(quality: int) -> None:
    opened = Image.open(io.BytesIO(encode(Image.new("L", (64, 64), 90), "JPEG", quality=quality)))
    assert len(opened.quantization) == 1  # luma table only

    assert estimate_jpeg_quality(opened) == float(quality)


def test_estimate_jpeg_quality_is_none_without_quantization_tables(photo: Image.Image) -> None:
    assert estimate_jpeg_quality(photo) is None
    assert estimate_jpeg_quality(Image.open(io.BytesIO(encode(photo, "PNG")))) is None


# --------------------------------------------------------------------------------------------
# Features
# --------------------------------------------------------------------------------------------


def features_of(array: np.ndarray, settings: Settings | None = None) -> dict[str, float | None]:
    return compute_features(load_image(encode(Image.fromarray(array), "PNG"), settings))


def test_compute_features_keys_are_exactly_feature_names(photo: Image.Image) -> None:
    features = compute_features(load_image(photo))

    assert tuple(features) == FEATURE_NAMES
    assert all(isinstance(features[key], float) for key in FEATURE_NAMES if key != "jpeg_quality")


def test_compute_features_flat_grey_is_zero_everywhere_but_brightness() -> None:
    features = features_of(np.full((48, 64, 3), 128, dtype=np.uint8))

    assert features["width"] == 64.0 and features["height"] == 48.0
    assert features["brightness"] == pytest.approx(128 / 255, abs=1e-6)
    assert features["contrast"] == pytest.approx(0.0, abs=1e-9)
    assert features["saturation"] == 0.0
    assert features["sharpness"] == pytest.approx(0.0, abs=1e-9)
    assert features["high_freq_energy"] == 0.0
    assert features["jpeg_quality"] is None


def test_compute_features_pure_red_is_fully_saturated() -> None:
    red = np.zeros((40, 40, 3), dtype=np.uint8)
    red[..., 0] = 255

    features = features_of(red)

    assert features["saturation"] == pytest.approx(1.0)
    assert features["brightness"] == pytest.approx(0.299, abs=1e-6)
    assert features["contrast"] == pytest.approx(0.0, abs=1e-9)


def test_compute_features_black_has_zero_saturation_not_nan() -> None:
    features = features_of(np.zeros((40, 40, 3), dtype=np.uint8))

    assert features["saturation"] == 0.0
    assert features["brightness"] == 0.0


def test_compute_features_checkerboard_is_all_high_frequency() -> None:
    y, x = np.mgrid[0:64, 0:64]
    board = np.repeat((((x + y) % 2) * 255).astype(np.uint8)[:, :, None], 3, axis=2)

    features = features_of(board)

    assert features["high_freq_energy"] == pytest.approx(1.0, abs=1e-6)
    assert features["brightness"] == pytest.approx(0.5)
    assert features["contrast"] == pytest.approx(0.5)  # half 0, half 255
    # Every interior pixel's 4 neighbours are the opposite colour: Laplacian = +-1020.
    assert features["sharpness"] == pytest.approx(1020.0**2)


def test_compute_features_smooth_gradient_has_little_high_frequency() -> None:
    ramp = np.repeat(np.linspace(0, 255, 128, dtype=np.float64)[None, :], 96, axis=0)
    gradient = np.repeat(np.rint(ramp).astype(np.uint8)[:, :, None], 3, axis=2)

    features = features_of(gradient)

    assert features["high_freq_energy"] < 0.01
    assert features["sharpness"] < 1.0


def test_compute_features_weighs_both_halves_of_the_spectrum() -> None:
    # Equal energy in a low horizontal frequency (4 cycles across, 1/16 of Nyquist) and a high
    # vertical one (48 cycles down, 3/4 of Nyquist): half of the energy is high frequency.
    # (The half-spectrum FFT stores the horizontal wave once: it must count twice.)
    y, x = np.mgrid[0:128, 0:128]
    luma = 127.5 + 60 * np.cos(2 * np.pi * 4 * x / 128) + 60 * np.cos(2 * np.pi * 48 * y / 128)
    waves = np.repeat(np.rint(luma).astype(np.uint8)[:, :, None], 3, axis=2)

    features = features_of(waves)

    assert features["high_freq_energy"] == pytest.approx(0.5, abs=0.02)


def test_compute_features_white_noise_spreads_energy_like_its_area() -> None:
    # White noise has a flat spectrum: the share outside the disc of radius 1/4 of Nyquist is
    # the share of the frequency square outside it, 1 - pi / 64 = 0.951.
    noise = np.random.default_rng(3).integers(0, 256, (256, 256, 3), dtype=np.uint8)

    features = features_of(noise)

    assert features["high_freq_energy"] == pytest.approx(1 - np.pi / 64, abs=0.02)


def test_compute_features_uses_a_copy_of_at_most_feature_max_side_pixels() -> None:
    # A 1-pixel checkerboard of 1024 px averages to flat grey once scaled to FEATURE_MAX_SIDE
    # (256) px: proof that the features see the reduced copy. Width and height stay the original's.
    assert FEATURE_MAX_SIDE <= 512
    y, x = np.mgrid[0:1024, 0:1024]
    board = np.repeat((((x + y) % 2) * 255).astype(np.uint8)[:, :, None], 3, axis=2)

    features = features_of(board)

    assert features["width"] == 1024.0 and features["height"] == 1024.0
    assert features["contrast"] == pytest.approx(0.0, abs=0.01)
    assert features["brightness"] == pytest.approx(0.5, abs=0.01)


def test_feature_copy_keeps_the_aspect_and_small_images_as_they_are() -> None:
    wide = Image.fromarray(np.zeros((300, 1200, 3), dtype=np.uint8))
    small = Image.fromarray(np.zeros((100, 120, 3), dtype=np.uint8))

    assert feature_copy(wide).shape == (FEATURE_MAX_SIDE // 4, FEATURE_MAX_SIDE, 3)
    assert feature_copy(wide, 600).shape == (150, 600, 3)
    assert feature_copy(small).shape == (100, 120, 3)
    assert feature_copy(small.convert("L")).shape == (100, 120, 3)


def test_compute_features_uses_the_copy_it_is_given(photo: Image.Image) -> None:
    loaded = load_image(photo)
    flat = np.full((30, 40, 3), 77, dtype=np.uint8)

    shared = compute_features(loaded, pixels=feature_copy(loaded.image))
    given = compute_features(loaded, pixels=flat)

    assert shared == compute_features(loaded)
    assert given["brightness"] == pytest.approx(77 / 255, abs=1e-6) and given["contrast"] == 0.0
    assert given["width"] == float(loaded.width)  # the original's size, not the copy's


def test_compute_features_reports_jpeg_quality_and_oriented_size() -> None:
    loaded = load_image(oriented_jpeg(80, 48, orientation=6))

    features = compute_features(loaded)

    assert features["jpeg_quality"] == 95.0
    assert (features["width"], features["height"]) == (48.0, 80.0)


def test_compute_features_handles_a_one_pixel_image() -> None:
    features = features_of(np.full((1, 1, 3), 200, dtype=np.uint8), Settings(min_side=1))

    assert features["sharpness"] == 0.0
    assert features["high_freq_energy"] == 0.0
    assert features["brightness"] == pytest.approx(200 / 255)


# --------------------------------------------------------------------------------------------
# Hostile input (issue 9): each class fixed at its root
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("value", [-7, 0, 70_000, 1_000_000, -(2**31)])
def test_load_image_constant_32_bit_tiff_converts_without_dividing_by_zero(value: int) -> None:
    data = encode(Image.fromarray(np.full((64, 64), value, np.int32)), "TIFF")

    loaded = load_image(data)

    assert loaded.image.mode == "RGB"
    assert len(np.unique(np.asarray(loaded.image).reshape(-1, 3), axis=0)) == 1


@pytest.mark.parametrize(
    "image",
    [
        Image.fromarray(np.full((64, 64), -5, np.int32)),
        Image.fromarray(np.full((64, 64), 10**7, np.int32)),
        Image.new("I;16", (64, 64), 300),
        Image.new("F", (64, 64), 7.5),
        Image.fromarray(np.full((64, 64), np.nan, np.float32)),
    ],
    ids=["I-negative", "I-large", "I;16", "F", "F-nan"],
)
def test_load_image_constant_high_depth_pil_images_convert(image: Image.Image) -> None:
    loaded = load_image(image)

    assert loaded.image.mode == "RGB" and loaded.image.size == (64, 64)


def test_load_image_rejects_png_whose_pixel_data_is_random_bytes() -> None:
    # Pillow's getexif() loads a PNG and fails half way; a second load() then returned the
    # half-decoded pixels without raising, and the file got a verdict.
    ihdr = struct.pack(">IIBBBBB", 64, 64, 8, 2, 0, 0, 0)
    idat = np.random.default_rng(0).bytes(2000)
    data = (
        b"\x89PNG\r\n\x1a\n"
        + png_chunk(b"IHDR", ihdr)
        + png_chunk(b"IDAT", idat)
        + png_chunk(b"IEND", b"")
    )

    assert_rejected(data, "corrupt", r"PNG data is corrupt")


def test_load_image_rejects_png_with_unreadable_exif_block(photo: Image.Image) -> None:
    png = encode(photo, "PNG")
    data = png[:-12] + png_chunk(b"eXIf", b"ZZ" + bytes(60)) + png[-12:]

    assert_rejected(data, "corrupt", r"EXIF block cannot be read")


@pytest.mark.parametrize("kind", [b"IHDR", b"IDAT", b"tEXt"])
def test_load_image_rejects_png_chunks_with_a_bad_crc(photo: Image.Image, kind: bytes) -> None:
    png = encode(photo, "PNG")
    if kind == b"tEXt":
        png = png[:33] + png_chunk(b"tEXt", b"k\x00v") + png[33:]
    at = png.index(kind)
    end = at + 4 + int.from_bytes(png[at - 4 : at], "big")
    data = png[:end] + bytes(4) + png[end + 4 :]

    assert_rejected(data, "corrupt", kind.decode() + r" chunk fails its CRC check")


def test_load_image_refuses_to_decode_when_truncated_images_are_allowed(
    monkeypatch: pytest.MonkeyPatch, photo: Image.Image
) -> None:
    monkeypatch.setattr(ImageFile, "LOAD_TRUNCATED_IMAGES", True)

    with pytest.raises(ConfigError, match="LOAD_TRUNCATED_IMAGES"):
        load_image(encode(photo, "PNG")[:-200])


def progressive_with_scans(width: int, height: int, extra: int) -> bytes:
    from hostile_corpus import progressive_jpeg_with_scans

    return progressive_jpeg_with_scans(width, height, extra)


def test_load_image_refuses_jpeg_with_thousands_of_scans_without_decoding() -> None:
    data = progressive_with_scans(4000, 4000, 3000)  # ~20 s of decoding before the limit
    start = time.process_time()

    assert_rejected(data, "too_complex", r"more than 100 scans .*FAKESCOPE_MAX_JPEG_SCANS")
    assert time.process_time() - start < 0.5


def test_load_image_scan_limit_comes_from_settings(photo: Image.Image) -> None:
    progressive = encode(photo, "JPEG", progressive=True)  # libjpeg writes 10 scans in colour

    assert load_image(progressive).format == "JPEG"
    assert_rejected(progressive, "too_complex", "more than 9 scans", Settings(max_jpeg_scans=9))
    assert load_image(progressive, Settings(max_jpeg_scans=10)).format == "JPEG"


def test_load_image_refuses_jpeg_with_thousands_of_header_segments(photo: Image.Image) -> None:
    jpeg = encode(photo, "JPEG")
    data = jpeg[:2] + b"\xff\xfe\x00\x02" * 1001 + jpeg[2:]

    assert_rejected(data, "too_complex", "metadata segments")
    assert load_image(jpeg[:2] + b"\xff\xfe\x00\x02" * 900 + jpeg[2:]).format == "JPEG"


def test_load_image_refuses_png_with_too_many_chunks(photo: Image.Image) -> None:
    png = encode(photo, "PNG")
    data = png[:33] + png_chunk(b"tEXt", b"k\x00v") * 65_537 + png[33:]

    assert_rejected(data, "too_complex", "more than 65,536 chunks")


def test_load_image_refuses_gif_with_too_many_blocks_before_the_first_frame(
    photo: Image.Image,
) -> None:
    gif = encode(photo.convert("P"), "GIF")
    start = 13 + (3 << ((gif[10] & 0x07) + 1))
    data = gif[:start] + b"\x21\xfe" + b"\x01A" * 70_000 + b"\x00" + gif[start:]

    assert_rejected(data, "too_complex", "extension blocks")


def test_load_image_refuses_large_run_length_bmp() -> None:
    from hostile_corpus import bmp_rle8

    assert load_image(bmp_rle8(64, 64, 8)).format == "BMP"
    assert_rejected(bmp_rle8(1500, 1500, 1000), "too_complex", "run-length")


def test_load_image_refuses_tiff_with_too_many_strips() -> None:
    from hostile_corpus import _tiff_many_strips

    assert_rejected(_tiff_many_strips(70_000), "too_complex", "70,000 strips")


@pytest.mark.parametrize(
    "chunk",
    [
        png_chunk(b"zTXt", b"Comment\x00\x00" + zlib.compress(b"lorem ipsum " * 200_000)),
        png_chunk(b"iTXt", b"C\x00\x01\x00en\x00C\x00" + zlib.compress(b"x" * 3_000_000)),
        png_chunk(b"iCCP", b"icc\x00\x00" + zlib.compress(bytes(range(256)) * 8000)),
        png_chunk(b"tEXt", b"Comment\x00" + b"y" * 2_000_000),
    ],
    ids=["zTXt", "iTXt", "iCCP", "tEXt"],
)
def test_load_image_accepts_png_with_metadata_chunks_over_1_mb(
    photo: Image.Image, chunk: bytes
) -> None:
    png = encode(photo, "PNG")
    loaded = load_image(png[:33] + chunk + png[33:])

    assert np.array_equal(np.asarray(loaded.image), np.asarray(photo))
    assert loaded.sha256 == hashlib.sha256(png[:33] + chunk + png[33:]).hexdigest()


def test_load_image_exif_orientation_out_of_range_is_ignored() -> None:
    loaded = load_image(oriented_jpeg(80, 48, orientation=9))

    assert loaded.image.size == (80, 48)


@pytest.mark.parametrize("source", [5, None, 3.2, object(), [b"x"], np.zeros((8, 8))])
def test_load_image_refuses_objects_that_are_not_images_and_says_what_is_accepted(
    source: object,
) -> None:
    error = assert_rejected(source, "unsupported_type", r"Cannot load an image from")

    assert "a file path" in str(error) and "a PIL image" in str(error)


def test_load_image_reserve_gets_the_decoded_pixel_count_before_decoding() -> None:
    data = encode(make_photo(1600, 1200), "JPEG")
    asked: list[int] = []

    load_image(data, reserve=asked.append)
    load_image(data, draft_size=(224, 224), reserve=asked.append)

    assert asked == [1600 * 1200, 400 * 300]  # the draft decode is counted at its own size


def test_load_image_reserve_can_refuse_before_any_pixel_is_decoded() -> None:
    def refuse(pixels: int) -> None:
        raise InvalidImageError("no room", reason="busy")

    with pytest.raises(InvalidImageError) as caught:
        load_image(encode(make_photo(), "PNG"), reserve=refuse)
    assert caught.value.reason == "busy"


# --------------------------------------------------------------------------------------------
# Pixel budgets
# --------------------------------------------------------------------------------------------


def test_pixel_budget_waits_for_room_and_times_out() -> None:
    budget = PixelBudget()
    assert budget.acquire(60, limit=100, timeout=0)
    start = time.monotonic()

    assert not budget.acquire(50, limit=100, timeout=0.2)
    assert time.monotonic() - start >= 0.2
    threading.Timer(0.1, budget.release, args=(60,)).start()
    assert budget.acquire(50, limit=100, timeout=5)
    assert budget.held == 50


def test_pixel_budget_lets_an_image_larger_than_the_limit_run_alone() -> None:
    budget = PixelBudget()

    assert budget.acquire(500, limit=100, timeout=0)
    assert not budget.acquire(1, limit=100, timeout=0)
    budget.release(500)
    assert budget.held == 0


def test_batch_pixels_refuses_with_reason_busy_when_the_process_budget_stays_full() -> None:
    process = PixelBudget()
    settings = Settings(max_inflight_pixels=100, max_batch_pixels=100, pixel_wait_seconds=0.1)
    process.acquire(90, limit=100, timeout=0)  # another batch holds most of the budget
    batch = BatchPixels(settings, process)

    with batch.hold() as reserve:
        with pytest.raises(InvalidImageError, match="server's memory budget") as caught:
            reserve(20)
    assert caught.value.reason == "busy"
    assert ACCEPTED_SENTENCE in str(caught.value)
    assert process.held == 90 and batch.batch.held == 0


def test_batch_pixels_gives_everything_back_on_exit_even_after_an_error() -> None:
    process = PixelBudget()
    batch = BatchPixels(Settings(max_batch_pixels=100, max_inflight_pixels=200), process)

    with pytest.raises(RuntimeError):
        with batch.hold() as reserve:
            reserve(80)
            assert process.held == 80
            raise RuntimeError("decoding failed")
    assert process.held == 0 and batch.batch.held == 0


def test_batch_pixels_queue_a_batch_past_its_budget_and_all_images_finish() -> None:
    process = PixelBudget()
    settings = Settings(max_batch_pixels=100, max_inflight_pixels=1000, pixel_wait_seconds=5)
    batch = BatchPixels(settings, process)
    peak: list[int] = []

    def work() -> None:
        with batch.hold() as reserve:
            reserve(60)
            peak.append(batch.batch.held)
            time.sleep(0.05)

    workers = [threading.Thread(target=work) for _ in range(4)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()

    assert len(peak) == 4 and max(peak) <= 100  # one 60-pixel image at a time
    assert process.held == 0


def test_settings_read_the_decode_limits_from_the_environment() -> None:
    settings = Settings.from_env(
        {
            "FAKESCOPE_MAX_JPEG_SCANS": "20",
            "FAKESCOPE_MAX_BATCH_PIXELS": "1000",
            "FAKESCOPE_MAX_INFLIGHT_PIXELS": "2000",
            "FAKESCOPE_PIXEL_WAIT_SECONDS": "1.5",
        }
    )

    assert (settings.max_jpeg_scans, settings.max_batch_pixels) == (20, 1000)
    assert (settings.max_inflight_pixels, settings.pixel_wait_seconds) == (2000, 1.5)
    with pytest.raises(ConfigError):
        Settings(max_jpeg_scans=0)
    with pytest.raises(ConfigError):
        Settings(pixel_wait_seconds=float("nan"))


# --------------------------------------------------------------------------------------------
# The decoded image handed to the caller (Predictor.predict(on_image=...)), decoded once
# --------------------------------------------------------------------------------------------


def test_predict_hands_each_decoded_image_to_on_image_while_its_pixels_are_held(
    resnet_dir: Path,
) -> None:
    from fakescope import Predictor

    predictor = Predictor.from_source(resnet_dir, Settings(precision="fp32", batch_size=2))
    good = encode(make_photo(96, 64), "JPEG", quality=90)
    seen: dict[int, tuple[tuple[int, int], str, int]] = {}

    def on_image(index: int, image: Image.Image) -> None:
        seen[index] = (image.size, image.mode, PROCESS_PIXELS.held)

    outcomes = predictor.predict(
        [good, b"not an image", make_photo(80, 72)], errors="return", on_image=on_image
    )

    assert [type(o).__name__ for o in outcomes] == ["Prediction", "Rejection", "Prediction"]
    assert sorted(seen) == [0, 2]  # rejected inputs have no image
    assert seen[0][:2] == ((96, 64), "RGB") and seen[2][:2] == ((80, 72), "RGB")
    # Called while the decoded pixels still count against the process's budget...
    assert seen[0][2] >= 96 * 64 and seen[2][2] >= 80 * 72
    assert PROCESS_PIXELS.held == 0  # ... and all given back after
    assert outcomes[0].features == compute_features(load_image(good))


def test_predict_lets_an_error_of_on_image_through(resnet_dir: Path) -> None:
    from fakescope import Predictor

    predictor = Predictor.from_source(resnet_dir, Settings(precision="fp32"))

    def on_image(index: int, image: Image.Image) -> None:
        raise RuntimeError("thumbnail failed")

    with pytest.raises(RuntimeError, match="thumbnail failed"):
        predictor.predict(make_photo(64, 64), on_image=on_image)
    assert PROCESS_PIXELS.held == 0
