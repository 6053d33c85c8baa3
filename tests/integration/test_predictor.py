"""The Predictor end to end on real (random-weight) models built on disk."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import encode, photo_like
from PIL import Image

from fakescope import Predictor
from fakescope.config import Settings
from fakescope.errors import InvalidImageError
from fakescope.verdicts import Prediction, Rejection

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def vit_predictor(vit_dir: Path) -> Predictor:
    return Predictor.from_source(vit_dir, Settings.from_env({"FAKESCOPE_PRECISION": "fp32"}))


def test_predict_returns_full_prediction(vit_predictor: Predictor, jpeg_bytes: bytes) -> None:
    (prediction,) = vit_predictor.predict(jpeg_bytes)
    assert isinstance(prediction, Prediction)
    assert prediction.verdict in ("fake", "real", "uncertain")
    assert 0.0 <= prediction.fake_probability <= 1.0
    assert set(prediction.scores) == {"Real", "Fake"}
    assert prediction.scores["Fake"] == pytest.approx(prediction.fake_probability, abs=1e-6)
    assert sum(prediction.scores.values()) == pytest.approx(1.0, abs=1e-5)
    assert prediction.model_version.startswith("sha-")
    assert prediction.latency_ms > 0
    assert len(prediction.sha256) == 64
    assert prediction.features["width"] == 320 and prediction.features["height"] == 240


def test_predict_matches_the_transformers_pipeline(vit_dir: Path, tmp_path: Path) -> None:
    """Same pixels, same logits as transformers' own ViTImageProcessor + model."""
    from transformers import AutoImageProcessor, AutoModelForImageClassification

    image = photo_like(640, 480, seed=3)
    path = tmp_path / "photo.png"
    image.save(path)
    processor = AutoImageProcessor.from_pretrained(vit_dir, use_fast=False)
    model = AutoModelForImageClassification.from_pretrained(vit_dir)
    with torch.inference_mode():
        reference = model(**processor(images=image, return_tensors="pt")).logits.softmax(-1)[0]
    predictor = Predictor.from_source(vit_dir, Settings.from_env({"FAKESCOPE_PRECISION": "fp32"}))
    (prediction,) = predictor.predict(path)
    assert prediction.scores["Fake"] == pytest.approx(float(reference[1]), abs=1e-5)
    assert prediction.scores["Real"] == pytest.approx(float(reference[0]), abs=1e-5)


def test_batches_give_the_same_answers_as_single_images(vit_dir: Path) -> None:
    images = [encode(photo_like(200 + 10 * i, 150, seed=i)) for i in range(5)]
    settings = Settings.from_env({"FAKESCOPE_BATCH_SIZE": "2", "FAKESCOPE_PRECISION": "fp32"})
    predictor = Predictor.from_source(vit_dir, settings)
    batched = predictor.predict(images)
    single = [predictor.predict(image)[0] for image in images]
    assert [p.sha256 for p in batched] == [p.sha256 for p in single]
    np.testing.assert_allclose(
        [p.fake_probability for p in batched], [p.fake_probability for p in single], atol=1e-5
    )


def test_bad_input_raises_by_default(vit_predictor: Predictor) -> None:
    with pytest.raises(InvalidImageError):
        vit_predictor.predict(b"not an image at all")


