"""A deterministic corpus of images that are not photographs, drawn in memory with PIL and numpy.

Charts (scatter, line, bar, pie), text screenshots (a document, a terminal), a UI mock, a
diagram, a flat logo and a flat-filled cartoon: what people upload to a photo detector by mistake
or to test it, and what FakeScope must answer with Uncertain ("not a photograph") rather than a
confident Real or Fake. Each kind comes in several sizes (200-1600 px a side), as PNG and as JPEG
at quality 75-95 (JPEG adds noise around edges and to flat areas), some drawn at 1x (hard edges),
some supersampled 3x and reduced (anti-aliased edges, as chart libraries and browsers draw).

Fixed seeds, no clock, no system font (Pillow's bundled default font), so the corpus is rebuilt
identically on every run with the same Pillow. Building it takes about a second.

``python tests/nonphoto_corpus.py OUT_DIR`` writes it to a folder for manual probing;
``python tests/nonphoto_corpus.py --measure [PHOTO_DIR ...]`` runs
:func:`fakescope.photo_check.check_photograph` on it and on photographs (the committed held-out
photos, the dashboard samples and any folders given) and prints how many of each are flagged, and
how long the check takes: the figures in ``docs/dashboard.md``.
"""

from __future__ import annotations

import io
import math
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

SYLLABLES = (
    "lo", "rem", "ip", "sum", "do", "lor", "sit", "am", "et", "con", "sec", "tur", "ad", "pis",
    "cing", "el", "it", "sed", "eius", "mod", "tem", "por", "in", "ci", "dunt", "ut", "la",
    "bo", "re", "mag", "na", "ali", "qua",
)  # fmt: skip
PALETTE = (
    (31, 119, 180),
    (255, 127, 14),
    (44, 160, 44),
    (214, 39, 40),
    (148, 103, 189),
    (140, 86, 75),
    (227, 119, 194),
    (127, 127, 127),
)  # matplotlib's tab10, as most charts are coloured


@dataclass(frozen=True)
class NonPhoto:
    """One corpus file.

    Attributes:
        name: unique, file-name safe (kind, size, encoding).
        kind: what it shows (``scatter``, ``line_chart``, ``text_document``, ...).
        data: the encoded bytes.
        suffix: ``.png`` or ``.jpg``.
    """

    name: str
    kind: str
    data: bytes
    suffix: str

    @property
    def file_name(self) -> str:
        return self.name + self.suffix


class Canvas:
    """A PIL drawing at ``scale`` x the target size; ``image()`` reduces it (anti-aliasing)."""

    def __init__(self, width: int, height: int, background: tuple[int, int, int], scale: int):
        self.width, self.height, self.scale = width, height, scale
        self._image = Image.new("RGB", (width * scale, height * scale), background)
        self.draw = ImageDraw.Draw(self._image)

    def s(self, value: float) -> int:
        return int(round(value * self.scale))

    def font(self, size: float) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
        return ImageFont.load_default(size=max(6, self.s(size)))

    def text(self, xy: tuple[float, float], text: str, fill: object, size: float) -> None:
        self.draw.text((self.s(xy[0]), self.s(xy[1])), text, fill=fill, font=self.font(size))

    def line(self, points: list[tuple[float, float]], fill: object, width: float = 1) -> None:
        self.draw.line(
            [(self.s(x), self.s(y)) for x, y in points], fill=fill, width=max(1, self.s(width))
        )

    def rect(
        self,
        box: tuple[float, float, float, float],
        fill: object = None,
        outline: object = None,
        width: float = 1,
        radius: float = 0,
    ) -> None:
        scaled = tuple(self.s(v) for v in box)
        self.draw.rounded_rectangle(
            scaled, radius=self.s(radius), fill=fill, outline=outline, width=max(1, self.s(width))
        )

    def ellipse(
        self, box: tuple[float, float, float, float], fill: object = None, outline: object = None
    ) -> None:
        self.draw.ellipse(tuple(self.s(v) for v in box), fill=fill, outline=outline)

    def polygon(self, points: list[tuple[float, float]], fill: object, outline: object = None):
        self.draw.polygon([(self.s(x), self.s(y)) for x, y in points], fill=fill, outline=outline)

    def image(self) -> Image.Image:
        if self.scale == 1:
            return self._image
        return self._image.resize((self.width, self.height), Image.Resampling.LANCZOS)


