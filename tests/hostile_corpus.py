"""A deterministic corpus of hostile and odd image files, built in memory (no binary fixtures).

Every case is a file's bytes, a name, the suffix it is saved under and what FakeScope must do
with it: ``accept`` (a verdict) or ``reject`` (a reason whose message says what is accepted).
Where the reason is certain it is given too. The corpus covers every class of input the
hardening issue names (truncation, non-images, bombs, odd colour modes, constant and high-depth
pixels, broken EXIF, many frames, many JPEG scans, large PNG metadata, bad CRCs, random pixel
data...) and is rebuilt identically on every run: fixed seeds, no clock, no network. Building
it takes about a second.

``python tests/hostile_corpus.py OUT_DIR`` writes it to a folder for manual probing.
"""

from __future__ import annotations

import gzip
import io
import struct
import sys
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

ACCEPT = "accept"
REJECT = "reject"
ZIP_TIME = (2024, 1, 1, 0, 0, 0)  # archives get a fixed time, so the bytes never change


@dataclass(frozen=True)
class Case:
    """One corpus file.

    Attributes:
        name: unique, file-name safe.
        data: the file's bytes.
        expect: ``accept`` or ``reject``.
        reason: the expected rejection reason, when one is certain (else None).
        suffix: the extension it is written with (on purpose wrong for some cases).
    """

    name: str
    data: bytes
    expect: str
    reason: str | None = None
    suffix: str = ".jpg"

    @property
    def file_name(self) -> str:
        return self.name + self.suffix


# --------------------------------------------------------------------------------------------
# Building blocks
# --------------------------------------------------------------------------------------------


