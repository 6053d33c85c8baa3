"""The Fourier magnitude view: periodic patterns give peaks exactly where theory puts them."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from fakescope.errors import InvalidImageError
from fakescope.spectrum import fourier_magnitude, spectrum_image

pytestmark = pytest.mark.unit


def _noise(size: int = 128, seed: int = 0) -> np.ndarray:
    """Smooth-ish grey content: blurred noise plus a gradient, 0..255."""
    rng = np.random.default_rng(seed)
    base = rng.normal(128, 30, (size, size))
    # A cheap blur (mean of shifted copies) makes it photo-like: energy at low frequencies.
    blurred = sum(np.roll(np.roll(base, dy, 0), dx, 1) for dy in range(4) for dx in range(4)) / 16
    return np.clip(blurred + np.linspace(-20, 20, size)[None, :], 0, 255)


def _peak_ratio(magnitude: np.ndarray, row: int, col: int) -> float:
    """Value at (row, col) over the median of the whole spectrum."""
    return float(magnitude[row, col] / np.median(magnitude))


def test_fourier_magnitude_shape_is_even_central_crop() -> None:
    image = Image.fromarray(np.zeros((101, 75, 3), dtype=np.uint8) + 100, "RGB")
    assert fourier_magnitude(image).shape == (74, 74)
    assert fourier_magnitude(image, max_side=40).shape == (40, 40)


def test_fourier_magnitude_checkerboard_peaks_at_nyquist_corner() -> None:
    grey = _noise()
    checker = (-1.0) ** np.add.outer(np.arange(128), np.arange(128))
    traced = grey + 6.0 * checker  # the pattern a stride-2 transposed convolution leaves
    plain = fourier_magnitude(grey)
    marked = fourier_magnitude(traced)
    # Period 2 in both directions = frequency (1/2, 1/2) = index (0, 0) after fftshift.
    assert np.unravel_index(np.argmax(marked), marked.shape) == (0, 0)
    assert _peak_ratio(marked, 0, 0) > 3 * _peak_ratio(plain, 0, 0)


def test_fourier_magnitude_period_four_peaks_at_quarter_frequency() -> None:
    grey = _noise(seed=1)
    columns = np.tile(np.array([0.0, 0.0, 8.0, 8.0]), 32)[None, :]  # period 4 along x
    marked = fourier_magnitude(grey + columns)
    centre = 64
    # Frequency +-1/4 along x = columns centre -+ 128/4, on the zero-frequency row.
    for col in (centre - 32, centre + 32):
        assert magnitude_is_local_max(marked, centre, col)
        assert _peak_ratio(marked, centre, col) > 2.0


def magnitude_is_local_max(magnitude: np.ndarray, row: int, col: int) -> bool:
    window = magnitude[row - 3 : row + 4, col - 3 : col + 4]
    return bool(magnitude[row, col] == window.max())


def test_fourier_magnitude_flat_image_is_zero() -> None:
    flat = np.full((64, 64), 77.0)
    assert np.allclose(fourier_magnitude(flat), 0.0)
    assert np.allclose(fourier_magnitude(flat, highpass=False), 0.0)


def test_fourier_magnitude_rgb_and_grey_agree() -> None:
    grey = _noise(64).astype(np.uint8)
    rgb = Image.fromarray(np.stack([grey] * 3, axis=-1), "RGB")
    assert np.allclose(fourier_magnitude(rgb), fourier_magnitude(Image.fromarray(grey, "L")))


def test_fourier_magnitude_too_small_raises() -> None:
    with pytest.raises(InvalidImageError, match="at least 8 px") as info:
        fourier_magnitude(np.zeros((5, 40)))
    assert info.value.reason == "too_small"


def test_fourier_magnitude_bad_array_shape_raises() -> None:
    with pytest.raises(InvalidImageError, match="PIL image"):
        fourier_magnitude(np.zeros((4, 4, 4, 4)))


def test_spectrum_image_is_rgb_with_bright_peak() -> None:
    grey = _noise()
    checker = (-1.0) ** np.add.outer(np.arange(128), np.arange(128))
    picture = spectrum_image(grey + 6.0 * checker)
    assert picture.mode == "RGB" and picture.size == (128, 128)
    pixels = np.asarray(picture)
    assert tuple(pixels[0, 0]) == (252, 255, 164)  # the top of the colour map
    assert pixels.sum(axis=2).mean() < pixels[0, 0].astype(int).sum() / 2


def test_spectrum_image_flat_image_is_black() -> None:
    picture = spectrum_image(np.full((32, 32), 5.0))
    assert np.asarray(picture).max() == 4  # the darkest colour of the map is (0, 0, 4)


def test_spectrum_of_a_large_photo_converts_only_the_crop() -> None:
    """Issue 9: the whole photo went to float64 before the crop (864 MB for a 36 MP upload)."""
    import tracemalloc

    rng = np.random.default_rng(5)
    large = Image.fromarray(rng.integers(0, 256, (3000, 4000, 3), dtype=np.uint8), "RGB")
    tracemalloc.start()
    try:
        from_image = fourier_magnitude(large)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 40 * 1024 * 1024, f"numpy peak {peak / 2**20:.0f} MB"
    # Same pixels as cropping the full array: the result does not change.
    np.testing.assert_allclose(from_image, fourier_magnitude(np.asarray(large)), atol=1e-9)