def words(rng: np.random.Generator, count: int) -> str:
    return " ".join(
        "".join(rng.choice(SYLLABLES, size=int(rng.integers(1, 4)))) for _ in range(count)
    )


# --------------------------------------------------------------------------------------------
# Charts
# --------------------------------------------------------------------------------------------


def _axes(c: Canvas, rng: np.random.Generator, dark: bool = False) -> tuple[float, ...]:
    """Frame, grid, ticks, tick labels, axis labels and a title; returns the plot box."""
    w, h = c.width, c.height
    ink = (220, 220, 220) if dark else (30, 30, 30)
    grid = (70, 70, 70) if dark else (225, 225, 225)
    unit = min(w, h) / 40
    left, top, right, bottom = 4.5 * unit, 3 * unit, w - 1.5 * unit, h - 4 * unit
    for i in range(6):
        x = left + (right - left) * i / 5
        y = bottom - (bottom - top) * i / 5
        c.line([(x, top), (x, bottom)], grid)
        c.line([(left, y), (right, y)], grid)
        c.line([(x, bottom), (x, bottom + unit * 0.4)], ink)
        c.line([(left - unit * 0.4, y), (left, y)], ink)
        c.text((x - unit * 0.5, bottom + unit * 0.6), f"{i * 20}", ink, unit * 0.9)
        c.text((left - unit * 2.6, y - unit * 0.5), f"{i * 0.2:.1f}", ink, unit * 0.9)
    c.rect((left, top, right, bottom), outline=ink, width=max(1, unit / 10))
    c.text(((left + right) / 2 - unit * 3, h - unit * 2), words(rng, 2), ink, unit)
    c.text((w / 2 - unit * 5, unit * 0.8), words(rng, 3).title(), ink, unit * 1.2)
    return left, top, right, bottom


def scatter(width: int, height: int, seed: int, scale: int, dark: bool = False) -> Image.Image:
    rng = np.random.default_rng(seed)
    c = Canvas(width, height, (17, 17, 17) if dark else (255, 255, 255), scale)
    left, top, right, bottom = _axes(c, rng, dark)
    radius = max(1.5, min(width, height) / 150)
    for series in range(int(rng.integers(1, 4))):
        colour = PALETTE[(seed + series) % len(PALETTE)]
        n = int(rng.integers(40, 250))
        xs = rng.uniform(0.05, 0.95, n)
        ys = np.clip(xs * rng.uniform(-1, 1) + 0.5 + rng.normal(0, 0.15, n), 0.03, 0.97)
        for x, y in zip(xs, ys):
            cx, cy = left + (right - left) * x, bottom - (bottom - top) * y
            c.ellipse((cx - radius, cy - radius, cx + radius, cy + radius), fill=colour)
    return c.image()


def line_chart(width: int, height: int, seed: int, scale: int) -> Image.Image:
    rng = np.random.default_rng(seed)
    c = Canvas(width, height, (255, 255, 255), scale)
    left, top, right, bottom = _axes(c, rng)
    for series in range(int(rng.integers(2, 5))):
        steps = int(rng.integers(20, 80))
        ys = np.clip(0.5 + np.cumsum(rng.normal(0, 0.05, steps)), 0.05, 0.95)
        points = [
            (left + (right - left) * i / (steps - 1), bottom - (bottom - top) * y)
            for i, y in enumerate(ys)
        ]
        c.line(points, PALETTE[series], width=max(1.0, min(width, height) / 300))
    unit = min(width, height) / 40
    for series in range(3):  # legend
        y = top + unit * (1 + 1.4 * series)
        c.line([(right - 9 * unit, y), (right - 7 * unit, y)], PALETTE[series], width=2)
        c.text((right - 6.5 * unit, y - unit * 0.5), words(rng, 1), (30, 30, 30), unit * 0.9)
    return c.image()