def test_bad_input_in_a_batch_does_not_stop_the_others(vit_predictor: Predictor) -> None:
    good = encode(photo_like(seed=1), "PNG")
    outcomes = vit_predictor.predict(
        [good, b"", b"%PDF-1.7 not an image", good[: len(good) // 2]],
        errors="return",
        names=["good.png", "empty.jpg", "doc.pdf", "cut.png"],
    )
    assert isinstance(outcomes[0], Prediction) and outcomes[0].name == "good.png"
    assert [type(o) for o in outcomes[1:]] == [Rejection] * 3
    assert [o.reason for o in outcomes[1:]] == ["empty", "unsupported_type", "truncated"]
    assert outcomes[2].name == "doc.pdf" and "PDF" in outcomes[2].message


def test_pil_and_path_inputs(vit_predictor: Predictor, tmp_path: Path) -> None:
    image = photo_like(seed=4)
    path = tmp_path / "p.jpg"
    image.save(path, quality=95)
    from_pil, from_path = vit_predictor.predict([image, path])
    assert from_path.name == str(path)
    assert abs(from_pil.fake_probability - from_path.fake_probability) < 0.2  # JPEG vs raw pixels


def test_threshold_and_band_come_from_settings(vit_dir: Path, jpeg_bytes: bytes) -> None:
    probability = Predictor.from_source(vit_dir).predict(jpeg_bytes)[0].fake_probability
    below = Settings.from_env(
        {"FAKESCOPE_THRESHOLD": str(max(0.01, probability - 0.3)), "FAKESCOPE_UNCERTAIN_BAND": "0"}
    )
    assert Predictor.from_source(vit_dir, below).predict(jpeg_bytes)[0].verdict == "fake"
    wide = Settings.from_env(
        {
            "FAKESCOPE_THRESHOLD": str(min(0.99, max(0.01, probability))),
            "FAKESCOPE_UNCERTAIN_BAND": "0.5",
        }
    )
    assert Predictor.from_source(vit_dir, wide).predict(jpeg_bytes)[0].verdict == "uncertain"


def test_crops_mode_model_sees_native_pixels(resnet_dir: Path) -> None:
    # float32, so the hand computation below is exact to rounding (bf16 is covered elsewhere).
    predictor = Predictor.from_source(resnet_dir, Settings(precision="fp32"))
    assert predictor.info.input_mode == "crops"
    big = photo_like(400, 300, seed=7)
    (prediction,) = predictor.predict(big)
    # Logits of the 4 native crops averaged, then softmax: recompute by hand.
    from fakescope.preprocess import image_to_inputs

    crops = torch.from_numpy(image_to_inputs(big, predictor.model.spec))
    assert crops.shape == (4, 3, 48, 48)
    with torch.inference_mode():
        logits = predictor.model.module(pixel_values=crops).logits.mean(0)
    expected = torch.softmax(logits, 0)[0].item()  # label 0 is "artificial" (fake)
    assert prediction.fake_probability == pytest.approx(expected, abs=1e-5)
    assert set(prediction.scores) == {"artificial", "human"}


def test_crops_mode_pads_small_images(resnet_dir: Path) -> None:
    small = Image.fromarray(np.full((40, 36, 3), 120, np.uint8))
    buffer = io.BytesIO()
    small.save(buffer, "PNG")
    (prediction,) = Predictor.from_source(resnet_dir).predict(buffer.getvalue())
    assert 0.0 <= prediction.fake_probability <= 1.0


def test_full_size_vit_b16_loads_and_predicts(tmp_path: Path, jpeg_bytes: bytes) -> None:
    from conftest import build_vit_model

    folder = build_vit_model(
        tmp_path / "vit-base", hidden_size=768, layers=12, heads=12, intermediate=3072
    )
    predictor = Predictor.from_source(folder)
    assert predictor.info.parameter_count == pytest.approx(85_800_194, rel=0.01)
    (prediction,) = predictor.predict(jpeg_bytes)
    assert 0.0 <= prediction.fake_probability <= 1.0


def test_a_batch_is_prepared_by_several_threads_in_input_order(vit_dir: Path) -> None:
    good = [encode(photo_like(320, 240, seed=seed)) for seed in range(4)]
    truncated = good[0][: len(good[0]) // 2]
    inputs = [good[0], b"not an image", good[1], truncated, good[2], good[3]]
    serial = Predictor.from_source(vit_dir, Settings(batch_size=4))
    serial._prep_workers = 1
    parallel = Predictor.from_source(vit_dir, Settings(batch_size=4))
    parallel._prep_workers = 3

    expected = serial.predict(inputs, errors="return")
    outcomes = parallel.predict(inputs, errors="return")
    assert parallel._prep_pool is not None and serial._prep_pool is None
    assert [type(o).__name__ for o in outcomes] == [type(o).__name__ for o in expected]
    assert [o.reason for o in outcomes if isinstance(o, Rejection)] == [
        "unsupported_type",
        "truncated",
    ]
    for mine, theirs in zip(outcomes, expected):
        if isinstance(mine, Prediction):
            assert mine.sha256 == theirs.sha256 and mine.features == theirs.features
            assert mine.fake_probability == pytest.approx(theirs.fake_probability, abs=1e-6)
    # "raise" still raises for the first bad input in input order.
    with pytest.raises(InvalidImageError) as raised:
        parallel.predict(inputs)
    assert raised.value.reason == "unsupported_type"
