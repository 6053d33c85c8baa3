"""Inference speed: the transformers pipeline baseline and FakeScope's Predictor, same session.

Figures (``extra_info``) the report reads: ``kind`` (pipeline / e2e / model), ``model``,
``precision``, ``batch``, ``images`` per call, ``gflop_per_image``, and for FakeScope the
``fidelity`` (largest change of the fake probability vs the float32 pipeline on 16 photos) and
``flips`` (fake <-> real verdict changes). Ratios are computed by scripts/benchmark_report.py.
"""

from __future__ import annotations

import bench_support  # noqa: F401 - first: sets OMP_WAIT_POLICY before torch loads
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from bench_support import (
    BATCHES,
    FIDELITY_LIMIT,
    FIDELITY_LIMITS,
    REPO_ROOT,
    VARIANTS,
    counted_gflop_per_input,
    decoded,
    demo_model,
    fake_probabilities,
    load,
    paired,
    photos_640,
    record,
    rounds,
    settings_for,
    variant_of,
    verdict_flips,
    vit_b16_dir,
    vit_gflop_per_image,
)

from fakescope import Predictor
from fakescope.verdicts import Prediction

pytestmark = [pytest.mark.benchmark, pytest.mark.slow]

VIT = "vit-b16"


@lru_cache(maxsize=1)
def pipeline() -> Any:
    """transformers' image-classification pipeline on ViT-B/16, slow (PIL) image processor."""
    from transformers import AutoImageProcessor
    from transformers import pipeline as make_pipeline

    folder = vit_b16_dir()
    processor = AutoImageProcessor.from_pretrained(folder, backend="pil")
    return make_pipeline("image-classification", model=str(folder), image_processor=processor)


@lru_cache(maxsize=1)
def reference_probabilities() -> np.ndarray:
    """Fake probability of the 16 photos from the float32 pipeline (the fidelity yardstick)."""
    outputs = pipeline()([decoded(data) for data in photos_640()], batch_size=8, top_k=None)
    return np.asarray([next(s["score"] for s in out if s["label"] == "Fake") for out in outputs])


@lru_cache(maxsize=None)
def vit_predictor(variant: str) -> Predictor:
    """One ViT-B/16 Predictor per variant (each prepares its own copy), warmed up."""
    predictor = Predictor(load(vit_b16_dir()), settings_for(variant, max(BATCHES)))
    predictor.warm_up(BATCHES)
    return predictor


@lru_cache(maxsize=None)
def fidelity(variant: str) -> tuple[float, int]:
    """(largest |fake probability change|, verdict flips) vs the float32 pipeline, 16 photos."""
    predictions = vit_predictor(variant).predict(list(photos_640()), with_features=False)
    fast = fake_probabilities(predictions)
    reference = reference_probabilities()
    return float(np.abs(fast - reference).max()), verdict_flips(fast, reference)


def record_predictor(
    benchmark: Any, predictor: Predictor, *, kind: str, model: str, batch: int, **figures: Any
) -> None:
    """``record`` for a FakeScope row: the precision and kernel in effect, ``batch`` images."""
    record(
        benchmark,
        kind=kind,
        model=model,
        precision=predictor.info.precision,
        kernel=predictor.acceleration.kernel,
        batch=batch,
        images=batch,
        **figures,
    )


def _gflop() -> float:
    return vit_gflop_per_image(pipeline().model.config)


# ------------------------------------------------------------------------------ baseline


@pytest.mark.parametrize("batch", BATCHES)
def test_pipeline_end_to_end_vit_b16(benchmark: Any, batch: int) -> None:
    """Bytes -> PIL decode -> transformers pipeline (ViTImageProcessor + fp32 model)."""
    pipe = pipeline()
    images = list(photos_640()[:batch])

    def run() -> list[Any]:
        return pipe([decoded(data) for data in images], batch_size=batch, top_k=None)

    outputs = benchmark.pedantic(run, rounds=rounds(8 if batch == 1 else 3), warmup_rounds=1)
    record(benchmark, kind="pipeline", model=VIT, precision="fp32", batch=batch, images=batch)
    benchmark.extra_info["gflop_per_image"] = _gflop()
    assert len(outputs) == batch
    fake = np.asarray([next(s["score"] for s in o if s["label"] == "Fake") for o in outputs])
    np.testing.assert_allclose(fake, reference_probabilities()[:batch], atol=1e-5)