def bar_chart(width: int, height: int, seed: int, scale: int) -> Image.Image:
    rng = np.random.default_rng(seed)
    c = Canvas(width, height, (255, 255, 255), scale)
    left, top, right, bottom = _axes(c, rng)
    bars = int(rng.integers(4, 12))
    slot = (right - left) / bars
    for i in range(bars):
        value = rng.uniform(0.1, 0.95)
        colour = PALETTE[i % len(PALETTE)] if seed % 2 else PALETTE[0]
        x0 = left + slot * (i + 0.15)
        c.rect((x0, bottom - (bottom - top) * value, x0 + slot * 0.7, bottom), fill=colour)
    return c.image()


def pie_chart(width: int, height: int, seed: int, scale: int) -> Image.Image:
    rng = np.random.default_rng(seed)
    c = Canvas(width, height, (255, 255, 255), scale)
    side = min(width, height)
    box = (side * 0.1, side * 0.1, side * 0.9, side * 0.9)
    shares = rng.dirichlet(np.ones(int(rng.integers(3, 7))))
    start = -90.0
    for i, share in enumerate(shares):
        end = start + 360 * share
        c.draw.pieslice(
            tuple(c.s(v) for v in box), start, end, fill=PALETTE[i], outline=(255, 255, 255)
        )
        middle = math.radians((start + end) / 2)
        c.text(
            (side / 2 + side * 0.25 * math.cos(middle), side / 2 + side * 0.25 * math.sin(middle)),
            f"{share:.0%}",
            (255, 255, 255),
            side / 30,
        )
        start = end
    for i in range(len(shares)):  # legend beside the pie
        y = side * 0.15 + i * side / 18
        c.rect((side * 0.95, y, side * 0.95 + side / 30, y + side / 30), fill=PALETTE[i])
        c.text((side * 1.0, y), words(rng, 2), (30, 30, 30), side / 32)
    return c.image()


# --------------------------------------------------------------------------------------------
# Screens and graphics
# --------------------------------------------------------------------------------------------


def text_document(width: int, height: int, seed: int, scale: int) -> Image.Image:
    rng = np.random.default_rng(seed)
    c = Canvas(width, height, (255, 255, 255), scale)
    size = max(9.0, width / 55)
    margin, y = width * 0.08, height * 0.06
    c.text((margin, y), words(rng, 4).title(), (0, 0, 0), size * 1.6)
    y += size * 3
    while y < height - size * 2:
        for _ in range(int(rng.integers(3, 8))):
            if y >= height - size * 2:
                break
            c.text((margin, y), words(rng, int(width / (size * 4))), (20, 20, 20), size)
            y += size * 1.5
        y += size
    return c.image()


def terminal(width: int, height: int, seed: int, scale: int) -> Image.Image:
    rng = np.random.default_rng(seed)
    c = Canvas(width, height, (30, 30, 30), scale)
    size = max(9.0, width / 70)
    c.rect((0, 0, width, size * 1.8), fill=(60, 60, 60))
    for i, colour in enumerate(((255, 95, 86), (255, 189, 46), (39, 201, 63))):
        c.ellipse((size * (0.6 + 1.3 * i), size * 0.4, size * (1.6 + 1.3 * i), size * 1.4), colour)
    y = size * 2.5
    while y < height - size * 1.5:
        if rng.random() < 0.3:
            c.text((size * 0.5, y), "user@host:~$", (80, 250, 123), size)
            c.text((size * 7.5, y), words(rng, 3), (240, 240, 240), size)
        else:
            colour = (200, 200, 200) if rng.random() < 0.8 else (255, 85, 85)
            c.text((size * 0.5, y), words(rng, int(rng.integers(2, 12))), colour, size)
        y += size * 1.35
    return c.image()


