"""The 2-D Fourier magnitude of an image: where upsampling leaves its periodic traces.

A generator's up-sampling stages (transposed convolutions, interpolation followed by learned
filters) repeat a small pattern every 2 or 4 pixels. In the image's spectrum that periodicity shows
as bright isolated dots away from the centre, at 1/2 and 1/4 of the sampling rate (Zhang, Karaman
& Chang, 2019). A camera photograph has a smooth spectrum that falls off from the centre.

Two choices keep those traces visible:

* the image is never resized: a central crop at native resolution is transformed, because
  resampling would move or erase exactly the periodic pattern we want to see;
* by default the transform is of a high-pass residual (the luma minus its 3x3 local mean), so the
  image content, which dominates low frequencies, does not drown the faint high-frequency peaks.

JPEG compression works on an 8x8 grid and therefore also draws a lattice of dots (at multiples of
1/8 of the sampling rate); the dashboard says so next to the picture.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

from fakescope.errors import InvalidImageError

DEFAULT_MAX_SIDE = 512
_LUMA_WEIGHTS = np.array([0.299, 0.587, 0.114])  # ITU-R BT.601, as fakescope.images
_MIN_SIDE = 8

# Anchor colours of a dark-to-bright perceptual colour map (close to matplotlib's "inferno"),
# interpolated into a 256-entry table so the runtime needs no matplotlib.
_ANCHORS = np.array(
    [
        [0, 0, 4],
        [40, 11, 84],
        [101, 21, 110],
        [159, 42, 99],
        [212, 72, 66],
        [245, 125, 21],
        [250, 193, 39],
        [252, 255, 164],
    ],
    dtype=np.float64,
)


def _colour_table() -> np.ndarray:
    positions = np.linspace(0.0, 1.0, len(_ANCHORS))
    levels = np.linspace(0.0, 1.0, 256)
    table = np.stack([np.interp(levels, positions, _ANCHORS[:, c]) for c in range(3)], axis=1)
    return np.round(table).astype(np.uint8)


_COLOURS = _colour_table()


def _luma(image: Image.Image | np.ndarray) -> np.ndarray:
    """Float64 luma (0..255) of a PIL image or an (H, W) / (H, W, 3|4) array."""
    if isinstance(image, Image.Image):
        if image.mode not in ("RGB", "L"):
            image = image.convert("RGB")
        array = np.asarray(image, dtype=np.float64)
    else:
        array = np.asarray(image, dtype=np.float64)
    if array.ndim == 3 and array.shape[2] in (3, 4):
        return array[..., :3] @ _LUMA_WEIGHTS
    if array.ndim == 2:
        return array
    raise InvalidImageError(
        f"cannot compute a spectrum of an array shaped {array.shape}: give a PIL image, an "
        "(H, W) grey array or an (H, W, 3) RGB array",
        reason="unsupported_type",
    )


def _central_square(height: int, width: int, max_side: int) -> tuple[int, int, int]:
    """(top, left, side) of the largest central square of at most ``max_side`` pixels, with an
    even side (an even side puts the Nyquist frequency exactly on the first row/column)."""
    side = min(height, width, max_side)
    side -= side % 2
    return (height - side) // 2, (width - side) // 2, side


def _central_box(width: int, height: int, max_side: int) -> tuple[int, int, int, int]:
    """:func:`_central_square` as a PIL crop box (left, top, right, bottom)."""
    top, left, side = _central_square(height, width, max_side)
    return left, top, left + side, top + side


def _highpass(luma: np.ndarray) -> np.ndarray:
    """The luma minus its 3x3 local mean (edges replicated)."""
    padded = np.pad(luma, 1, mode="edge")
    # The 3x3 sum as a 3-row sum, then a 3-column sum of that: 4 additions a pixel, not 8.
    rows = padded[:-2] + padded[1:-1]
    rows += padded[2:]
    local = rows[:, :-2] + rows[:, 1:-1]
    local += rows[:, 2:]
    local /= 9.0
    return luma - local


def _full_magnitude(signal: np.ndarray) -> np.ndarray:
    """``np.abs(np.fft.fft2(signal))`` of a real signal, from the half spectrum ``rfft2`` gives
    (half the work): the other half mirrors it, ``|F[k, l]| = |F[-k, -l]|``."""
    height, width = signal.shape
    half = np.abs(np.fft.rfft2(signal))
    columns = np.arange(half.shape[1], width)
    rows = (-np.arange(height)) % height
    return np.concatenate([half, half[rows][:, width - columns]], axis=1)


def _percentiles(values: np.ndarray, shares: tuple[float, ...]) -> list[float]:
    """``np.percentile(values, 100 * shares)`` (linear interpolation) from one partial sort,
    where np.percentile sorts partially once per share."""
    flat = values.ravel()
    positions = np.asarray(shares) * (flat.size - 1)
    below = np.floor(positions).astype(np.intp)
    above = np.minimum(below + 1, flat.size - 1)
    ordered = np.partition(flat, np.unique(np.concatenate([below, above])))
    low, high = ordered[below], ordered[above]
    return [float(v) for v in low + (high - low) * (positions - below)]


def fourier_magnitude(
    image: Image.Image | np.ndarray, *, max_side: int = DEFAULT_MAX_SIDE, highpass: bool = True
) -> np.ndarray:
    """Log-magnitude spectrum of an image's luma, centred (zero frequency in the middle).

    Args:
        image: a PIL image (any mode) or an (H, W) / (H, W, 3) array of 0..255 values.
        max_side: side of the central crop that is transformed (never resized; see the module
            docstring).
        highpass: transform the residual luma - 3x3 mean instead of the luma itself.

    Returns:
        A float64 (n, n) array of ``log1p(|FFT|)``, n even, ``fftshift``-ed: the zero frequency
        is at ``[n // 2, n // 2]`` and the Nyquist frequency (period 2 px) at row/column 0.

    Raises:
        InvalidImageError: the image is smaller than 8 px on a side or not an image array.
    """
    if max_side < _MIN_SIDE:
        raise ValueError(f"max_side must be at least {_MIN_SIDE}, got {max_side}")
    if isinstance(image, Image.Image):
        # Crop before converting: float64 luma of a whole 36 MP photo would take 288 MB (and its
        # RGB float copy 864 MB) for a crop of at most max_side squared. Same pixels either way.
        image = image.crop(_central_box(image.width, image.height, max_side))
    else:
        image = np.asarray(image)
        if image.ndim >= 2:  # other shapes are refused by _luma with a clear message
            top, left, side = _central_square(image.shape[0], image.shape[1], max_side)
            image = image[top : top + side, left : left + side]
    luma = _luma(image)
    if min(luma.shape) < _MIN_SIDE:
        raise InvalidImageError(
            f"the image is {luma.shape[1]}x{luma.shape[0]} pixels; a spectrum needs at least "
            f"{_MIN_SIDE} px on each side",
            reason="too_small",
        )
    signal = _highpass(luma) if highpass else luma
    signal = signal - signal.mean()
    # A Hann window stops the jump between opposite borders from drawing a bright cross.
    window = np.outer(np.hanning(signal.shape[0]), np.hanning(signal.shape[1]))
    magnitude = np.fft.fftshift(_full_magnitude(signal * window))
    return np.log1p(magnitude, out=magnitude)


def spectrum_image(
    image: Image.Image | np.ndarray, *, max_side: int = DEFAULT_MAX_SIDE, highpass: bool = True
) -> Image.Image:
    """The spectrum of :func:`fourier_magnitude` as a colour picture for display.

    Brightness runs from the median magnitude (dark) to the 99.9th percentile (bright), so
    isolated peaks stand out against the smooth background of a photograph.

    Args:
        image, max_side, highpass: as :func:`fourier_magnitude`.

    Returns:
        An RGB image of n x n pixels.

    Raises:
        InvalidImageError: as :func:`fourier_magnitude`.
    """
    magnitude = fourier_magnitude(image, max_side=max_side, highpass=highpass)
    low, high = _percentiles(magnitude, (0.5, 0.999))
    if high <= low:
        scaled = np.zeros(magnitude.shape, dtype=np.uint8)
    else:
        # In place, in the order of (clip((m - low) / (high - low), 0, 1) * 255).round().
        magnitude -= low
        magnitude /= high - low
        np.clip(magnitude, 0.0, 1.0, out=magnitude)
        magnitude *= 255
        scaled = np.round(magnitude, out=magnitude).astype(np.uint8)
    return Image.fromarray(_COLOURS[scaled], "RGB")
