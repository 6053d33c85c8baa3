"""Image intake: bytes, paths and PIL images -> validated RGB images; image features for drift.

Every input goes through :func:`load_image`, which

1. reads the bytes (a path is checked against the size limit from its file size, before reading),
2. detects the format from the content (magic bytes), never from a file name,
3. opens the header only and checks the pixel count and the minimum side *before* decoding, so a
   decompression bomb (a header that claims 100000x100000) is rejected without allocating,
4. bounds the decoder's work before decoding, from the file's structure (JPEG scans and
   segments, PNG chunks, GIF blocks, BMP run-length data, TIFF strips): no accepted file makes a
   decoder loop for seconds,
5. decodes the first frame in one fresh, complete load (any decoder failure, in the header, the
   EXIF block or the pixels, rejects the file), applies the EXIF orientation and converts any
   colour mode to RGB.

PNG text and ICC chunks are dropped before decoding (their CRC is still checked): FakeScope
uses neither, and Pillow refuses compressed ones over 1 MB, which would reject valid files.

Callers that hold many decoded images at once (:class:`fakescope.predictor.Predictor`) pass a
``reserve`` callback, which :class:`PixelBudget` uses to bound the decoded pixels in flight per
batch and per process.

Anything that is not an image FakeScope can judge raises :class:`InvalidImageError` with a short
``reason`` code and a message that says what was wrong and what is accepted. Pillow's own guards
stay on: ``Image.MAX_IMAGE_PIXELS`` and ``ImageFile.LOAD_TRUNCATED_IMAGES`` are never changed.

:func:`compute_features` turns a loaded image into the few numbers that drift monitoring compares
between a reference profile and recent traffic (:data:`FEATURE_NAMES`).
"""

from __future__ import annotations

import ctypes
import hashlib
import io
import logging
import os
import re
import stat
import struct
import threading
import time
import warnings
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache
from typing import BinaryIO

import numpy as np
from PIL import ExifTags, Image, ImageFile

from fakescope.config import BROWSER_MEGABYTE, Settings
from fakescope.errors import ConfigError, InvalidImageError

logger = logging.getLogger(__name__)

ACCEPTED_FORMATS: tuple[str, ...] = ("JPEG", "PNG", "WEBP", "BMP", "TIFF", "GIF")
FEATURE_NAMES: tuple[str, ...] = (
    "width",
    "height",
    "brightness",
    "contrast",
    "saturation",
    "sharpness",
    "high_freq_energy",
    "jpeg_quality",
)
# Features are computed on a copy whose longer side is at most this many pixels (512 until
# issue 14 part 3: 256 makes the features 2.5x faster at 640x480; how far each feature moves
# against full resolution is bounded in tests/unit/test_feature_tolerance.py).
FEATURE_MAX_SIDE = 256

_DISPLAY_NAMES = {
    "JPEG": "JPEG",
    "PNG": "PNG",
    "WEBP": "WebP",
    "BMP": "BMP",
    "TIFF": "TIFF",
    "GIF": "GIF",
}
# Sizes of the BMP info headers Pillow knows; checked so that text starting with "BM" is not a BMP.
_BMP_HEADER_SIZES = frozenset({12, 16, 40, 52, 56, 64, 108, 124})
_TIFF_PREFIXES = (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+")
_HIGH_DEPTH_MODES = frozenset({"I;16", "I;16L", "I;16B", "I;16N", "I", "F"})
_ORIENTATION_TAG = int(ExifTags.Base.Orientation)
# EXIF orientations 5-8 rotate by 90 degrees, so the displayed width is the stored height.
_SWAPPING_ORIENTATIONS = frozenset({5, 6, 7, 8})
_TRANSPOSES = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}

# Work bounds, checked on the file's structure before any pixel is decoded. Pillow parses these
# structures in Python, at about 1-3 us per element, so each bound keeps that loop well under
# 0.2 s while staying far above what real files contain:
# - JPEG segments before the pixel data (APPn, COM, DQT, DHT...): real files have under 30; a
#   20 MB file of empty COM markers takes Pillow 5 s to walk.
_MAX_JPEG_SEGMENTS = 1000
# - PNG chunks: libpng keeps at most 1000 ancillary chunks; IDAT chunks of 8 KB (libpng's size)
#   make 2,560 chunks for 20 MB. One million empty tEXt chunks take Pillow 2.3 s.
_MAX_PNG_CHUNKS = 65_536
# - GIF extension blocks and sub-blocks before the first image: real files have a handful.
_MAX_GIF_BLOCKS = 65_536
# - TIFF strips or tiles of the first page: Pillow makes one Python tile per uncompressed strip.
_MAX_TIFF_SEGMENTS = 65_536
# - BMP run-length data is decoded by a Python loop at ~6 MB/s; real RLE BMPs are small.
_MAX_BMP_RLE_BYTES = 2 * 1024 * 1024
# PNG chunks FakeScope never uses: dropped before decoding (their CRC is still checked). Pillow
# refuses compressed text and ICC profiles that inflate past 1 MB (PngImagePlugin.MAX_TEXT_CHUNK)
# and would reject a valid file as corrupt; dropping them also skips inflating them.
_PNG_DROPPED_CHUNKS = frozenset({b"tEXt", b"zTXt", b"iTXt", b"iCCP"})
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# A JPEG marker: 0xFF (plus fill bytes) then a code that is not stuffing (00), a restart
# marker (D0-D7) or another fill byte. Found with a regex so that entropy-coded data, which can be
# almost all 0xFF 0x00, is skipped in C, not byte by byte in Python.
_JPEG_MARKER = re.compile(rb"\xff+([^\x00\xd0-\xd7\xff])")
# Markers without a length field.
_JPEG_STANDALONE = frozenset({0x01, 0xD8})
# Bytes that make 0xFF a marker (see _JPEG_MARKER), as a lookup table for numpy.
_JPEG_MARKER_CODE = np.ones(256, dtype=bool)
_JPEG_MARKER_CODE[[0x00, 0xFF]] = False
_JPEG_MARKER_CODE[0xD0:0xD8] = False
_JPEG_MARKER_CODE.setflags(write=False)
# Entropy-coded data is scanned in windows of this size at first, doubling up to the maximum.
_ENTROPY_WINDOW = 4096
_ENTROPY_WINDOW_MAX = 4 * 1024 * 1024
_LUMA_WEIGHTS = (0.299, 0.587, 0.114)  # ITU-R BT.601, as PIL's "L"
_LUMA_WEIGHTS_32 = tuple(np.float32(w) for w in _LUMA_WEIGHTS)