def ui_mock(width: int, height: int, seed: int, scale: int) -> Image.Image:
    rng = np.random.default_rng(seed)
    c = Canvas(width, height, (245, 246, 248), scale)
    unit = min(width, height) / 30
    accent = PALETTE[seed % len(PALETTE)]
    c.rect((0, 0, width, unit * 2.5), fill=accent)
    c.text((unit, unit * 0.6), words(rng, 2).title(), (255, 255, 255), unit * 1.1)
    c.rect((0, unit * 2.5, width * 0.22, height), fill=(230, 232, 236))
    for i in range(8):
        c.text((unit * 0.8, unit * (4 + 1.8 * i)), words(rng, 1).title(), (50, 50, 60), unit * 0.8)
    x0 = width * 0.22 + unit
    for row in range(3):
        y0 = unit * (4 + 6.5 * row)
        c.rect(
            (x0, y0, width - unit, y0 + unit * 5.5),
            fill=(255, 255, 255),
            outline=(210, 210, 215),
            radius=unit * 0.3,
        )
        c.text((x0 + unit, y0 + unit * 0.6), words(rng, 3).title(), (20, 20, 30), unit)
        c.text((x0 + unit, y0 + unit * 2), words(rng, 8), (90, 90, 100), unit * 0.75)
        c.rect(
            (x0 + unit, y0 + unit * 3.6, x0 + unit * 6, y0 + unit * 4.8),
            fill=accent,
            radius=unit * 0.3,
        )
        c.text((x0 + unit * 1.6, y0 + unit * 3.8), "Submit", (255, 255, 255), unit * 0.75)
        c.rect(
            (x0 + unit * 7, y0 + unit * 3.6, width - unit * 2, y0 + unit * 4.8),
            fill=(255, 255, 255),
            outline=(180, 180, 190),
            radius=unit * 0.2,
        )
    return c.image()


def diagram(width: int, height: int, seed: int, scale: int) -> Image.Image:
    rng = np.random.default_rng(seed)
    c = Canvas(width, height, (255, 255, 255), scale)
    unit = min(width, height) / 20
    boxes = []
    for row in range(3):
        for col in range(3):
            if rng.random() < 0.25:
                continue
            x = width * (0.08 + 0.31 * col)
            y = height * (0.1 + 0.3 * row)
            box = (x, y, x + width * 0.22, y + height * 0.15)
            c.rect(box, outline=(0, 0, 0), width=max(1, unit / 12), radius=unit * 0.3)
            c.text((x + unit * 0.4, y + unit * 0.4), words(rng, 1), (0, 0, 0), unit * 0.7)
            boxes.append(box)
    for a, b in zip(boxes, boxes[1:]):
        start = ((a[0] + a[2]) / 2, a[3])
        end = ((b[0] + b[2]) / 2, b[1])
        c.line([start, end], (0, 0, 0), width=max(1, unit / 15))
        angle = math.atan2(end[1] - start[1], end[0] - start[0])
        tip = [
            end,
            (
                end[0] - unit * 0.5 * math.cos(angle - 0.4),
                end[1] - unit * 0.5 * math.sin(angle - 0.4),
            ),
            (
                end[0] - unit * 0.5 * math.cos(angle + 0.4),
                end[1] - unit * 0.5 * math.sin(angle + 0.4),
            ),
        ]
        c.polygon(tip, fill=(0, 0, 0))
    return c.image()


def logo(width: int, height: int, seed: int, scale: int) -> Image.Image:
    rng = np.random.default_rng(seed)
    background = (255, 255, 255) if seed % 2 else PALETTE[(seed + 3) % len(PALETTE)]
    c = Canvas(width, height, background, scale)
    side = min(width, height)
    cx, cy = width / 2, height * 0.42
    c.ellipse(
        (cx - side * 0.28, cy - side * 0.28, cx + side * 0.28, cy + side * 0.28),
        fill=PALETTE[seed % len(PALETTE)],
    )
    points = [
        (cx + side * 0.2 * math.cos(a), cy + side * 0.2 * math.sin(a))
        for a in np.linspace(0, 2 * math.pi, int(rng.integers(3, 7)), endpoint=False) + 0.3
    ]
    c.polygon(points, fill=(255, 255, 255))
    c.ellipse(
        (cx - side * 0.06, cy - side * 0.06, cx + side * 0.06, cy + side * 0.06), (20, 20, 20)
    )
    c.text((width * 0.2, height * 0.8), words(rng, 2).upper(), (20, 20, 20), side / 12)
    return c.image()