@pytest.mark.parametrize("batch", BATCHES)
def test_model_only_eager_fp32_vit_b16(benchmark: Any, batch: int) -> None:
    """The model as transformers loads it (float32, no packing): pixel tensors -> logits."""
    model = pipeline().model
    pixels = torch.zeros((batch, 3, 224, 224))

    def run() -> torch.Tensor:
        with torch.inference_mode():
            return model(pixel_values=pixels).logits

    logits = benchmark.pedantic(run, rounds=rounds(8 if batch == 1 else 3), warmup_rounds=1)
    record(benchmark, kind="model", model=VIT, precision="fp32-eager", batch=batch, images=batch)
    benchmark.extra_info["gflop_per_image"] = _gflop()
    assert logits.shape == (batch, 2) and bool(torch.isfinite(logits).all())


# ------------------------------------------------------------------------------ FakeScope


@pytest.mark.parametrize("batch", BATCHES)
@pytest.mark.parametrize("variant", VARIANTS)
def test_predictor_end_to_end_vit_b16(benchmark: Any, variant: str, batch: int) -> None:
    """Bytes in, Prediction out: validate, decode, preprocess, forward, postprocess, features."""
    predictor = vit_predictor(variant)
    images = list(photos_640()[:batch])
    max_change, flips = fidelity(variant)

    pipe = pipeline()

    def baseline() -> list[Any]:
        return pipe([decoded(data) for data in images], batch_size=batch, top_k=None)

    predictions = paired(
        benchmark, predictor.predict, (images,), baseline, rounds(8 if batch == 1 else 3)
    )
    record_predictor(
        benchmark,
        predictor,
        kind="e2e",
        model=VIT,
        batch=batch,
        fidelity=max_change,
        flips=flips,
        gflop_per_image=_gflop(),
    )
    assert all(isinstance(p, Prediction) for p in predictions) and len(predictions) == batch
    assert variant_of(predictor) == variant
    assert max_change <= FIDELITY_LIMITS[predictor.info.precision] and flips == 0


@pytest.mark.parametrize("batch", BATCHES)
@pytest.mark.parametrize("variant", VARIANTS)
def test_predictor_model_only_vit_b16(benchmark: Any, variant: str, batch: int) -> None:
    """``Predictor._forward`` alone: pixel arrays in, float32 logits out (the eager model gets
    the same pixels as a tensor)."""
    predictor = vit_predictor(variant)
    pixels = np.zeros((batch, 3, 224, 224), np.float32)
    tensor = torch.from_numpy(pixels)
    eager = pipeline().model

    def baseline() -> torch.Tensor:
        with torch.inference_mode():
            return eager(pixel_values=tensor).logits

    logits = paired(
        benchmark, predictor._forward, (pixels,), baseline, rounds(8 if batch == 1 else 3)
    )
    record_predictor(
        benchmark,
        predictor,
        kind="model",
        model=VIT,
        batch=batch,
        fidelity=fidelity(variant)[0],
        gflop_per_image=_gflop(),
    )
    assert logits.shape == (batch, 2) and logits.dtype == np.float32


# ------------------------------------------------------------------------------ demo model


@lru_cache(maxsize=None)
def demo_predictor(variant: str) -> Predictor:
    predictor = Predictor(load(demo_model().folder), settings_for(variant, max(BATCHES)))
    predictor.warm_up(BATCHES)
    return predictor


def skip_duplicate(predictor: Predictor, variant: str) -> None:
    """Skip a variant that falls back to what another one measured in this run already runs (on
    torch a CNN has no Linear layers for bf16 or int8 to convert, so both run fp32)."""
    effective = variant_of(predictor)
    if effective == variant:
        return
    measured = {v for v in VARIANTS if v == effective}
    measured |= {variant_of(demo_predictor(v)) for v in VARIANTS[: VARIANTS.index(variant)]}
    if effective in measured:
        reason = predictor.acceleration.fallback_reason
        pytest.skip(f"{variant} runs as {effective} on this model ({reason})")


@lru_cache(maxsize=1)
def demo_gflop_per_image() -> float:
    """FLOP of all the crops of one image through the demo model, counted by torch."""
    model = load(demo_model().folder)
    spec = model.spec
    return counted_gflop_per_input(model.module, (1, 3, *spec.input_size)) * spec.num_crops


@lru_cache(maxsize=None)
def demo_fidelity(variant: str) -> float:
    """Largest fake-probability change vs the demo model's plain float32 torch path, 16 photos."""
    images = list(photos_640())
    reference = fake_probabilities(
        demo_predictor("fp32/torch").predict(images, with_features=False)
    )
    fast = fake_probabilities(demo_predictor(variant).predict(images, with_features=False))
    return float(np.abs(fast - reference).max())