# The IJG (libjpeg) luminance table of the JPEG standard (Annex K), in natural (row-major) order,
# which is the order Pillow gives in ``image.quantization``.
_IJG_LUMA = np.array(
    [
        [16, 11, 10, 16, 24, 40, 51, 61],
        [12, 12, 14, 19, 26, 58, 60, 55],
        [14, 13, 16, 24, 40, 57, 69, 56],
        [14, 17, 22, 29, 51, 87, 80, 62],
        [18, 22, 37, 56, 68, 109, 103, 77],
        [24, 35, 55, 64, 81, 104, 113, 92],
        [49, 64, 78, 87, 103, 121, 120, 101],
        [72, 92, 95, 98, 112, 100, 103, 99],
    ],
    dtype=np.int64,
).ravel()


def _ijg_tables(base: np.ndarray) -> np.ndarray:
    """``base`` scaled the way libjpeg's ``jpeg_set_quality`` does, for q = 1..100 (100 x 64)."""
    qualities = np.arange(1, 101)
    scale = np.where(qualities < 50, 5000 // qualities, 200 - 2 * qualities)
    tables = (base[None, :] * scale[:, None] + 50) // 100
    # Pillow saves with force_baseline, which caps entries at 255 (8-bit tables).
    return np.clip(tables, 1, 255)


_IJG_LUMA_BY_QUALITY = _ijg_tables(_IJG_LUMA)


@dataclass(frozen=True)
class LoadedImage:
    """A validated, decoded image.

    Attributes:
        image: RGB, EXIF-oriented; full resolution, or reduced by the JPEG decoder when
            ``draft_size`` was given to :func:`load_image`.
        sha256: hex SHA-256 of the input bytes (of a canonical encoding for PIL inputs).
        format: one of :data:`ACCEPTED_FORMATS`.
        width, height: the original size after EXIF orientation (even if draft-reduced).
        size_bytes: size of the input in bytes; 0 for PIL inputs.
        jpeg_quality: IJG quality (1..100) estimated from the quantization tables, JPEG only.
        name: file name or path when known.
    """

    image: Image.Image
    sha256: str
    format: str
    width: int
    height: int
    size_bytes: int
    jpeg_quality: float | None
    name: str | None


# --------------------------------------------------------------------------------------------
# Format detection and messages
# --------------------------------------------------------------------------------------------


def detect_format(data: bytes) -> str | None:
    """The accepted image format of ``data``, from its magic bytes.

    Args:
        data: the start of a file (the first 32 bytes are enough).

    Returns:
        One of :data:`ACCEPTED_FORMATS`, or None when the content is not an accepted image.
    """
    head = bytes(data[:32])
    if head.startswith(b"\xff\xd8\xff"):
        return "JPEG"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "PNG"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "WEBP"
    if head.startswith((b"GIF87a", b"GIF89a")):
        return "GIF"
    if head.startswith(_TIFF_PREFIXES):
        return "TIFF"
    if head[:2] == b"BM" and len(head) >= 18:
        if int.from_bytes(head[14:18], "little") in _BMP_HEADER_SIZES:
            return "BMP"
    return None


def _describe_content(data: bytes) -> str:
    """What a rejected input looks like, for the error message ("looks like a PDF document")."""
    head = bytes(data[:4096])
    binary_kinds = (
        (b"%PDF-", "a PDF document"),
        (b"%!PS", "a PostScript document"),
        (b"PK\x03\x04", "a ZIP archive (or a document stored as one, such as .docx)"),
        (b"PK\x05\x06", "an empty ZIP archive"),
        (b"\x1f\x8b", "a gzip-compressed file"),
        (b"BZh", "a bzip2-compressed file"),
        (b"\xfd7zXZ\x00", "an xz-compressed file"),
        (b"7z\xbc\xaf\x27\x1c", "a 7-Zip archive"),
        (b"Rar!\x1a\x07", "a RAR archive"),
        (b"\x7fELF", "a program (ELF executable)"),
        (b"MZ", "a Windows program"),
        (b"8BPS", "a Photoshop (PSD) document"),
        (b"\x00\x00\x01\x00", "an icon (ICO) image, which is not accepted"),
        (b"\xff\x4f\xff\x51", "a JPEG 2000 image, which is not accepted"),
        (b"\x00\x00\x00\x0cjP  ", "a JPEG 2000 image, which is not accepted"),
        (b"\xff\x0a", "a JPEG XL image, which is not accepted"),
        (b"\x00\x00\x00\x0cJXL ", "a JPEG XL image, which is not accepted"),
        (b"ID3", "an MP3 audio file"),
        (b"OggS", "an Ogg audio/video file"),
        (b"SQLite format 3\x00", "an SQLite database"),
    )
    for magic, kind in binary_kinds:
        if head.startswith(magic):
            return f"looks like {kind}"
    if head[:4] == b"RIFF":
        riff_kind = {b"WAVE": "a WAV audio file", b"AVI ": "an AVI video"}.get(head[8:12])
        return f"looks like {riff_kind or 'a RIFF container that is not a WebP image'}"
    if head[4:8] == b"ftyp":
        brand = head[8:12]
        if brand in (b"heic", b"heix", b"hevc", b"heim", b"heis", b"mif1", b"msf1"):
            return "looks like a HEIC/HEIF photo, which is not accepted (export it as JPEG)"
        if brand in (b"avif", b"avis"):
            return "looks like an AVIF image, which is not accepted"
        return "looks like an MP4/QuickTime video"
    if len(head) > 257 + 5 and head[257:262] == b"ustar":
        return "looks like a tar archive"

    text = _as_text(head)
    if text is None:
        return "is not any known image format (unrecognised binary data)"
    lowered = text.lstrip("\ufeff \t\r\n").lower()
    if "<svg" in lowered[:2048]:
        return "looks like an SVG vector drawing, which is not accepted (export it as PNG)"
    if lowered.startswith(("<!doctype html", "<html")) or "<html" in lowered[:1024]:
        return "looks like an HTML page (save the image itself, not the page)"
    if lowered.startswith("<?xml"):
        return "looks like an XML document"
    if lowered.startswith("data:image/"):
        return "looks like a base64 data URL (decode it and send the image bytes)"
    if lowered.startswith(("{", "[")):
        return "looks like JSON text"
    return "looks like plain text"


def _as_text(head: bytes) -> str | None:
    """``head`` decoded as UTF-8 if it is mostly printable text, else None."""
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError as error:
        # A multi-byte character cut at the end of the sample is still text.
        if error.start < len(head) - 4:
            return None
        text = head[: error.start].decode("utf-8")
    if not text:
        return None
    printable = sum(ch.isprintable() or ch in "\t\r\n" for ch in text)
    return text if printable / len(text) >= 0.95 else None


def _human_bytes(count: int) -> str:
    if count < 1024:
        return f"{count} bytes"
    if count < BROWSER_MEGABYTE:
        return f"{count / 1024:.1f} KB"
    return f"{count / BROWSER_MEGABYTE:.1f} MB"


def _accepted(settings: Settings) -> str:
    """The sentence every rejection ends with: what is accepted."""
    formats = ", ".join(_DISPLAY_NAMES[f] for f in ACCEPTED_FORMATS[:-1])
    limit_mb = f"{settings.max_file_bytes / BROWSER_MEGABYTE:g} MB"
    return (
        f"Accepted: {formats} or {_DISPLAY_NAMES[ACCEPTED_FORMATS[-1]]} images (first frame of an "
        f"animation), up to {limit_mb} and {settings.max_pixels:,} pixels, "
        f"at least {settings.min_side} px on each side."
    )


def _reject(message: str, reason: str, settings: Settings) -> InvalidImageError:
    return InvalidImageError(f"{message} {_accepted(settings)}", reason=reason)


# --------------------------------------------------------------------------------------------
# Reading the input
# --------------------------------------------------------------------------------------------


def _read_path(path: str | os.PathLike, settings: Settings) -> bytes:
    """The bytes of a file, checked against the size limit before it is read."""
    shown = os.fsdecode(os.fspath(path))
    if not shown:
        raise _reject("Cannot read the file: the path is empty.", "unreadable", settings)
    try:
        info = os.stat(path)
    except FileNotFoundError:
        raise _reject(f"Cannot read {shown!r}: no such file.", "unreadable", settings) from None
    except (OSError, ValueError) as error:
        raise _reject(f"Cannot read {shown!r}: {error}.", "unreadable", settings) from None
    if stat.S_ISDIR(info.st_mode):
        raise _reject(f"Cannot read {shown!r}: it is a folder.", "unreadable", settings)
    if not stat.S_ISREG(info.st_mode):
        # A FIFO would block and a device like /dev/zero never ends.
        raise _reject(f"Cannot read {shown!r}: not a regular file.", "unreadable", settings)
    _check_byte_count(info.st_size, settings, what=f"The file {shown!r}")
    try:
        with open(path, "rb") as handle:
            # One byte more than the limit tells a file that grew since stat() from one that fits.
            data = handle.read(settings.max_file_bytes + 1)
    except OSError as error:
        reason = error.strerror or str(error)
        raise _reject(f"Cannot read {shown!r}: {reason}.", "unreadable", settings) from None
    # Only max_file_bytes + 1 bytes were read, so the real size is unknown beyond the limit.
    _check_byte_count(len(data), settings, what=f"The file {shown!r}", exact=False)
    return data


def _read_stream(stream: BinaryIO, settings: Settings) -> bytes:
    """The bytes of a file-like object (e.g. an upload), never more than the limit + 1."""
    try:
        data = stream.read(settings.max_file_bytes + 1)
    except Exception as error:  # noqa: BLE001 - any object with read() may be given
        raise _reject(f"Cannot read the upload: {error}.", "unreadable", settings) from None
    if not isinstance(data, (bytes, bytearray)):
        raise _reject(
            "Cannot read the upload: the stream gives text, not bytes (open it in binary mode).",
            "unreadable",
            settings,
        )
    data = bytes(data)
    _check_byte_count(len(data), settings, what="The upload", exact=False)
    return data


def _check_byte_count(count: int, settings: Settings, *, what: str, exact: bool = True) -> None:
    """Reject an empty input or one over ``max_file_bytes`` (``exact``: count is the real size)."""
    if count == 0:
        raise _reject(f"{what} is empty (0 bytes).", "empty", settings)
    if count > settings.max_file_bytes:
        limit = _human_bytes(settings.max_file_bytes)
        size = _human_bytes(count) if exact else f"more than {limit}"
        raise _reject(f"{what} is too large ({size}; the limit is {limit}).", "too_large", settings)


# --------------------------------------------------------------------------------------------
# Decoding
# --------------------------------------------------------------------------------------------


def _check_dimensions(width: int, height: int, settings: Settings) -> None:
    pixels = width * height
    if pixels > settings.max_pixels:
        raise _reject(
            f"The image is {width}x{height} ({pixels:,} pixels), more than the limit of "
            f"{settings.max_pixels:,} pixels.",
            "too_many_pixels",
            settings,
        )
    if min(width, height) < settings.min_side:
        raise _reject(
            f"The image is {width}x{height} pixels, too small to judge.", "too_small", settings
        )


def _looks_truncated(data: bytes | None, fmt: str, error: BaseException) -> bool:
    """Whether a decoding failure comes from data that ends early (rather than bad data)."""
    text = str(error).lower()
    if isinstance(error, EOFError) or "truncated" in text or "unexpected end" in text:
        return True
    if data is None:
        return False
    # Pillow does not always say so; the format's own end marker or length field does.
    if fmt == "JPEG":
        return not data.rstrip(b"\x00").endswith(b"\xff\xd9")
    if fmt == "PNG":
        return b"IEND" not in data[-64:]
    if fmt == "GIF":
        return not data.rstrip(b"\x00").endswith(b"\x3b")
    if fmt == "WEBP" and len(data) >= 8:
        return int.from_bytes(data[4:8], "little") + 8 > len(data)
    if fmt == "BMP" and len(data) >= 6:
        return int.from_bytes(data[2:6], "little") > len(data)
    if fmt == "TIFF" and data[2:4] in (b"*\x00", b"\x00*"):
        # Classic TIFF: the first directory (offset, entry count, 12-byte entries) must fit.
        order = "little" if data[:2] == b"II" else "big"
        offset = int.from_bytes(data[4:8], order)
        if offset + 2 > len(data):
            return True
        entries = int.from_bytes(data[offset : offset + 2], order)
        return offset + 2 + 12 * entries > len(data)
    return False


def _decode_error(
    data: bytes | None, fmt: str | None, error: BaseException, settings: Settings
) -> InvalidImageError:
    """The rejection for a decoder failure: ``truncated`` or ``corrupt``."""
    shown = _DISPLAY_NAMES.get(fmt or "", "image")
    if _looks_truncated(data, fmt or "", error):
        received = f" ({_human_bytes(len(data))} received)" if data is not None else ""
        return _reject(
            f"The {shown} data is truncated: it ends before the image is complete{received}. "
            "Upload the complete file.",
            "truncated",
            settings,
        )
    detail = str(error) if isinstance(error, (OSError, SyntaxError, ValueError)) else ""
    if "cannot identify image file" in detail:
        detail = "its header cannot be parsed"
    detail = detail or type(error).__name__
    return _reject(
        f"The {shown} data is corrupt and cannot be decoded ({detail}).", "corrupt", settings
    )


def _bomb_error(error: Image.DecompressionBombError, settings: Settings) -> Exception:
    match = re.search(r"\((\d+) pixels\)", str(error))
    claimed = f"{int(match.group(1)):,} pixels" if match else "a huge number of pixels"
    return _reject(
        f"The image header claims {claimed}, more than the limit of {settings.max_pixels:,} "
        "pixels (a possible decompression bomb).",
        "too_many_pixels",
        settings,
    )


def _too_complex(message: str, settings: Settings) -> InvalidImageError:
    return _reject(message, "too_complex", settings)


def _skip_entropy_data(data: np.ndarray, pos: int) -> int:
    """Where the marker after a scan's entropy-coded data starts (its last 0xFF), from ``pos``.

    The same marker ``_JPEG_MARKER`` finds from ``pos``, found with numpy in growing windows:
    the regex walks the ~100 KB of a photo's scan at ~200 MB/s (0.5 ms at 640x480), this at
    several GB/s; hostile data (all 0xFF 0x00) costs no more. Returns ``len(data)`` when no
    marker follows.
    """
    end = len(data)
    window = _ENTROPY_WINDOW
    while pos < end - 1:
        stop = min(end, pos + window + 1)
        chunk = data[pos:stop]
        hits = np.flatnonzero((chunk[:-1] == 0xFF) & _JPEG_MARKER_CODE[chunk[1:]])
        if hits.size:
            return pos + int(hits[0])
        pos = stop - 1
        window = min(2 * window, _ENTROPY_WINDOW_MAX)
    return max(pos, end)


def _walk_jpeg(data: bytes, settings: Settings) -> None:
    """Count a JPEG's scans and header segments from its markers (no decoding).

    Each scan (SOS) makes libjpeg pass over every block of the image again, so a progressive
    file of a few hundred KB with thousands of tiny scans decodes for minutes.
    """
    scans = segments = 0
    pos = 2  # after SOI
    end = len(data)
    array = np.frombuffer(data, dtype=np.uint8)
    while pos < end:
        match = _JPEG_MARKER.search(data, pos)
        if match is None:
            return  # ends without EOI: the decoder says truncated
        code = match.group(1)[0]
        pos = match.end()
        if code == 0xD9:  # EOI: later bytes (MPO pictures, trailers) are never decoded
            return
        if code in _JPEG_STANDALONE:
            continue
        if pos + 2 > end:
            return
        length = int.from_bytes(data[pos : pos + 2], "big")
        if code == 0xDA:
            scans += 1
            if scans > settings.max_jpeg_scans:
                raise _too_complex(
                    f"The JPEG has more than {settings.max_jpeg_scans} scans (the limit, "
                    "FAKESCOPE_MAX_JPEG_SCANS): each scan makes the decoder go over the whole "
                    "image again, so decoding it would take unbounded time. Real progressive "
                    "JPEGs have about 10; re-save it as a baseline JPEG.",
                    settings,
                )
        else:
            segments += 1
            if segments > _MAX_JPEG_SEGMENTS:
                raise _too_complex(
                    f"The JPEG has more than {_MAX_JPEG_SEGMENTS:,} metadata segments (real "
                    "photos have under 30), too many to parse.",
                    settings,
                )
        # A scan's entropy-coded data follows its header; the next marker search skips it.
        pos += length
        if code == 0xDA:
            pos = _skip_entropy_data(array, pos)


def _walk_png(data: bytes, settings: Settings) -> bytes:
    """Check a PNG's chunk count and CRCs; return it without its text and ICC chunks."""
    pos = len(_PNG_SIGNATURE)
    end = len(data)
    kept: list[memoryview] = [memoryview(data)[:pos]]
    view = memoryview(data)
    dropped = False
    chunks = 0
    while pos + 8 <= end:
        length, kind = struct.unpack_from(">I4s", data, pos)
        stop = pos + 12 + length
        if stop > end:
            break  # cut short: left to the decoder, which reports it as truncated
        chunks += 1
        if chunks > _MAX_PNG_CHUNKS:
            raise _too_complex(
                f"The PNG has more than {_MAX_PNG_CHUNKS:,} chunks (real files have a few "
                "thousand at most), too many to parse.",
                settings,
            )
        crc = int.from_bytes(data[stop - 4 : stop], "big")
        if zlib.crc32(view[pos + 4 : stop - 4]) != crc:
            shown = kind.decode("latin-1") if kind.isalpha() else repr(kind)
            raise _reject(
                f"The PNG data is corrupt and cannot be decoded (the {shown} chunk fails its "
                "CRC check).",
                "corrupt",
                settings,
            )
        if kind in _PNG_DROPPED_CHUNKS:
            dropped = True
        else:
            kept.append(view[pos:stop])
        pos = stop
        if kind == b"IEND":
            break
    if not dropped:
        return data
    kept.append(view[pos:])
    return b"".join(kept)


def _walk_gif(data: bytes, settings: Settings) -> None:
    """Bound the blocks Pillow walks in Python before the first frame's pixels."""
    if len(data) < 13:
        return
    pos = 13
    if data[10] & 0x80:  # global colour table
        pos += 3 << ((data[10] & 0x07) + 1)
    blocks = 0
    end = len(data)
    while pos < end:
        introducer = data[pos]
        if introducer != 0x21:  # an image descriptor, the trailer or junk: the decoder decides
            return
        pos += 2  # introducer and label
        while pos < end:
            size = data[pos]
            pos += 1 + size
            blocks += 1
            if blocks > _MAX_GIF_BLOCKS:
                raise _too_complex(
                    f"The GIF has more than {_MAX_GIF_BLOCKS:,} extension blocks before its "
                    "first frame (real files have a handful), too many to parse.",
                    settings,
                )
            if size == 0:
                break


def _check_bmp(data: bytes, settings: Settings) -> None:
    """Bound run-length-encoded BMP data, which Pillow decodes in a Python loop."""
    if len(data) < 34 or int.from_bytes(data[14:18], "little") < 40:
        return
    compression = int.from_bytes(data[30:34], "little")
    offset = int.from_bytes(data[10:14], "little")
    if compression in (1, 2) and len(data) - offset > _MAX_BMP_RLE_BYTES:
        raise _too_complex(
            f"The BMP holds more than {_human_bytes(_MAX_BMP_RLE_BYTES)} of run-length-encoded "
            "data, which decodes too slowly; save it as PNG.",
            settings,
        )


def _check_structure(data: bytes, fmt: str, settings: Settings) -> bytes:
    """Bound the decoder's work from the file's structure; return the bytes to decode."""
    if fmt == "JPEG":
        _walk_jpeg(data, settings)
    elif fmt == "PNG":
        return _walk_png(data, settings)
    elif fmt == "GIF":
        _walk_gif(data, settings)
    elif fmt == "BMP":
        _check_bmp(data, settings)
    return data


def _check_tiff_segments(image: Image.Image, settings: Settings) -> None:
    """Bound the strips/tiles of an opened TIFF page (one Python tile each in Pillow)."""
    tags = getattr(image, "tag_v2", None)
    if tags is None:
        return
    count = 0
    for tag in (273, 324):  # StripOffsets, TileOffsets
        value = tags.get(tag)
        count += len(value) if isinstance(value, (tuple, list)) else int(value is not None)
    if count > _MAX_TIFF_SEGMENTS:
        raise _too_complex(
            f"The TIFF page is split into {count:,} strips or tiles, more than the limit of "
            f"{_MAX_TIFF_SEGMENTS:,}.",
            settings,
        )


def _require_pillow_guards() -> None:
    """Refuse to decode when other code turned off Pillow's truncation check.

    With ``ImageFile.LOAD_TRUNCATED_IMAGES`` set, a cut or corrupt file loads without an error
    (the missing pixels grey), and FakeScope would score half an image.
    """
    if ImageFile.LOAD_TRUNCATED_IMAGES:
        raise ConfigError(
            "PIL.ImageFile.LOAD_TRUNCATED_IMAGES is True in this process, so truncated images "
            "would decode without an error; FakeScope needs it False (its default)."
        )


def _orientation(image: Image.Image) -> int:
    """The EXIF orientation (1..8) of an image; 1 when absent or out of range.

    Raises whatever Pillow raises for an EXIF block it cannot parse: the caller rejects the
    file as corrupt (a broken block can also mean Pillow stopped part way through the file).
    """
    try:
        value = image.getexif().get(_ORIENTATION_TAG, 1)
    except Exception as error:  # noqa: BLE001 - re-raised with what failed, for the message
        raise ValueError(f"its EXIF block cannot be read: {error}") from error
    return value if isinstance(value, int) and 1 <= value <= 8 else 1


def _apply_orientation(image: Image.Image, orientation: int) -> Image.Image:
    """The image turned upright. A plain transpose: the EXIF block is not rewritten (Pillow's
    ``exif_transpose`` re-serialises it, which can fail on odd blocks), and not needed."""
    method = _TRANSPOSES.get(orientation)
    return image if method is None else image.transpose(method)


def _high_depth_to_rgb(image: Image.Image) -> Image.Image:
    """16-bit, 32-bit integer and float grayscale -> 8-bit RGB.

    Pillow's own conversion clips these to 0..255 (a 16-bit photo turns white), so values are
    scaled: I;16 by 1/257 (65535 -> 255); I by its apparent range (0..255 as is, 0..65535 like
    16-bit, anything else stretched min..max, a constant to mid-grey); F as 0..1 when it fits
    there, else clipped 0..255. NaN and infinities count as 0. float32, in place: a 40 MP image
    needs 160 MB, not the 1 GB of float64 copies.
    """
    values = np.array(image, dtype=np.float32)
    np.nan_to_num(values, copy=False, nan=0.0, posinf=0.0, neginf=0.0)
    low, high = (float(values.min()), float(values.max())) if values.size else (0.0, 0.0)
    if image.mode.startswith("I;16"):
        values *= np.float32(1 / 257)
    elif image.mode == "I":
        if low >= 0 and high <= 255:
            pass
        elif low >= 0 and high <= 65535:
            values *= np.float32(1 / 257)
        elif high > low:
            values -= np.float32(low)
            values *= np.float32(255.0 / (high - low))
        else:
            # One value outside 0..65535: no range to stretch; mid-grey, what a stretch of a
            # vanishing range tends to (and never a division by zero).
            values.fill(128.0)
    elif low >= 0 and high <= 1.0:
        values *= np.float32(255.0)
    np.clip(values, 0, 255, out=values)
    gray = np.rint(values).astype(np.uint8)
    del values
    return Image.fromarray(gray, "L").convert("RGB")


def _to_rgb(image: Image.Image, settings: Settings) -> Image.Image:
    """Any Pillow mode -> RGB (the caller's image is never modified)."""
    mode = image.mode
    if mode == "RGB":
        return image
    if mode in _HIGH_DEPTH_MODES:
        return _high_depth_to_rgb(image)
    has_alpha = "A" in image.getbands() or "a" in image.getbands()
    if mode == "P" and "transparency" in image.info:
        has_alpha = True
    try:
        if has_alpha:
            rgba = image.convert("RGBA")
            # Transparent pixels have no defined colour (often black or leftover garbage); white
            # is what a viewer shows on a page, and it is deterministic, so the same upload always
            # gives the same pixels.
            background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
            return Image.alpha_composite(background, rgba).convert("RGB")
        return image.convert("RGB")
    except ValueError:
        raise _reject(
            f"The image's colour mode {mode!r} cannot be converted to RGB.",
            "unsupported_type",
            settings,
        ) from None


def _decode(
    data: bytes,
    fmt: str,
    settings: Settings,
    draft_size: tuple[int, int] | None,
    reserve: Callable[[int], None] | None,
) -> tuple[Image.Image, int, int, float | None]:
    """Decode validated bytes -> (RGB image, original width, original height, JPEG quality).

    One fresh ``Image.open`` and one ``load()``: any exception, from the header, the EXIF block
    or the pixels, rejects the file. (A second ``load()`` after a failed one returns the
    half-decoded pixels without raising, which is how ``getexif()`` on a PNG, loading it
    internally, once let a corrupt file through.)
    """
    _require_pillow_guards()
    data = _check_structure(data, fmt, settings)
    # Pillow reports odd input through warnings (corrupt EXIF, DecompressionBombWarning). They are
    # recorded here so they never escape to the caller: the pixel limit is checked below by us,
    # and a warning is no reason to reject an image Pillow decodes. (catch_warnings swaps the
    # global filter list; a concurrent thread may miss a warning meanwhile, never an error.)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            image = Image.open(io.BytesIO(data), formats=[fmt])
        except Image.DecompressionBombError as error:
            raise _bomb_error(error, settings) from None
        except Exception as error:  # noqa: BLE001 - hostile bytes can raise anything in a decoder
            raise _decode_error(data, fmt, error, settings) from None
        with image:
            width, height = image.size
            # Only the header has been read so far: nothing is allocated for the pixels yet.
            # (Width x height and the shorter side do not change with the EXIF orientation.)
            _check_dimensions(width, height, settings)
            if fmt == "TIFF":
                _check_tiff_segments(image, settings)
            orientation = 1
            try:
                if fmt == "JPEG":
                    # A JPEG's EXIF is in its header (APP1): reading it loads no pixels, and the
                    # draft size below must know the orientation before the decode starts.
                    orientation = _orientation(image)
                    if draft_size is not None:
                        target = draft_size
                        if orientation in _SWAPPING_ORIENTATIONS:
                            target = (draft_size[1], draft_size[0])  # the stored layout
                        image.draft("RGB", (max(1, int(target[0])), max(1, int(target[1]))))
                if reserve is not None:
                    reserve(image.width * image.height)  # may wait for room, or refuse
                image.load()  # first frame only: later GIF/WebP frames and TIFF pages stay unread
                if image.im is None or getattr(image, "tile", None):
                    raise OSError("the decoder stopped before the end of the image")
                if fmt != "JPEG":
                    # Other formats may keep EXIF after the pixels (PNG eXIf): read it only now.
                    orientation = _orientation(image)
            except InvalidImageError:
                raise
            except Image.DecompressionBombError as error:
                raise _bomb_error(error, settings) from None
            except Exception as error:  # noqa: BLE001 - see above
                raise _decode_error(data, fmt, error, settings) from None
            if orientation in _SWAPPING_ORIENTATIONS:
                width, height = height, width
            quality = estimate_jpeg_quality(image) if fmt == "JPEG" else None
            rgb = _to_rgb(_apply_orientation(image, orientation), settings)
            if rgb is image:
                # The result must not keep the file's data and decoder alive (multi-frame files
                # hold them for seek(); WebP holds its canvas), and closing ``image`` below
                # releases them: a new Image on the same pixel core takes over, no copy.
                rgb = image._new(image.im)
    for warning in caught:
        logger.debug("Pillow warning while decoding %s: %s", fmt, warning.message)
    return rgb, width, height, quality


def _load_pil(
    image: Image.Image,
    settings: Settings,
    name: str | None,
    reserve: Callable[[int], None] | None,
) -> LoadedImage:
    """Validate and convert an image the caller already holds (never modifying it)."""
    fmt = image.format if image.format in ACCEPTED_FORMATS else None
    with warnings.catch_warnings(record=True):
        warnings.simplefilter("always")
        try:
            width, height = image.size
            _check_dimensions(width, height, settings)
            if reserve is not None:
                reserve(width * height)
            image.load()  # a lazily opened file may still fail here
            orientation = _orientation(image)
            quality = estimate_jpeg_quality(image) if fmt == "JPEG" else None
            rgb = _to_rgb(_apply_orientation(image, orientation), settings)
        except InvalidImageError:
            raise
        except Exception as error:  # noqa: BLE001 - anything a decoder raises, as for bytes
            raise _decode_error(None, fmt, error, settings) from None
    if orientation in _SWAPPING_ORIENTATIONS:
        width, height = height, width
    if rgb is image:
        rgb = image.copy()  # the caller may change its image later; ours must not change
    # A canonical encoding (input mode, size, RGB bytes): the same pixels give the same hash.
    digest = hashlib.sha256(f"{image.mode}:{rgb.width}x{rgb.height}:".encode())
    digest.update(rgb.tobytes())
    filename = getattr(image, "filename", None)
    return LoadedImage(
        image=rgb,
        sha256=digest.hexdigest(),
        # An in-memory image has no format; PNG is the lossless format its pixels amount to.
        format=fmt or "PNG",
        width=width,
        height=height,
        size_bytes=0,
        jpeg_quality=quality,
        name=name if name is not None else (str(filename) if filename else None),
    )


def _accepted_sources() -> str:
    return (
        "give encoded image bytes (bytes, bytearray or memoryview), a file path (str or "
        "os.PathLike), a binary file-like object with read(), or a PIL image"
    )


def load_image(
    source: bytes | str | os.PathLike | Image.Image | BinaryIO,
    settings: Settings | None = None,
    *,
    name: str | None = None,
    draft_size: tuple[int, int] | None = None,
    reserve: Callable[[int], None] | None = None,
) -> LoadedImage:
    """Read, validate and decode one image.

    Args:
        source: the encoded bytes (also bytearray/memoryview), a path (str or os.PathLike), a
            binary file-like object (e.g. a Streamlit upload), or a PIL image.
        settings: the limits (``max_file_bytes``, ``max_pixels``, ``min_side``,
            ``max_jpeg_scans``); None means the defaults of ``Settings()``; pass
            ``Settings.from_env()`` to honour FAKESCOPE_* vars.
        name: a file name to keep with the image; defaults to the path or the upload's name.
        draft_size: for JPEG input, let the decoder return a 1/2, 1/4 or 1/8 scale image that
            is still at least this (width, height); ``width``/``height`` stay the original's.
        reserve: called with the number of pixels about to be decoded, after the header is
            checked and before any pixel is decoded; it may block, or raise
            InvalidImageError to refuse (see :class:`PixelBudget`).

    Returns:
        The RGB, EXIF-oriented image with its hash, format, original size and JPEG quality.

    Raises:
        InvalidImageError: with ``reason`` ``empty``, ``too_large``, ``too_many_pixels``,
            ``truncated``, ``corrupt``, ``unsupported_type``, ``too_small``, ``too_complex``,
            ``unreadable`` (or what ``reserve`` raises, e.g. ``busy``); the message says what
            was wrong and what is accepted.
        ConfigError: ``PIL.ImageFile.LOAD_TRUNCATED_IMAGES`` was turned on by other code.
    """
    settings = settings if settings is not None else Settings()
    if isinstance(source, Image.Image):
        return _load_pil(source, settings, name, reserve)
    if isinstance(source, (bytes, bytearray, memoryview)):
        data = bytes(source)
        _check_byte_count(len(data), settings, what="The input")
    elif isinstance(source, (str, os.PathLike)):
        try:
            shown = os.fsdecode(os.fspath(source))
        except (TypeError, ValueError) as error:  # a PathLike whose __fspath__ misbehaves
            raise _reject(f"Cannot read the path given: {error}.", "unreadable", settings) from None
        data = _read_path(source, settings)
        if name is None:
            name = shown
    elif hasattr(source, "read"):
        data = _read_stream(source, settings)
        stream_name = getattr(source, "name", None)
        if name is None and isinstance(stream_name, str) and stream_name:
            name = stream_name
    else:
        type_name = type(source).__name__
        article = "an" if type_name[:1].lower() in "aeiou" else "a"
        kind = "None" if source is None else f"{article} {type_name}"
        raise _reject(
            f"Cannot load an image from {kind}: {_accepted_sources()}.",
            "unsupported_type",
            settings,
        )

    fmt = detect_format(data)
    if fmt is None:
        raise _reject(
            f"The input is not an accepted image: it {_describe_content(data)}.",
            "unsupported_type",
            settings,
        )
    image, width, height, quality = _decode(data, fmt, settings, draft_size, reserve)
    return LoadedImage(
        image=image,
        sha256=hashlib.sha256(data).hexdigest(),
        format=fmt,
        width=width,
        height=height,
        size_bytes=len(data),
        jpeg_quality=quality,
        name=name,
    )


# --------------------------------------------------------------------------------------------
# Memory budget: decoded pixels in flight
# --------------------------------------------------------------------------------------------


class PixelBudget:
    """Decoded pixels held at once, counted against a limit; thread-safe.

    A decode asks for its pixel count (width x height from the header) before it starts and
    gives it back when its full-size image is gone. A request that does not fit waits, up to a
    timeout, for others to give back; a request larger than the whole limit still runs once
    nothing else is held, so every image that passes ``max_pixels`` can be decoded.
    """

    def __init__(self) -> None:
        self._condition = threading.Condition()
        self._held = 0

    @property
    def held(self) -> int:
        """Pixels held right now."""
        with self._condition:
            return self._held

    def acquire(self, pixels: int, limit: int, timeout: float) -> bool:
        """Hold ``pixels`` once ``held + pixels <= limit`` (or nothing is held).

        Returns:
            True when held; False when ``timeout`` seconds passed without room.
        """
        deadline = time.monotonic() + timeout
        with self._condition:
            while self._held > 0 and self._held + pixels > limit:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._condition.wait(remaining)
            self._held += pixels
            return True

    def release(self, pixels: int) -> None:
        """Give back ``pixels`` held by :meth:`acquire`."""
        with self._condition:
            self._held -= pixels
            self._condition.notify_all()


# After an image this large, freed memory is handed back to the system (see below).
_TRIM_AFTER_PIXELS = 4_000_000


def _load_malloc_trim() -> Callable[[int], int] | None:
    try:
        return ctypes.CDLL("libc.so.6").malloc_trim  # type: ignore[no-any-return]
    except (OSError, AttributeError):  # not glibc (macOS, Windows, musl): nothing to do
        return None


_MALLOC_TRIM = _load_malloc_trim()


def _return_freed_memory() -> None:
    """Give freed heap memory back to the system (glibc only).

    A decode's large buffers are freed at once, but glibc keeps them in the arena of the thread
    that freed them (one per preprocessing thread), so the process's RSS would stay at the sum
    of the threads' largest images rather than what is in use. ``malloc_trim(0)`` releases the
    free pages of every arena; it takes well under a millisecond.
    """
    if _MALLOC_TRIM is not None:
        _MALLOC_TRIM(0)


# Every decode of the process that runs through a Predictor counts here (all threads, all
# dashboard sessions).
PROCESS_PIXELS = PixelBudget()


class BatchPixels:
    """The pixel budgets of one batch: its own (``max_batch_pixels``) and the process's
    (``max_inflight_pixels``, shared by every batch)."""

    def __init__(self, settings: Settings, process: PixelBudget | None = None) -> None:
        self.settings = settings
        self.batch = PixelBudget()
        self.process = process if process is not None else PROCESS_PIXELS

    @contextmanager
    def hold(self) -> Iterator[Callable[[int], None]]:
        """A ``reserve`` callback for :func:`load_image`; what it reserved is given back on
        exit (once the decoded image is no longer needed).

        The callback raises InvalidImageError ``busy`` when the process budget has no room
        within ``settings.pixel_wait_seconds``.
        """
        held: list[int] = []
        settings = self.settings

        def reserve(pixels: int) -> None:
            wait = settings.pixel_wait_seconds
            if not self.batch.acquire(pixels, settings.max_batch_pixels, wait):
                raise self._busy(pixels, "this batch's", settings.max_batch_pixels)
            if not self.process.acquire(pixels, settings.max_inflight_pixels, wait):
                self.batch.release(pixels)
                raise self._busy(pixels, "the server's", settings.max_inflight_pixels)
            held.append(pixels)

        try:
            yield reserve
        finally:
            for pixels in held:
                self.process.release(pixels)
                self.batch.release(pixels)
            if sum(held) >= _TRIM_AFTER_PIXELS:
                _return_freed_memory()

    def _busy(self, pixels: int, whose: str, limit: int) -> InvalidImageError:
        return _reject(
            f"The image ({pixels:,} pixels to decode) waited "
            f"{self.settings.pixel_wait_seconds:g} s for room in {whose} memory budget of "
            f"{limit:,} decoded pixels at once, which other images are using: try again in a "
            "moment, or send fewer or smaller images at once.",
            "busy",
            self.settings,
        )


# --------------------------------------------------------------------------------------------
# JPEG quality and drift features
# --------------------------------------------------------------------------------------------


def estimate_jpeg_quality(image: Image.Image) -> float | None:
    """Estimate the IJG quality (1..100) a JPEG was saved with, from its quantization tables.

    The luminance table is compared with the IJG standard luminance table scaled for every
    quality 1..100 (as libjpeg's ``jpeg_set_quality`` scales it); the closest quality, by the sum
    of absolute differences, wins (ties: their mean). Exact for files written by libjpeg or
    Pillow; an approximation for encoders with tables of their own (cameras, Photoshop).

    Args:
        image: a PIL image opened from a JPEG file (it carries ``quantization``).

    Returns:
        The estimated quality, or None when the image has no usable luminance table.
    """
    tables = getattr(image, "quantization", None)
    if not tables or 0 not in tables:
        return None
    luma = np.asarray(tables[0], dtype=np.int64)
    if luma.shape != (64,):
        return None
    error = np.abs(_IJG_LUMA_BY_QUALITY - luma[None, :]).sum(axis=1)
    best = np.flatnonzero(error == error.min()) + 1
    return float(best.mean())


def fitted_size(size: tuple[int, int], max_side: int) -> tuple[int, int]:
    """(width, height) scaled down, aspect kept, so that the longer side is at most ``max_side``
    (unchanged when it already is; never below 1 pixel)."""
    width, height = size
    longer = max(width, height)
    if longer <= max_side:
        return width, height
    scale = max_side / longer
    return max(1, round(width * scale)), max(1, round(height * scale))


def feature_copy(image: Image.Image, max_side: int | None = None) -> np.ndarray:
    """The small copy drift features are computed on: uint8 RGB (H, W, 3), scaled down (area
    average) so that its longer side is at most ``max_side`` (default :data:`FEATURE_MAX_SIDE`).

    Make it once per image and pass it to :func:`compute_features` as ``pixels``.
    """
    if image.mode != "RGB":
        image = image.convert("RGB")
    size = fitted_size(image.size, FEATURE_MAX_SIDE if max_side is None else max_side)
    if size != image.size:
        # BOX = area average: cheap and alias-free. reducing_gap=1.0 lets Pillow first reduce
        # by the whole factor (2 for 640 -> 256 px), then resample the rest (1.25): 0.7 ms
        # instead of 1.0 ms at 640x480 (2.0), and the cost hardly grows with the photo. The
        # features move by at most 0.0015 (brightness) against an exact area average.
        image = image.resize(size, Image.Resampling.BOX, reducing_gap=1.0)
    return np.asarray(image, dtype=np.uint8)


@lru_cache(maxsize=16)
def _spectrum_weights(height: int, width: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(Hann window, weights of all rfft2 bins, weights of the high bins) for one luma shape.

    Made once per shape: traffic comes in a few sizes, and the window and masks cost as much as
    the FFT itself. Read-only, so threads share them.
    """
    window = np.outer(np.hanning(height), np.hanning(width)) if min(height, width) > 2 else None
    fy = np.fft.fftfreq(height)[:, None] / 0.5  # in units of Nyquist
    fx = np.fft.rfftfreq(width)[None, :] / 0.5
    # rfft2 keeps half the columns: the ones that stand for two (+f and -f) count twice.
    weight = np.full((height, fx.shape[1]), 2.0)
    weight[:, 0] = 1.0
    if width % 2 == 0:
        weight[:, -1] = 1.0
    weight[0, 0] = 0.0  # DC
    high = np.where((fx**2 + fy**2) > 0.25**2, weight, 0.0)
    for array in (window, weight, high):
        if array is not None:
            array.setflags(write=False)
    return window, weight.ravel(), high.ravel()  # type: ignore[return-value]


def _high_freq_share(luma: np.ndarray) -> float:
    """Share of the luma's spectral energy outside the disc of radius Nyquist/4 (DC excluded)."""
    height, width = luma.shape
    window, weight, high_weight = _spectrum_weights(height, width)
    centred = np.asarray(luma, dtype=np.float64) - float(luma.mean())
    # A Hann window stops the jump between opposite borders from posing as high frequencies.
    if window is not None:
        centred *= window
    spectrum = np.fft.rfft2(centred)
    power = (spectrum.real**2 + spectrum.imag**2).ravel()
    # Element-wise sums, not ``power @ weight`` (BLAS; see compute_features).
    total = float((power * weight).sum())
    if total <= 1e-12 * max(1, luma.size):
        return 0.0
    high = float((power * high_weight).sum())
    return min(1.0, max(0.0, high / total))


def compute_features(
    loaded: LoadedImage, *, pixels: np.ndarray | None = None
) -> dict[str, float | None]:
    """Image features for drift monitoring, keys exactly :data:`FEATURE_NAMES`.

    All but width/height are computed on a copy scaled down (area average) so that its longer
    side is at most :data:`FEATURE_MAX_SIDE` px (:func:`feature_copy`): the cost does not
    depend on the photo's size and the values are comparable between a 12 MP photo and a 1 MP
    one. Luma is ITU-R BT.601 (0.299 R + 0.587 G + 0.114 B). Arithmetic is float32 except for
    the FFT; the values differ from a float64 computation by under 1e-5 (relative).

    - ``width``, ``height``: original size in pixels after EXIF orientation.
    - ``brightness``: mean luma, 0 (black) .. 1 (white).
    - ``contrast``: standard deviation of luma, 0 (flat) .. 0.5 (half black, half white).
    - ``saturation``: mean HSV saturation (max - min) / max per pixel, 0 (grey) .. 1 (pure hues).
    - ``sharpness``: variance of the 4-neighbour Laplacian of luma in 0..255 units (interior
      pixels), 0 for a flat image, thousands for fine texture or noise.
    - ``high_freq_energy``: share of the luma's spectral energy (Hann-windowed, DC excluded)
      outside the disc of radius 1/4 of the Nyquist frequency, 0..1; about 0.95 for white
      noise, near 1 for a one-pixel checkerboard, near 0 for smooth gradients.
    - ``jpeg_quality``: the estimated IJG quality 1..100 for JPEG input, else None.

    Sharpness and high-frequency energy depend on the scale they are measured at: for an image
    larger than the copy they describe the copy, not the native pixels (how far they move is
    measured in ``tests/unit/test_feature_tolerance.py``).

    Args:
        loaded: an image from :func:`load_image`.
        pixels: ``feature_copy(loaded.image)`` when the caller already made it (the
            :class:`~fakescope.predictor.Predictor` shares it); made here when None.

    Returns:
        A dict of floats (None only for ``jpeg_quality`` of non-JPEG input).
    """
    rgb = feature_copy(loaded.image) if pixels is None else pixels
    red, green, blue = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    # float32 straight from the uint8 channels, no float copies of them. (Not ``rgb @
    # weights``: that calls BLAS, whose threads spin after each call and slow the rest of the
    # request on a busy CPU.)
    luma = red * _LUMA_WEIGHTS_32[0]
    luma += green * _LUMA_WEIGHTS_32[1]
    luma += blue * _LUMA_WEIGHTS_32[2]
    # Channel-wise max/min on uint8 views: far faster than reducing over a trailing axis.
    brightest = np.maximum(np.maximum(red, green), blue)
    spread = brightest - np.minimum(np.minimum(red, green), blue)
    saturation = np.divide(
        spread,
        brightest,
        out=np.zeros(spread.shape, dtype=np.float32),
        where=brightest > 0,
        dtype=np.float32,
    )
    if luma.shape[0] >= 3 and luma.shape[1] >= 3:
        laplacian = luma[:-2, 1:-1] + luma[2:, 1:-1]
        laplacian += luma[1:-1, :-2]
        laplacian += luma[1:-1, 2:]
        laplacian -= 4.0 * luma[1:-1, 1:-1]
        sharpness = float(laplacian.var(dtype=np.float64))
    else:
        sharpness = 0.0
    return {
        "width": float(loaded.width),
        "height": float(loaded.height),
        "brightness": float(luma.mean(dtype=np.float64) / 255.0),
        "contrast": float(luma.std(dtype=np.float64) / 255.0),
        "saturation": float(saturation.mean(dtype=np.float64)),
        "sharpness": sharpness,
        "high_freq_energy": _high_freq_share(luma),
        "jpeg_quality": loaded.jpeg_quality,
    }