def cartoon(width: int, height: int, seed: int, scale: int) -> Image.Image:
    rng = np.random.default_rng(seed)
    c = Canvas(width, height, (135, 206, 235), scale)
    ink = (25, 25, 25)
    horizon = height * rng.uniform(0.55, 0.7)
    c.rect((0, horizon, width, height), fill=(110, 190, 80), outline=ink, width=2)
    side = min(width, height)
    c.ellipse(
        (width * 0.75, side * 0.06, width * 0.75 + side * 0.16, side * 0.22), (255, 215, 0), ink
    )
    for _ in range(int(rng.integers(1, 4))):  # clouds
        x, y = rng.uniform(0.05, 0.6) * width, rng.uniform(0.05, 0.25) * height
        for dx in (0, side * 0.06, side * 0.12):
            c.ellipse((x + dx, y, x + dx + side * 0.1, y + side * 0.07), (255, 255, 255))
    hx = width * rng.uniform(0.1, 0.4)
    hw = side * 0.3
    c.rect((hx, horizon - hw * 0.8, hx + hw, horizon + side * 0.02), (230, 90, 70), ink, 2)
    c.polygon(
        [
            (hx - hw * 0.1, horizon - hw * 0.8),
            (hx + hw / 2, horizon - hw * 1.35),
            (hx + hw * 1.1, horizon - hw * 0.8),
        ],
        fill=(150, 60, 40),
        outline=ink,
    )
    c.rect((hx + hw * 0.4, horizon - hw * 0.35, hx + hw * 0.6, horizon), (120, 80, 40), ink, 2)
    tx = width * rng.uniform(0.6, 0.85)
    c.rect((tx, horizon - side * 0.15, tx + side * 0.04, horizon + side * 0.05), (120, 80, 40), ink)
    c.ellipse(
        (tx - side * 0.08, horizon - side * 0.32, tx + side * 0.12, horizon - side * 0.12),
        (34, 139, 34),
        ink,
    )
    return c.image()


# --------------------------------------------------------------------------------------------
# The corpus
# --------------------------------------------------------------------------------------------

Builder = Callable[..., Image.Image]
# (kind, builder, extra keyword arguments, [(width, height, encoding, scale)]); encodings are
# "png" or "jpegNN" (quality NN). Sizes 200-1600 px, about half anti-aliased (scale 3).
PLAN: list[tuple[str, Builder, dict, list[tuple[int, int, str, int]]]] = [
    (
        "scatter",
        scatter,
        {},
        [
            (640, 480, "png", 3),
            (1600, 1200, "jpeg85", 1),
            (300, 240, "jpeg75", 3),
            (800, 800, "png", 1),
        ],
    ),
    ("scatter_dark", scatter, {"dark": True}, [(1000, 700, "jpeg90", 3), (480, 360, "png", 1)]),
    (
        "line_chart",
        line_chart,
        {},
        [(800, 500, "png", 3), (1280, 720, "jpeg80", 1), (400, 300, "jpeg95", 3)],
    ),
    (
        "bar_chart",
        bar_chart,
        {},
        [(640, 480, "png", 1), (1200, 900, "jpeg75", 3), (260, 200, "png", 3)],
    ),
    (
        "pie_chart",
        pie_chart,
        {},
        [(900, 600, "png", 3), (600, 400, "jpeg85", 1), (1500, 1000, "jpeg95", 1)],
    ),
    (
        "text_document",
        text_document,
        {},
        [
            (850, 1100, "png", 1),
            (1240, 1600, "jpeg85", 3),
            (600, 800, "jpeg75", 1),
            (400, 520, "png", 3),
        ],
    ),
    (
        "terminal",
        terminal,
        {},
        [(960, 600, "png", 1), (1400, 900, "jpeg80", 1), (500, 320, "jpeg95", 3)],
    ),
    (
        "ui_mock",
        ui_mock,
        {},
        [(1280, 800, "png", 1), (1440, 900, "jpeg85", 3), (390, 844, "jpeg75", 1)],
    ),
    (
        "diagram",
        diagram,
        {},
        [(1000, 700, "png", 3), (700, 500, "jpeg90", 1), (240, 200, "png", 1)],
    ),
    ("logo", logo, {}, [(512, 512, "png", 3), (300, 300, "jpeg80", 1), (1024, 768, "jpeg95", 1)]),
    (
        "cartoon",
        cartoon,
        {},
        [
            (800, 600, "png", 1),
            (1200, 800, "jpeg85", 3),
            (480, 360, "jpeg75", 1),
            (200, 200, "png", 3),
        ],
    ),
]


def _save(image: Image.Image, fmt: str, **options: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **options)
    return buffer.getvalue()