@pytest.mark.parametrize("batch", BATCHES)
@pytest.mark.parametrize("variant", VARIANTS)
def test_predictor_end_to_end_demo(benchmark: Any, variant: str, batch: int) -> None:
    """The crops-mode demo model (native-resolution crops, no draft decoding), bytes in."""
    demo = demo_model()
    predictor = demo_predictor(variant)
    skip_duplicate(predictor, variant)
    images = list(photos_640()[:batch])
    predictions = benchmark.pedantic(
        predictor.predict, args=(images,), rounds=rounds(10 if batch == 1 else 4), warmup_rounds=1
    )
    spec = predictor.model.spec
    record_predictor(
        benchmark,
        predictor,
        kind="e2e",
        model=demo.name,
        batch=batch,
        fidelity=demo_fidelity(variant),
        gflop_per_image=demo_gflop_per_image(),
    )
    assert spec.input_mode == "crops" and predictor._draft_size() is None
    assert all(isinstance(p, Prediction) for p in predictions) and len(predictions) == batch
    assert demo_fidelity(variant) <= FIDELITY_LIMITS[predictor.info.precision]


@pytest.mark.parametrize("batch", BATCHES)
@pytest.mark.parametrize("variant", VARIANTS)
def test_predictor_model_only_demo(benchmark: Any, variant: str, batch: int) -> None:
    """The demo model's ``_forward`` alone, on the crops of ``batch`` images."""
    predictor = demo_predictor(variant)
    skip_duplicate(predictor, variant)
    spec = predictor.model.spec
    pixels = np.zeros((batch * spec.num_crops, 3, *spec.input_size), np.float32)
    logits = benchmark.pedantic(
        predictor._forward, args=(pixels,), rounds=rounds(10 if batch == 1 else 4), warmup_rounds=1
    )
    record_predictor(
        benchmark,
        predictor,
        kind="model",
        model=demo_model().name,
        batch=batch,
        fidelity=demo_fidelity(variant),
        gflop_per_image=demo_gflop_per_image(),
    )
    assert logits.shape == (batch * spec.num_crops, len(predictor.info.labels))
    assert bool(np.isfinite(logits).all())


# ------------------------------------------------------------------------------ trained weights

TRAINED_VIT = REPO_ROOT / "tests" / "quality" / "fidelity_vit"


@lru_cache(maxsize=1)
def heldout_files() -> tuple[Path, ...]:
    """The committed held-out photos and report set (never trained on by the fidelity ViT)."""
    quality = REPO_ROOT / "tests" / "quality"
    photos = sorted((quality / "heldout_photos").glob("*.jpg"))
    return tuple(photos + sorted((quality / "generated").rglob("*.png")))


@lru_cache(maxsize=None)
def trained_predictor(variant: str) -> Predictor:
    predictor = Predictor(load(TRAINED_VIT), settings_for(variant, 16))
    predictor.warm_up((1, 16))
    return predictor


@lru_cache(maxsize=None)
def trained_answers(variant: str) -> np.ndarray:
    predictions = trained_predictor(variant).predict(list(heldout_files()), with_features=False)
    return fake_probabilities(predictions)


@pytest.mark.parametrize("variant", ["int8/onnxruntime"])
def test_int8_fidelity_on_trained_weights(benchmark: Any, variant: str) -> None:
    """The trained small ViT (scripts/train_fidelity_vit.py) on every held-out image: int8 vs
    fp32 on torch, max |delta p| and flipped verdicts; timed on a batch of 16 of them."""
    predictor = trained_predictor(variant)
    fast, reference = trained_answers(variant), trained_answers("fp32/torch")
    max_change, flips = float(np.abs(fast - reference).max()), verdict_flips(fast, reference)
    batch = [path.read_bytes() for path in heldout_files()[:16]]

    def baseline() -> list[Any]:
        return trained_predictor("fp32/torch").predict(batch)

    paired(benchmark, predictor.predict, (batch,), baseline, rounds(5))
    record_predictor(
        benchmark,
        predictor,
        kind="e2e",
        model="fidelity-vit",
        batch=16,
        fidelity=max_change,
        flips=flips,
        weights="trained",
        images_compared=len(fast),
    )
    assert variant_of(predictor) == variant
    assert max_change <= FIDELITY_LIMIT and flips == 0