def photo(width: int = 96, height: int = 64, seed: int = 0) -> Image.Image:
    """Gradients plus noise: every channel and position differs."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width]
    base = np.stack([x * 255 / width, y * 255 / height, (x + y) * 127 / (width + height)], axis=2)
    noisy = base + rng.normal(0, 12, size=base.shape)
    return Image.fromarray(np.clip(noisy, 0, 255).astype(np.uint8), "RGB")


def encode(image: Image.Image, fmt: str, **options: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


def png_chunk(kind: bytes, body: bytes, crc: int | None = None) -> bytes:
    value = zlib.crc32(kind + body) if crc is None else crc
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", value)


def png_insert(png: bytes, chunks: bytes) -> bytes:
    """``chunks`` inserted right after IHDR (signature 8 + IHDR 25 bytes)."""
    return png[:33] + chunks + png[33:]


def png_with_pixels(width: int, height: int, idat: bytes) -> bytes:
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + png_chunk(b"IHDR", ihdr)
        + png_chunk(b"IDAT", idat)
        + png_chunk(b"IEND", b"")
    )


def jpeg_with_exif(exif: bytes, image: Image.Image | None = None) -> bytes:
    """A JPEG whose APP1 segment carries ``exif`` (which should start with ``Exif\\0\\0``)."""
    base = encode(image or photo(), "JPEG", quality=90)
    segment = b"\xff\xe1" + struct.pack(">H", len(exif) + 2) + exif
    return base[:2] + segment + base[2:]


def tiff_exif(entries: list[tuple[int, int, int, bytes]], big_endian: bool = False) -> bytes:
    """An EXIF block (``Exif\\0\\0`` + TIFF header + one IFD) from (tag, type, count, value)."""
    order = ">" if big_endian else "<"
    head = (b"MM\x00*" if big_endian else b"II*\x00") + struct.pack(order + "I", 8)
    ifd = struct.pack(order + "H", len(entries))
    for tag, kind, count, value in entries:
        ifd += struct.pack(order + "HHI", tag, kind, count) + value.ljust(4, b"\x00")
    return b"Exif\x00\x00" + head + ifd + struct.pack(order + "I", 0)


def progressive_jpeg_with_scans(width: int, height: int, extra_scans: int) -> bytes:
    """A valid progressive grayscale JPEG with ``extra_scans`` tiny AC scans appended.

    Each added scan refines coefficient 63 with one end-of-band run covering every block: a
    few bytes that make libjpeg pass over the whole image once more (the attack in the issue:
    318 KB, 3000 scans, over 20 s to decode).
    """
    base = encode(Image.new("L", (width, height), 128), "JPEG", progressive=True, quality=75)
    blocks = ((width + 7) // 8) * ((height + 7) // 8)
    runs = []
    left = blocks
    while left > 0:
        runs.append(min(left, 32767))  # EOB14 covers at most 32767 blocks
        left -= runs[-1]
    symbols = sorted({run.bit_length() - 1 for run in runs})
    counts = [0] * 16
    for index in range(len(symbols)):
        counts[index] = 1  # code lengths 1, 2, 3...: codes 0, 10, 110...
    table = b"\x11" + bytes(counts) + bytes(symbol << 4 for symbol in symbols)
    dht = b"\xff\xc4" + struct.pack(">H", 2 + len(table)) + table
    codes = {symbol: "1" * index + "0" for index, symbol in enumerate(symbols)}
    bits = ""
    for run in runs:
        size = run.bit_length() - 1
        bits += codes[size] + (format(run - (1 << size), f"0{size}b") if size else "")
    bits += "1" * (-len(bits) % 8)
    entropy = int(bits, 2).to_bytes(len(bits) // 8, "big").replace(b"\xff", b"\xff\x00")
    sos = b"\xff\xda" + struct.pack(">H", 8) + b"\x01\x01\x01" + b"\x3f\x3f\x00"
    return base[:-2] + dht + (sos + entropy) * extra_scans + b"\xff\xd9"


def bmp_rle8(width: int, height: int, pairs_per_row: int) -> bytes:
    """An 8-bit run-length-encoded BMP (Pillow cannot write one), runs of width/pairs pixels."""
    run = max(1, width // pairs_per_row)
    row = b""
    for index in range(pairs_per_row):
        row += bytes([run, (index * 37) % 256])
    rows = (row + b"\x00\x00") * height + b"\x00\x01"
    palette = b"".join(bytes([i, i, i, 0]) for i in range(256))
    offset = 14 + 40 + len(palette)
    info = struct.pack("<IiiHHIIiiII", 40, width, height, 1, 8, 1, len(rows), 2835, 2835, 256, 0)
    header = b"BM" + struct.pack("<IHHI", offset + len(rows), 0, 0, offset)
    return header + info + palette + rows


def tiff_header_claiming(width: int, height: int) -> bytes:
    """A little-endian TIFF whose only IFD claims width x height 8-bit gray, one tiny strip."""
    entries = [
        (256, 4, 1, width),  # ImageWidth
        (257, 4, 1, height),  # ImageLength
        (258, 3, 1, 8),  # BitsPerSample
        (259, 3, 1, 1),  # Compression: none
        (262, 3, 1, 1),  # Photometric: black is zero
        (273, 4, 1, 200),  # StripOffsets
        (278, 4, 1, height),  # RowsPerStrip
        (279, 4, 1, 16),  # StripByteCounts
    ]
    ifd = struct.pack("<H", len(entries))
    for tag, kind, count, value in entries:
        packed = struct.pack("<H", value) + b"\x00\x00" if kind == 3 else struct.pack("<I", value)
        ifd += struct.pack("<HHI", tag, kind, count) + packed
    ifd += struct.pack("<I", 0)
    data = b"II*\x00" + struct.pack("<I", 8) + ifd
    return data.ljust(216, b"\x00")


def gif_with_comment_blocks(blocks: int) -> bytes:
    """A valid GIF with one comment extension made of ``blocks`` one-byte sub-blocks."""
    gif = encode(photo().convert("P"), "GIF")
    start = 13 + (3 << ((gif[10] & 0x07) + 1))
    comment = b"\x21\xfe" + b"\x01A" * blocks + b"\x00"
    return gif[:start] + comment + gif[start:]


def frames(count: int, size: int = 40) -> list[Image.Image]:
    return [
        Image.new("RGB", (size, size), ((i * 53) % 256, (i * 11) % 256, 90)) for i in range(count)
    ]


# --------------------------------------------------------------------------------------------
# The corpus
# --------------------------------------------------------------------------------------------


def _valid_cases() -> list[Case]:
    image = photo()
    cases = [
        Case("jpeg_baseline", encode(image, "JPEG", quality=90), ACCEPT),
        Case("jpeg_progressive", encode(image, "JPEG", quality=90, progressive=True), ACCEPT),
        Case("jpeg_grayscale", encode(image.convert("L"), "JPEG"), ACCEPT),
        Case("jpeg_cmyk", encode(image.convert("CMYK"), "JPEG"), ACCEPT),
        Case("jpeg_quality_1", encode(image, "JPEG", quality=1), ACCEPT),
        Case("jpeg_constant_white", encode(Image.new("RGB", (64, 64), "white"), "JPEG"), ACCEPT),
        Case("png_rgb", encode(image, "PNG"), ACCEPT, suffix=".png"),
        Case("png_interlaced", encode(image, "PNG", interlace=1), ACCEPT, suffix=".png"),
        Case("png_rgba", encode(image.convert("RGBA"), "PNG"), ACCEPT, suffix=".png"),
        Case("png_la", encode(image.convert("LA"), "PNG"), ACCEPT, suffix=".png"),
        Case("png_1bit", encode(image.convert("1"), "PNG"), ACCEPT, suffix=".png"),
        Case(
            "png_constant_black", encode(Image.new("RGB", (64, 64)), "PNG"), ACCEPT, suffix=".png"
        ),
        Case("webp_lossy", encode(image, "WEBP", quality=80), ACCEPT, suffix=".webp"),
        Case("webp_lossless", encode(image, "WEBP", lossless=True), ACCEPT, suffix=".webp"),
        Case("webp_rgba", encode(image.convert("RGBA"), "WEBP"), ACCEPT, suffix=".webp"),
        Case("bmp_rgb", encode(image, "BMP"), ACCEPT, suffix=".bmp"),
        Case("bmp_1bit", encode(image.convert("1"), "BMP"), ACCEPT, suffix=".bmp"),
        Case("bmp_rle8_small", bmp_rle8(64, 64, 8), ACCEPT, suffix=".bmp"),
        Case("tiff_rgb", encode(image, "TIFF"), ACCEPT, suffix=".tif"),
        Case("tiff_lzw", encode(image, "TIFF", compression="tiff_lzw"), ACCEPT, suffix=".tif"),
        Case("tiff_cmyk", encode(image.convert("CMYK"), "TIFF"), ACCEPT, suffix=".tif"),
        # Built from bytes: convert("LAB") embeds an ICC profile stamped with the time.
        Case(
            "tiff_lab",
            encode(Image.frombytes("LAB", image.size, image.tobytes()), "TIFF"),
            ACCEPT,
            suffix=".tif",
        ),
        Case("tiff_1bit", encode(image.convert("1"), "TIFF"), ACCEPT, suffix=".tif"),
        Case("gif_palette", encode(image.convert("P"), "GIF"), ACCEPT, suffix=".gif"),
        Case(
            "gif_interlaced", encode(image.convert("P"), "GIF", interlace=1), ACCEPT, suffix=".gif"
        ),
    ]
    # Palette with transparency, in both formats that have it.
    palette = image.convert("P")
    for fmt, suffix in (("PNG", ".png"), ("GIF", ".gif")):
        cases.append(
            Case(
                f"{fmt.lower()}_palette_transparency",
                encode(palette, fmt, transparency=0),
                ACCEPT,
                suffix=suffix,
            )
        )
    # High depth and constant pixels (a constant signed 32-bit TIFF divided by zero).
    ramp16 = (np.arange(64 * 64, dtype=np.uint32).reshape(64, 64) * 16).astype(np.uint16)
    high_depth = {
        "png_16bit_gray": (Image.fromarray(ramp16), "PNG", ".png"),
        "tiff_16bit_gray": (Image.fromarray(ramp16), "TIFF", ".tif"),
        "tiff_16bit_constant": (Image.fromarray(np.full((64, 64), 777, np.uint16)), "TIFF", ".tif"),
        "tiff_int32_constant_negative": (
            Image.fromarray(np.full((64, 64), -7, np.int32)),
            "TIFF",
            ".tif",
        ),
        "tiff_int32_constant_large": (
            Image.fromarray(np.full((64, 64), 1_000_000, np.int32)),
            "TIFF",
            ".tif",
        ),
        "tiff_int32_constant_zero": (Image.fromarray(np.zeros((64, 64), np.int32)), "TIFF", ".tif"),
        "tiff_int32_signed_range": (
            Image.fromarray((np.arange(64 * 64, dtype=np.int32).reshape(64, 64) - 2000) * 1000),
            "TIFF",
            ".tif",
        ),
        "tiff_float_constant": (
            Image.fromarray(np.full((64, 64), 0.5, np.float32)),
            "TIFF",
            ".tif",
        ),
        "tiff_float_nan_inf": (
            Image.fromarray(np.where(np.eye(64, dtype=bool), np.nan, np.inf).astype(np.float32)),
            "TIFF",
            ".tif",
        ),
        "tiff_float_huge": (Image.fromarray(np.full((64, 64), 3e38, np.float32)), "TIFF", ".tif"),
    }
    for name, (picture, fmt, suffix) in high_depth.items():
        cases.append(Case(name, encode(picture, fmt), ACCEPT, suffix=suffix))
    # Wrong extensions: the content decides.
    cases += [
        Case("png_named_jpg", encode(image, "PNG"), ACCEPT, suffix=".jpg"),
        Case("jpeg_named_png", encode(image, "JPEG"), ACCEPT, suffix=".png"),
        Case("gif_named_webp", encode(image.convert("P"), "GIF"), ACCEPT, suffix=".webp"),
        Case("webp_named_txt", encode(image, "WEBP"), ACCEPT, suffix=".txt"),
    ]
    # Extreme aspect ratios at the minimum side.
    cases += [
        Case("png_32x4000", encode(photo(32, 4000, seed=1), "PNG"), ACCEPT, suffix=".png"),
        Case("jpeg_4000x32", encode(photo(4000, 32, seed=2), "JPEG"), ACCEPT),
    ]
    # Polyglots that are still valid images: trailing data is never decoded.
    jpeg = encode(image, "JPEG")
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as handle:
        handle.writestr(zipfile.ZipInfo("payload.txt", ZIP_TIME), "hello")
    cases += [
        Case("jpeg_plus_zip_polyglot", jpeg + archive.getvalue(), ACCEPT),
        Case(
            "png_plus_html_trailer",
            encode(image, "PNG") + b"<html><script>alert(1)</script></html>",
            ACCEPT,
            suffix=".png",
        ),
        Case("jpeg_two_pictures_mpo_like", jpeg + jpeg, ACCEPT),
    ]
    return cases


def _exif_cases() -> list[Case]:
    cases = []
    for orientation in range(1, 9):
        exif = Image.Exif()
        exif[0x0112] = orientation
        data = encode(photo(), "JPEG", exif=exif.tobytes())
        cases.append(Case(f"jpeg_exif_orientation_{orientation}", data, ACCEPT))
    # Out-of-range or odd orientation values are ignored (shown as stored), as browsers do.
    for label, value in (("0", 0), ("9", 9), ("65535", 65535)):
        entry = (0x0112, 3, 1, struct.pack("<H", value))
        cases.append(
            Case(f"jpeg_exif_orientation_bad_{label}", jpeg_with_exif(tiff_exif([entry])), ACCEPT)
        )
    ascii_entry = (0x0112, 2, 2, b"6\x00")
    cases.append(
        Case("jpeg_exif_orientation_ascii", jpeg_with_exif(tiff_exif([ascii_entry])), ACCEPT)
    )
    # An IFD that claims more entries than there are: Pillow warns and reads what it can.
    truncated = tiff_exif([(0x0112, 3, 1, struct.pack("<H", 6))])[:-10]
    cases.append(Case("jpeg_exif_ifd_cut_short", jpeg_with_exif(truncated), ACCEPT))
    # An EXIF block that is not a TIFF structure at all: Pillow reads no tags from it (no
    # failure), so the picture is shown as stored.
    rng = np.random.default_rng(7)
    cases.append(
        Case("jpeg_exif_garbage_header", jpeg_with_exif(b"Exif\x00\x00" + rng.bytes(200)), ACCEPT)
    )
    # PNG eXIf chunk (after the pixels here) with orientation 6, and one with garbage.
    exif = Image.Exif()
    exif[0x0112] = 6
    png = encode(photo(), "PNG")
    with_exif = png[:-12] + png_chunk(b"eXIf", exif.tobytes()[6:]) + png[-12:]
    cases.append(Case("png_exif_after_idat", with_exif, ACCEPT, suffix=".png"))
    garbage = png[:-12] + png_chunk(b"eXIf", b"ZZ" + rng.bytes(60)) + png[-12:]
    cases.append(Case("png_exif_garbage", garbage, REJECT, "corrupt", suffix=".png"))
    return cases


def _work_cases() -> list[Case]:
    """Files whose decoding work is unbounded, or merely large: each must finish in time."""
    cases = [
        # The attack: ~3000 tiny scans (3000 passes over 250k blocks).
        Case(
            "jpeg_3000_scans", progressive_jpeg_with_scans(4000, 4000, 3000), REJECT, "too_complex"
        ),
        Case("jpeg_101_scans", progressive_jpeg_with_scans(256, 256, 95), REJECT, "too_complex"),
        Case("jpeg_94_extra_scans", progressive_jpeg_with_scans(256, 256, 94), ACCEPT),
    ]
    base = encode(photo(), "JPEG")
    comments = b"\xff\xfe\x00\x02" * 5000
    cases.append(
        Case("jpeg_5000_comment_markers", base[:2] + comments + base[2:], REJECT, "too_complex")
    )
    cases.append(Case("jpeg_200_comment_markers", base[:2] + comments[:800] + base[2:], ACCEPT))
    # Large ICC profile in 20 APP2 segments: accepted.
    icc = bytes(np.random.default_rng(3).integers(0, 256, 20 * 60000, dtype=np.uint8))
    cases.append(Case("jpeg_1mb_icc_profile", encode(photo(), "JPEG", icc_profile=icc), ACCEPT))
    png = encode(photo(), "PNG")
    many_text = png_chunk(b"tEXt", b"k\x00v") * 70_000
    cases.append(
        Case("png_70000_text_chunks", png_insert(png, many_text), REJECT, "too_complex", ".png")
    )
    cases.append(
        Case("png_500_text_chunks", png_insert(png, many_text[: 15 * 500]), ACCEPT, suffix=".png")
    )
    cases.append(
        Case(
            "gif_100000_comment_blocks",
            gif_with_comment_blocks(100_000),
            REJECT,
            "too_complex",
            ".gif",
        )
    )
    cases.append(
        Case("gif_1000_comment_blocks", gif_with_comment_blocks(1000), ACCEPT, suffix=".gif")
    )
    cases.append(Case("bmp_rle8_3mb", bmp_rle8(1500, 1500, 1000), REJECT, "too_complex", ".bmp"))
    # Many frames: only the first is decoded.
    animation = frames(300)
    for fmt, suffix in (("GIF", ".gif"), ("WEBP", ".webp"), ("PNG", ".png"), ("TIFF", ".tif")):
        data = encode(animation[0], fmt, save_all=True, append_images=animation[1:])
        cases.append(Case(f"{fmt.lower()}_300_frames", data, ACCEPT, suffix=suffix))
    # APNG whose default image is not part of the animation.
    data = encode(
        animation[0], "PNG", save_all=True, append_images=animation[1:5], default_image=True
    )
    cases.append(Case("apng_default_image", data, ACCEPT, suffix=".png"))
    # A single-colour 6000x6000 lossless WebP: 1.4 KB, 36 megapixels (the memory attack).
    big = encode(Image.new("RGB", (6000, 6000), (10, 200, 30)), "WEBP", lossless=True)
    cases.append(Case("webp_6000x6000_single_colour", big, ACCEPT, suffix=".webp"))
    # TIFF split into 70000 one-row strips, all pointing at the same bytes.
    cases.append(
        Case("tiff_70000_strips", _tiff_many_strips(70_000), REJECT, "too_complex", ".tif")
    )
    return cases


def _tiff_many_strips(strips: int) -> bytes:
    width = 32
    offsets_at = 8 + 2 + 9 * 12 + 4
    counts_at = offsets_at + 4 * strips
    pixels_at = counts_at + 4 * strips
    entries = [
        (256, 4, 1, struct.pack("<I", width)),
        (257, 4, 1, struct.pack("<I", strips)),
        (258, 3, 1, struct.pack("<H", 8)),
        (259, 3, 1, struct.pack("<H", 1)),
        (262, 3, 1, struct.pack("<H", 1)),
        (273, 4, strips, struct.pack("<I", offsets_at)),
        (277, 3, 1, struct.pack("<H", 1)),
        (278, 4, 1, struct.pack("<I", 1)),
        (279, 4, strips, struct.pack("<I", counts_at)),
    ]
    ifd = struct.pack("<H", len(entries))
    for tag, kind, count, value in entries:
        ifd += struct.pack("<HHI", tag, kind, count) + value.ljust(4, b"\x00")
    ifd += struct.pack("<I", 0)
    offsets = struct.pack(f"<{strips}I", *([pixels_at] * strips))
    counts = struct.pack(f"<{strips}I", *([width] * strips))
    return b"II*\x00" + struct.pack("<I", 8) + ifd + offsets + counts + bytes(range(width))


def _metadata_cases() -> list[Case]:
    """Valid PNGs with large metadata chunks: must be accepted (Pillow's 1 MB cap refused them)."""
    png = encode(photo(), "PNG")
    text = b"lorem ipsum " * 200_000  # 2.4 MB, compresses well
    icc = bytes(np.random.default_rng(5).integers(0, 256, 1_500_000, dtype=np.uint8))
    chunks = {
        "png_ztxt_2mb": png_chunk(b"zTXt", b"Comment\x00\x00" + zlib.compress(text)),
        "png_itxt_compressed_2mb": png_chunk(
            b"iTXt", b"Comment\x00\x01\x00en\x00Comment\x00" + zlib.compress(text)
        ),
        "png_text_2mb": png_chunk(b"tEXt", b"Comment\x00" + text),
        "png_iccp_1_5mb": png_chunk(b"iCCP", b"icc\x00\x00" + zlib.compress(icc)),
    }
    cases = [
        Case(name, png_insert(png, chunk), ACCEPT, suffix=".png") for name, chunk in chunks.items()
    ]
    # Broken metadata chunks are still caught by their CRC.
    bad = png_chunk(b"tEXt", b"k\x00v", crc=0x12345678)
    cases.append(Case("png_text_bad_crc", png_insert(png, bad), REJECT, "corrupt", ".png"))
    return cases


def _corrupt_cases() -> list[Case]:
    rng = np.random.default_rng(11)
    image = photo()
    png = encode(image, "PNG")
    cases = [
        Case(
            "png_random_idat", png_with_pixels(64, 64, rng.bytes(2000)), REJECT, "corrupt", ".png"
        ),
        Case(
            "png_random_zlib_idat",
            png_with_pixels(64, 64, zlib.compress(rng.bytes(100))),
            REJECT,
            suffix=".png",
        ),
        Case(
            "png_ihdr_bad_crc", png[:29] + b"\x00\x00\x00\x00" + png[33:], REJECT, "corrupt", ".png"
        ),
    ]
    idat = png.index(b"IDAT")
    length = int.from_bytes(png[idat - 4 : idat], "big")
    crc_at = idat + 4 + length
    cases.append(
        Case(
            "png_idat_bad_crc",
            png[:crc_at] + bytes(4) + png[crc_at + 4 :],
            REJECT,
            "corrupt",
            ".png",
        )
    )
    # Header bytes of each format followed by noise.
    noise = rng.bytes(4096)
    heads = {
        "jpeg_magic_then_noise": (b"\xff\xd8\xff\xe0" + noise, ".jpg"),
        "png_magic_then_noise": (b"\x89PNG\r\n\x1a\n" + noise, ".png"),
        "gif_magic_then_noise": (b"GIF89a" + noise, ".gif"),
        "webp_magic_then_noise": (b"RIFF" + struct.pack("<I", 4100) + b"WEBPVP8L" + noise, ".webp"),
        "tiff_magic_then_noise": (b"II*\x00" + noise, ".tif"),
        "bmp_magic_then_noise": (b"BM" + noise[:12] + struct.pack("<I", 40) + noise, ".bmp"),
    }
    cases += [Case(name, data, REJECT, suffix=suffix) for name, (data, suffix) in heads.items()]
    # Bad structures with a valid start.
    tiff = encode(image, "TIFF")
    cases.append(
        Case(
            "tiff_bad_ifd_offset",
            tiff[:4] + struct.pack("<I", 10**9) + tiff[8:],
            REJECT,
            suffix=".tif",
        )
    )
    bmp = encode(image.convert("P"), "BMP")
    huge_palette = bmp[:46] + struct.pack("<I", 2**31) + bmp[50:]
    cases.append(Case("bmp_huge_palette", huge_palette, REJECT, suffix=".bmp"))
    jpeg = encode(image, "JPEG")
    sof = jpeg.index(b"\xff\xc0")
    no_components = jpeg[: sof + 9] + b"\x00" + jpeg[sof + 10 :]
    cases.append(Case("jpeg_sof_zero_components", no_components, REJECT))
    return cases


def _truncated_cases() -> list[Case]:
    image = photo(128, 96)
    encoded = {
        "jpeg": (encode(image, "JPEG", quality=90), ".jpg"),
        "png": (encode(image, "PNG"), ".png"),
        "webp": (encode(image, "WEBP", quality=90), ".webp"),
        "gif": (encode(image.convert("P"), "GIF"), ".gif"),
        "tiff": (encode(image, "TIFF", compression="tiff_lzw"), ".tif"),
        "bmp": (encode(image, "BMP"), ".bmp"),
    }
    cases = []
    for fmt, (data, suffix) in encoded.items():
        for share in (0.1, 0.5, 0.9):
            cut = data[: int(len(data) * share)]
            cases.append(Case(f"{fmt}_truncated_{int(share * 100)}pct", cut, REJECT, suffix=suffix))
        cases.append(Case(f"{fmt}_first_20_bytes", data[:20], REJECT, suffix=suffix))
    return cases


def _not_image_cases() -> list[Case]:
    rng = np.random.default_rng(13)
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as handle:
        handle.writestr(zipfile.ZipInfo("a.jpg", ZIP_TIME), encode(photo(), "JPEG"))
    unsupported = "unsupported_type"
    raw = {
        "zero_bytes": (b"", "empty"),
        "one_byte": (b"\xff", unsupported),
        "random_1kb": (rng.bytes(1024), unsupported),
        "random_64kb": (rng.bytes(65536), unsupported),
        "plain_text": (b"hello, this is not an image\n" * 20, unsupported),
        "html_page": (
            b"<!DOCTYPE html><html><body><img src=x onerror=alert(1)></body></html>",
            unsupported,
        ),
        "svg_drawing": (
            b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg"><rect/></svg>',
            unsupported,
        ),
        "pdf_document": (
            b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n",
            unsupported,
        ),
        "zip_of_jpeg": (archive.getvalue(), unsupported),
        "gzip_of_png": (gzip.compress(encode(photo(), "PNG"), mtime=0), unsupported),
        "json_text": (b'{"image": "not really"}', unsupported),
        "data_url": (b"data:image/png;base64,iVBORw0KGgo=", unsupported),
        "elf_program": (b"\x7fELF\x02\x01\x01" + bytes(57), unsupported),
        "psd_document": (b"8BPS\x00\x01" + bytes(40), unsupported),
        "ico_icon": (b"\x00\x00\x01\x00\x01\x00" + bytes(40), unsupported),
        "heic_photo": (b"\x00\x00\x00\x18ftypheic" + bytes(40), unsupported),
        "avif_image": (b"\x00\x00\x00\x1cftypavif" + bytes(40), unsupported),
        "jpeg2000": (b"\x00\x00\x00\x0cjP  \r\n\x87\n" + bytes(40), unsupported),
        "utf16_text": ("not an image".encode("utf-16"), unsupported),
        "html_with_jpeg_inside": (b"<html>" + encode(photo(), "JPEG") + b"</html>", unsupported),
        "nul_bytes": (bytes(4096), unsupported),
    }
    return [Case(name, data, REJECT, reason) for name, (data, reason) in raw.items()]


def _size_cases() -> list[Case]:
    too_many = "too_many_pixels"
    webp_canvas = (
        b"RIFF"
        + struct.pack("<I", 4 + 18)
        + b"WEBPVP8X"
        + struct.pack("<I", 10)
        + b"\x00\x00\x00\x00"
        + (16383).to_bytes(3, "little")
        + (16383).to_bytes(3, "little")
    )
    jpeg = encode(photo(), "JPEG")
    sof = jpeg.index(b"\xff\xc0")
    jpeg_bomb = jpeg[: sof + 5] + struct.pack(">HH", 65000, 65000) + jpeg[sof + 9 :]
    gif = encode(photo().convert("P"), "GIF")
    gif_bomb = gif[:6] + struct.pack("<HH", 65535, 65535) + gif[10:]
    bmp = encode(photo(), "BMP")
    bmp_bomb = bmp[:18] + struct.pack("<ii", 100_000, 100_000) + bmp[26:]
    return [
        Case(
            "png_header_100000x100000",
            png_with_pixels(100_000, 100_000, b""),
            REJECT,
            too_many,
            ".png",
        ),
        Case(
            "png_header_7000x7000",
            png_with_pixels(7000, 7000, zlib.compress(b"")),
            REJECT,
            too_many,
            ".png",
        ),
        Case("jpeg_header_65000x65000", jpeg_bomb, REJECT, too_many),
        Case("gif_screen_65535x65535", gif_bomb, REJECT, too_many, ".gif"),
        Case("bmp_header_100000x100000", bmp_bomb, REJECT, too_many, ".bmp"),
        Case(
            "tiff_header_100000x100000",
            tiff_header_claiming(100_000, 100_000),
            REJECT,
            too_many,
            ".tif",
        ),
        Case("webp_canvas_16384x16384", webp_canvas, REJECT, suffix=".webp"),
        Case("png_1x1", encode(Image.new("RGB", (1, 1)), "PNG"), REJECT, "too_small", ".png"),
        Case("jpeg_16x16", encode(photo(16, 16), "JPEG"), REJECT, "too_small"),
        Case("png_31x2000", encode(photo(31, 2000), "PNG"), REJECT, "too_small", ".png"),
        Case(
            "gif_20x4000", encode(photo(20, 400).convert("P"), "GIF"), REJECT, "too_small", ".gif"
        ),
    ]


def build_corpus() -> list[Case]:
    """Every case, in a fixed order, with unique names."""
    cases = (
        _valid_cases()
        + _exif_cases()
        + _metadata_cases()
        + _work_cases()
        + _corrupt_cases()
        + _truncated_cases()
        + _not_image_cases()
        + _size_cases()
    )
    names = [case.name for case in cases]
    duplicates = {name for name in names if names.count(name) > 1}
    assert not duplicates, f"duplicate case names: {sorted(duplicates)}"
    return cases


def hostile_objects() -> list[tuple[str, object, str]]:
    """Python objects handed to ``Predictor.predict`` directly: (name, object, expectation)."""
    return [
        ("int", 5, REJECT),
        ("none", None, REJECT),
        ("float", 3.2, REJECT),
        ("object", object(), REJECT),
        ("dict", {"a": 1}, REJECT),
        ("nested_list", [b"x"], REJECT),
        ("numpy_array", np.zeros((64, 64, 3), np.uint8), REJECT),
        ("text_stream", io.StringIO("text"), REJECT),
        ("empty_path", "", REJECT),
        ("missing_path", "/nonexistent/fakescope/image.jpg", REJECT),
        ("pil_mode_I_constant", Image.fromarray(np.full((64, 64), -5, np.int32)), ACCEPT),
        ("pil_mode_I_constant_large", Image.fromarray(np.full((64, 64), 10**7, np.int32)), ACCEPT),
        ("pil_mode_I16_constant", Image.new("I;16", (64, 64), 300), ACCEPT),
        ("pil_mode_F_constant", Image.new("F", (64, 64), 7.5), ACCEPT),
        ("pil_mode_F_nan", Image.fromarray(np.full((64, 64), np.nan, np.float32)), ACCEPT),
        ("pil_mode_1", Image.new("1", (64, 64), 1), ACCEPT),
        ("pil_mode_PA", Image.new("PA", (64, 64)), ACCEPT),
        ("pil_mode_HSV", Image.new("HSV", (64, 64), (10, 200, 200)), ACCEPT),
        ("pil_mode_YCbCr", Image.new("YCbCr", (64, 64), (100, 128, 128)), ACCEPT),
        ("pil_zero_size", Image.new("RGB", (0, 0)), REJECT),
        ("memoryview_jpeg", memoryview(encode(photo(), "JPEG")), ACCEPT),
        ("bytearray_png", bytearray(encode(photo(), "PNG")), ACCEPT),
        ("binary_stream_jpeg", io.BytesIO(encode(photo(), "JPEG")), ACCEPT),
    ]


def write_corpus(folder: Path) -> dict[str, Path]:
    """Write every case to ``folder`` (created); returns case name -> path."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = {}
    for case in build_corpus():
        path = folder / case.file_name
        path.write_bytes(case.data)
        paths[case.name] = path
    return paths


if __name__ == "__main__":
    if len(sys.argv) != 2:
        raise SystemExit("usage: python tests/hostile_corpus.py OUT_DIR")
    written = write_corpus(Path(sys.argv[1]))
    print(f"{len(written)} files written to {sys.argv[1]}")