def _encode(image: Image.Image, encoding: str) -> tuple[bytes, str]:
    if encoding == "png":
        return _save(image, "PNG"), ".png"
    return _save(image, "JPEG", quality=int(encoding[4:])), ".jpg"


def build_corpus() -> list[NonPhoto]:
    """Every non-photograph, in a fixed order, with unique names."""
    corpus = []
    for kind, builder, extra, variants in PLAN:
        for index, (width, height, encoding, scale) in enumerate(variants):
            image = builder(width, height, seed=index + 1, scale=scale, **extra)
            data, suffix = _encode(image, encoding)
            name = f"{kind}_{width}x{height}_{encoding}{'_aa' if scale > 1 else ''}"
            corpus.append(NonPhoto(name, kind.removesuffix("_dark"), data, suffix))
    names = [item.name for item in corpus]
    assert len(set(names)) == len(names), "duplicate names in the non-photo corpus"
    return corpus


def write_corpus(folder: Path) -> dict[str, Path]:
    """Write every image to ``folder`` (created); returns name -> path."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = {}
    for item in build_corpus():
        path = folder / item.file_name
        path.write_bytes(item.data)
        paths[item.name] = path
    return paths


REPO_ROOT = Path(__file__).resolve().parents[1]
PHOTO_DIRS = (
    REPO_ROOT / "tests" / "quality" / "heldout_photos",
    REPO_ROOT / "src" / "fakescope" / "samples",
)
PHOTO_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp")


def measure(photo_dirs: list[Path]) -> None:
    """Print the check's flag rate on this corpus and on the photographs in ``photo_dirs``."""
    from fakescope.images import load_image
    from fakescope.photo_check import check_photograph

    seconds: list[float] = []

    def check(data: bytes) -> object:
        image = load_image(data).image  # decoded as the Predictor decodes it
        start = time.perf_counter()
        result = check_photograph(image)
        seconds.append(time.perf_counter() - start)
        return result

    corpus = build_corpus()
    # The corpus as built, then saved again the ways uploads often are (None: as built).
    variants: dict[str, Callable[[Image.Image], bytes] | None] = {
        "": None,
        " re-saved as JPEG q50": lambda image: _save(image, "JPEG", quality=50),
        " re-saved as WebP q75": lambda image: _save(image, "WEBP", quality=75),
        " shrunk to 0.6x (bilinear), JPEG q85": lambda image: _save(
            image.resize(
                (max(32, int(image.width * 0.6)), max(32, int(image.height * 0.6))),
                Image.Resampling.BILINEAR,
            ),
            "JPEG",
            quality=85,
        ),
    }
    for label, variant in variants.items():
        missed = []
        for item in corpus:
            data = item.data
            if variant is not None:
                data = variant(Image.open(io.BytesIO(item.data)).convert("RGB"))
            if check(data).is_photograph:
                missed.append(item.name)
        print(f"non-photographs{label} flagged: {len(corpus) - len(missed)}/{len(corpus)}")
        for name in missed:
            print(f"  missed: {name}")
    for folder in photo_dirs:
        paths = sorted(p for p in folder.rglob("*") if p.suffix.lower() in PHOTO_SUFFIXES)
        flagged = [p for p in paths if not check(p.read_bytes()).is_photograph]
        print(f"photographs flagged in {folder}: {len(flagged)}/{len(paths)}")
        for path in flagged:
            print(f"  flagged: {path}")
    print(
        f"check time per image: median {statistics.median(seconds) * 1000:.1f} ms, "
        f"max {max(seconds) * 1000:.1f} ms ({len(seconds)} images)"
    )


if __name__ == "__main__":
    if len(sys.argv) >= 2 and sys.argv[1] == "--measure":
        measure(list(PHOTO_DIRS) + [Path(arg) for arg in sys.argv[2:]])
    elif len(sys.argv) == 2:
        written = write_corpus(Path(sys.argv[1]))
        print(f"{len(written)} files written to {sys.argv[1]}")
    else:
        raise SystemExit(
            "usage: python tests/nonphoto_corpus.py OUT_DIR\n"
            "       python tests/nonphoto_corpus.py --measure [PHOTO_DIR ...]"
        )
