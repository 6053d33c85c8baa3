"""Is this a photograph at all? A cheap test that runs before a verdict is trusted.

The detector was trained on photographs and their generated twins; on a chart, a diagram, a text
screenshot, a logo or a flat-filled cartoon its score means nothing (a scatter plot once came out
"Real, confidence 100 %"). Such images are drawn, not captured: most of their pixels are a few
exact colours, and most of their area is exactly flat. A camera (and a generator imitating one)
leaves sensor noise, shading and texture everywhere, so even a clear sky or a white wall varies
from pixel to pixel.

Two numbers, both on the decoded RGB pixels (no model):

- ``flat_share``: share of 4x4 blocks whose pixels are all exactly the same colour. Blocks are
  read at native resolution (downscaling would average a photo's noise away and make it flat),
  up to 64 x 256 of them on an even grid over the whole image, so the cost does not grow with
  the image's size.
- ``top_colour_share``: share of pixels taken by the 8 most frequent exact colours, counted on a
  nearest-neighbour copy whose longer side is at most 128 px (nearest keeps exact colours, an
  averaging resize would invent new ones at every edge; 16,000 pixels estimate a share to within
  about 1 %).

An image is called "not a photograph" when both are high: large flat areas *and* few colours.
Either alone has photographs that trip it: a photo upscaled 4x by nearest neighbour has exactly
flat 4x4 blocks but thousands of colours; a greyscale photo has few colours (256) but no flat
blocks. Thresholds and how they were chosen are beside the constants below; the measurement is
``python tests/nonphoto_corpus.py --measure`` (see ``docs/dashboard.md``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image

# Blocks of BLOCK x BLOCK pixels, read from STRIPS strips spread evenly over the height and, in
# each, from at most COLUMNS block columns spread evenly over the width: at most 16,384 blocks
# (1-2 ms) whatever the image's size.
BLOCK = 4
STRIPS = 64
COLUMNS = 256
# Up to this many pixels the strips are cut from one array of the whole image; above, from crops
# (a copy of the whole image would cost more than the crops: 38 ms at 12 MP).
WHOLE_ARRAY_PIXELS = 1_000_000
# The colour count runs on a nearest-neighbour copy no larger than this a side: 128 flags exactly
# the same images as 256 on every set measured (see below) in half the time (~1 ms; sorting the
# colours is the check's largest cost).
COLOUR_SIDE = 128
TOP_COLOURS = 8

# Thresholds, chosen from `python tests/nonphoto_corpus.py --measure build/generated`
# (docs/dashboard.md). The 35 drawn images of tests/nonphoto_corpus.py measure flat 0.32-0.95 and
# colours 0.61-1.00 (the lowest: a small anti-aliased scatter plot saved as JPEG q75); saved again
# as JPEG q50 they still measure at least 0.32 and 0.54. The 21 held-out photographs and the 8
# dashboard samples measure at most 0.01 and 0.09 (greyscale photos have the most concentrated
# colours); held-out generator outputs at most 0.24 and 0.30 (64 px DCGAN faces on a flat
# background), never both near the line. FLAT_SHARE_MIN sits between the two groups;
# TOP_COLOUR_SHARE_MIN was raised from 0.40 to 0.50 because training crops that are mostly clipped
# white (candies on a white table, a blown-out lamp) reach 0.40-0.89: 0.50 flags 42 of 7,640
# generator outputs and real crops instead of 64, and still every drawn image above.
FLAT_SHARE_MIN = 0.25
TOP_COLOUR_SHARE_MIN = 0.50
# One colour over (nearly) the whole image: a blank picture, said as such.
BLANK_SHARE_MIN = 0.99

NOT_A_PHOTOGRAPH = (
    "not a photograph: few distinct colours and large flat areas (chart, drawing or screenshot); "
    "FakeScope judges photographs only"
)
BLANK_IMAGE = (
    "not a photograph: the image is (nearly) one flat colour; FakeScope judges photographs only"
)


@dataclass(frozen=True)
class PhotoCheck:
    """The outcome of :func:`check_photograph`.

    Attributes:
        is_photograph: False when the image is drawn (chart, drawing, screenshot, blank).
        reason: why it is not a photograph; empty when it is one.
        flat_share: share of sampled 4x4 blocks that are exactly one colour, 0..1.
        top_colour_share: share of pixels in the 8 most frequent exact colours, 0..1.
        distinct_colours: exact colours in the nearest-neighbour copy (for reports only: a
            greyscale photograph has at most 256).
    """

    is_photograph: bool
    reason: str
    flat_share: float
    top_colour_share: float
    distinct_colours: int


def _strip_pixels(image: Image.Image) -> np.ndarray:
    """uint8 (rows, columns, 3): native pixels of STRIPS strips BLOCK rows high and, in them,
    of COLUMNS windows BLOCK pixels wide, evenly spaced (all of a small image)."""
    width, height = image.size
    if height <= STRIPS * BLOCK:
        pixels = np.asarray(image, dtype=np.uint8)
    else:
        tops = np.linspace(0, height - BLOCK, STRIPS).round().astype(int)
        if width * height <= WHOLE_ARRAY_PIXELS:
            # One copy of a small image and a row index: 0.15 ms at 640x480, against 0.8 ms
            # for 64 crops.
            rows = (tops[:, None] + np.arange(BLOCK)).ravel()
            pixels = np.asarray(image, dtype=np.uint8)[rows]
        else:
            # Crops, not one array of the whole image: a 40 MP image is not copied.
            pixels = np.concatenate(
                [
                    np.asarray(image.crop((0, top, width, top + BLOCK)), dtype=np.uint8)
                    for top in tops
                ]
            )
    if width > COLUMNS * BLOCK:
        lefts = np.linspace(0, width - BLOCK, COLUMNS).round().astype(int)
        pixels = pixels[:, (lefts[:, None] + np.arange(BLOCK)).ravel()]
    return pixels


def _packed(pixels: np.ndarray) -> np.ndarray:
    """uint8 (rows, columns, 3) -> uint32 (rows, columns), one number per colour."""
    packed = pixels[..., 0].astype(np.uint32) << 16
    packed |= pixels[..., 1].astype(np.uint32) << 8
    packed |= pixels[..., 2]
    return packed


def _flat_share(pixels: np.ndarray) -> float:
    """Share of BLOCK x BLOCK blocks (rows of strips) whose pixels are all the same colour.

    A block is flat when, in each of its rows, every pixel equals its right neighbour, and the
    rows start with the same colour. Comparing packed colours along rows is 4x faster than
    comparing (block, block, 3) views reduced over three axes.
    """
    rows = pixels.shape[0] // BLOCK * BLOCK
    cols = pixels.shape[1] // BLOCK * BLOCK
    if rows == 0 or cols == 0:
        return 0.0
    packed = _packed(pixels[:rows, :cols])
    blocks_down, blocks_across = rows // BLOCK, cols // BLOCK
    same = packed[:, 1:] == packed[:, :-1]  # column j against column j + 1
    across = np.ones((rows, blocks_across), dtype=bool)
    for offset in range(BLOCK - 1):  # the pairs inside each block, not those across borders
        across &= same[:, offset::BLOCK][:, :blocks_across]
    firsts = packed[:, ::BLOCK]
    down = (firsts.reshape(blocks_down, BLOCK, blocks_across) == firsts[::BLOCK, None]).all(axis=1)
    flat = down & across.reshape(blocks_down, BLOCK, blocks_across).all(axis=1)
    return float(flat.mean())


def _colour_counts(image: Image.Image) -> np.ndarray:
    """Pixel counts of each exact colour of a nearest-neighbour copy, most frequent first."""
    width, height = image.size
    longer = max(width, height)
    if longer > COLOUR_SIDE:
        scale = COLOUR_SIDE / longer
        size = (max(1, round(width * scale)), max(1, round(height * scale)))
        image = image.resize(size, Image.Resampling.NEAREST)
    packed = _packed(np.asarray(image, dtype=np.uint8)).ravel()
    counts = np.unique(packed, return_counts=True)[1]
    return np.sort(counts)[::-1]


def check_photograph(image: Image.Image) -> PhotoCheck:
    """Tell a photograph (or a photo-like generated image) from a chart, drawing or screenshot.

    Deterministic and cheap (a few ms for any size): see the module docstring for what is
    measured and why.

    Args:
        image: decoded pixels, as :func:`fakescope.images.load_image` returns them (RGB; other
            modes are converted).

    Returns:
        A :class:`PhotoCheck`; ``is_photograph`` is False, with a reason, for drawn images.
    """
    if image.mode != "RGB":
        image = image.convert("RGB")
    flat = _flat_share(_strip_pixels(image))
    counts = _colour_counts(image)
    total = int(counts.sum())
    top = float(counts[:TOP_COLOURS].sum() / total) if total else 0.0
    blank = total > 0 and counts[0] / total >= BLANK_SHARE_MIN
    drawn = flat >= FLAT_SHARE_MIN and top >= TOP_COLOUR_SHARE_MIN
    reason = BLANK_IMAGE if blank else NOT_A_PHOTOGRAPH if drawn else ""
    return PhotoCheck(
        is_photograph=not (blank or drawn),
        reason=reason,
        flat_share=flat,
        top_colour_share=top,
        distinct_colours=len(counts),
    )
