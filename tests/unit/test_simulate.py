"""Simulated generator traces and nuisances: the fakes really carry periodic peaks, reals do not."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from fakescope.errors import TrainingError
from fakescope.training.simulate import (
    FAKE_CONDITIONS,
    GENERATOR_KINDS,
    REAL_CONDITIONS,
    apply_condition,
    fake_nuisance,
    jpeg,
    periodic_trace_strength,
    real_nuisance,
    simulate_fake,
)

HELDOUT_DIR = Path(__file__).resolve().parents[1] / "quality" / "heldout_photos"


def _photos(count: int = 6) -> list[Image.Image]:
    """Real photographs: the first committed held-out photos, centre 320 px (keeps it fast)."""
    paths = sorted(HELDOUT_DIR.glob("*.jpg"))[:count]
    assert len(paths) == count, f"expected committed held-out photos in {HELDOUT_DIR}"
    photos = []
    for path in paths:
        with Image.open(path) as opened:
            image = opened.convert("RGB")
        left, top = (image.width - 320) // 2, (image.height - 320) // 2
        photos.append(image.crop((left, top, left + 320, top + 320)))
    return photos


@pytest.mark.unit
@pytest.mark.parametrize("kind", GENERATOR_KINDS)
def test_simulate_fake_x2_has_period_2_peak_that_reals_lack(kind: str) -> None:
    photos = _photos()
    reals = [periodic_trace_strength(p, 2) for p in photos]
    fakes = [
        periodic_trace_strength(simulate_fake(p, seed, kind=kind, factor=2)[0], 2)
        for seed, p in enumerate(photos)
    ]
    # Measured on these photos: real medians about 1, x2 fake medians 20-100.
    assert np.median(reals) < 3.0
    assert np.median(fakes) > 5 * np.median(reals)
    assert np.median(fakes) > 8.0


@pytest.mark.unit
@pytest.mark.parametrize("kind", GENERATOR_KINDS)
def test_simulate_fake_x4_has_period_4_peak_that_reals_lack(kind: str) -> None:
    photos = _photos()
    reals = [periodic_trace_strength(p, 4) for p in photos]
    fakes = [
        periodic_trace_strength(simulate_fake(p, seed + 10, kind=kind, factor=4)[0], 4)
        for seed, p in enumerate(photos)
    ]
    assert np.median(fakes) > 4 * max(np.median(reals), 1.0)


@pytest.mark.unit
def test_real_conditions_carry_no_period_2_peak() -> None:
    photos = _photos()
    for condition in REAL_CONDITIONS:
        strengths = [periodic_trace_strength(apply_condition(p, condition), 2) for p in photos]
        assert np.median(strengths) < 4.0, condition


@pytest.mark.unit
def test_simulate_fake_is_deterministic_under_seed() -> None:
    photo = _photos(1)[0]
    first, recipe_a = simulate_fake(photo, 123)
    second, recipe_b = simulate_fake(photo, 123)
    other, _ = simulate_fake(photo, 124)
    assert recipe_a == recipe_b
    assert np.array_equal(np.asarray(first), np.asarray(second))
    assert not np.array_equal(np.asarray(first), np.asarray(other))


@pytest.mark.unit
def test_simulate_fake_keeps_content_and_size() -> None:
    photo = _photos(1)[0].crop((0, 0, 318, 317))
    fake, recipe = simulate_fake(photo, 5, kind="bilinear", factor=2)
    assert recipe.stages == ("bilinear",)
    assert fake.size == (318, 316)  # rounded down to a multiple of the factor
    original = np.asarray(photo.crop((0, 0, 318, 316)).convert("L"), dtype=np.float64)
    simulated = np.asarray(fake.convert("L"), dtype=np.float64)
    # The same picture, not noise: luma correlates strongly with the photo's.
    assert np.corrcoef(original.ravel(), simulated.ravel())[0, 1] > 0.9


@pytest.mark.unit
def test_simulate_fake_x4_has_two_stages() -> None:
    fake, recipe = simulate_fake(_photos(1)[0], 9, factor=4)
    assert recipe.factor == 4 and len(recipe.stages) == 2
    assert recipe.name.startswith("x4:")
    assert fake.size == (320, 320)


@pytest.mark.unit
def test_simulate_fake_rejects_unknown_kind_and_factor() -> None:
    photo = _photos(1)[0]
    with pytest.raises(TrainingError, match="known: nearest, bilinear, transposed, decoder"):
        simulate_fake(photo, 0, kind="diffusion")
    with pytest.raises(TrainingError, match="factor must be 2 or 4"):
        simulate_fake(photo, 0, factor=3)
    with pytest.raises(TrainingError, match="too small"):
        simulate_fake(photo.crop((0, 0, 12, 12)), 0, factor=4)


@pytest.mark.unit
def test_real_nuisance_is_deterministic_and_uses_non_integer_upscales() -> None:
    photo = _photos(1)[0]
    seen_up = []
    for seed in range(60):
        a, name_a = real_nuisance(photo, np.random.default_rng(seed))
        b, name_b = real_nuisance(photo, np.random.default_rng(seed))
        assert name_a == name_b and np.array_equal(np.asarray(a), np.asarray(b))
        for step in name_a.split("+"):
            if step.startswith("up"):
                seen_up.append(float(step[2:]))
                assert 1.1 <= float(step[2:]) <= 1.7
    assert seen_up, "60 draws should include some upscales"


@pytest.mark.unit
def test_fake_nuisance_only_recompresses() -> None:
    photo = _photos(1)[0]
    names = {fake_nuisance(photo, np.random.default_rng(seed))[1] for seed in range(20)}
    assert "clean" in names
    assert all(n == "clean" or (n.startswith("jpeg") and 70 <= int(n[4:]) <= 98) for n in names)


@pytest.mark.unit
def test_apply_condition_sizes_and_names() -> None:
    photo = _photos(1)[0]
    assert apply_condition(photo, "upscale_1.5x").size == (480, 480)
    assert apply_condition(photo, "blur_sigma1").size == (320, 320)
    for condition in FAKE_CONDITIONS:
        assert apply_condition(photo, condition, seed=3).size == (320, 320)
    with pytest.raises(TrainingError, match="known: clean, jpeg_q75"):
        apply_condition(photo, "sepia")


@pytest.mark.unit
def test_jpeg_changes_pixels_but_not_size() -> None:
    photo = _photos(1)[0]
    compressed = jpeg(photo, 75)
    assert compressed.size == photo.size and compressed.mode == "RGB"
    assert not np.array_equal(np.asarray(compressed), np.asarray(photo))


@pytest.mark.unit
def test_condition_upload_decodes_to_the_condition_pixels() -> None:
    from fakescope.training.simulate import condition_upload, decode

    path = sorted(HELDOUT_DIR.glob("*.jpg"))[0]
    original_bytes = path.read_bytes()
    photo = decode(original_bytes).crop((0, 0, 160, 120))
    assert condition_upload(photo, original_bytes, "clean") == original_bytes
    for condition in ("jpeg_q75", "fake_jpeg_q90"):
        data = condition_upload(photo, None, condition, seed=4)
        assert data[:3] == b"\xff\xd8\xff"  # a JPEG file, so its quality is a real feature
        assert np.array_equal(
            np.asarray(decode(data)), np.asarray(apply_condition(photo, condition, seed=4))
        )
    for condition in ("blur_sigma1", "upscale_1.5x", "fake_transposed"):
        data = condition_upload(photo, None, condition, seed=4)
        assert data[:4] == b"\x89PNG"
        assert np.array_equal(
            np.asarray(decode(data)), np.asarray(apply_condition(photo, condition, seed=4))
        )
