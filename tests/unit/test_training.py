"""Training pipeline: data folders, splits by photo, metrics, calibration, a tiny end-to-end run."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from fakescope.errors import TrainingError
from fakescope.images import FEATURE_NAMES
from fakescope.training.card import FOLDER_LIMITS
from fakescope.training.dataset import (
    demo_epoch,
    folder_epoch,
    list_image_folder,
    random_crop,
    split_files,
)
from fakescope.training.evaluate import (
    check_targets,
    classification_metrics,
    condition_rates,
    expected_calibration_error,
    fit_temperature,
    roc_auc,
)
from fakescope.training.photos import (
    CURATED_PHOTOS,
    CollectedPhoto,
    PhotoSource,
    normalize_photo,
    split_photos,
)
from fakescope.training.simulate import simulate_fake
from fakescope.training.train import highpass_filter_bank, train_model


def _textured(width: int, height: int, seed: int) -> Image.Image:
    """A photo-like image with fine texture (smoothed noise plus gradients), deterministic."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width].astype(np.float64)
    base = 110 + 60 * np.sin(x / (9 + seed % 5)) * np.cos(y / (13 + seed % 3))
    noise = rng.normal(0, 18, (height, width, 3))
    noise = (noise + np.roll(noise, 1, 0) + np.roll(noise, 1, 1)) / 3
    pixels = np.clip(base[..., None] + noise + [seed * 7 % 40, 0, 20], 0, 255)
    return Image.fromarray(pixels.astype(np.uint8), "RGB")


def _collected(tmp_path: Path, keys_groups: list[tuple[str, str]]) -> list[CollectedPhoto]:
    photos = []
    for index, (key, group) in enumerate(keys_groups):
        path = tmp_path / f"{key}.jpg"
        _textured(96, 80, index).save(path, quality=95)
        source = PhotoSource(key=key, origin="skimage", path=f"{key}.png", group=group, licence="")
        photos.append(CollectedPhoto(source=source, path=path, width=96, height=80))
    return photos


# -- curated photos and splits -----------------------------------------------------------------


@pytest.mark.unit
def test_curated_photos_have_unique_keys_and_known_origins() -> None:
    keys = [p.key for p in CURATED_PHOTOS]
    assert len(keys) == len(set(keys))
    assert len(CURATED_PHOTOS) >= 80
    origins = {p.origin for p in CURATED_PHOTOS}
    assert origins == {
        "skimage",
        "sklearn",
        "matplotlib",
        "opencv-doc",
        "mate-backgrounds",
        "lomiri-wallpapers-16.04",
    }


@pytest.mark.unit
def test_split_photos_never_puts_a_group_in_two_splits(tmp_path: Path) -> None:
    pairs = [(f"p{i}", f"g{i // 2}") for i in range(40)]  # 20 scenes of two photos each
    split = split_photos(_collected(tmp_path, pairs), seed=0)
    groups = [{p.group for p in part} for part in (split.train, split.validation, split.heldout)]
    assert not (groups[0] & groups[1]) and not (groups[0] & groups[2])
    assert not (groups[1] & groups[2])
    assert len(split.train) + len(split.validation) + len(split.heldout) == 40
    assert (len(groups[2]), len(groups[1])) == (5, 3)  # 25 % and 15 % of 20 scenes


@pytest.mark.unit
def test_split_photos_is_deterministic_and_stable_when_photos_are_added(tmp_path: Path) -> None:
    pairs = [(f"p{i}", f"g{i}") for i in range(30)]
    photos = _collected(tmp_path, pairs)
    first = split_photos(photos, seed=0)
    again = split_photos(list(reversed(photos)), seed=0)
    assert {p.key for p in first.heldout} == {p.key for p in again.heldout}
    other_seed = split_photos(photos, seed=1)
    assert {p.key for p in first.heldout} != {p.key for p in other_seed.heldout}


@pytest.mark.unit
def test_split_photos_needs_three_scenes(tmp_path: Path) -> None:
    photos = _collected(tmp_path, [("a", "g"), ("b", "g"), ("c", "h")])
    with pytest.raises(TrainingError, match="at least 3 scenes"):
        split_photos(photos)


@pytest.mark.unit
def test_normalize_photo_limits_the_longest_side_and_makes_rgb() -> None:
    grey = Image.new("L", (1536, 1024), 100)
    normalized = normalize_photo(grey, max_side=768)
    assert normalized.size == (768, 512) and normalized.mode == "RGB"
    transparent = Image.new("RGBA", (100, 50), (0, 0, 0, 0))
    assert normalize_photo(transparent).getpixel((10, 10)) == (255, 255, 255)


@pytest.mark.unit
def test_demo_epoch_is_balanced_deterministic_and_sized(tmp_path: Path) -> None:
    photos = _collected(tmp_path, [("a", "a"), ("b", "b")])
    batch = demo_epoch(photos, crop_size=32, seed=3, epoch=0, variants=2, crops_per_variant=3)
    assert batch.pixels.shape == (24, 32, 32, 3) and batch.pixels.dtype == np.uint8
    assert int(batch.labels.sum()) == 12
    again = demo_epoch(photos, crop_size=32, seed=3, epoch=0, variants=2, crops_per_variant=3)
    assert np.array_equal(batch.pixels, again.pixels)
    next_epoch = demo_epoch(photos, crop_size=32, seed=3, epoch=1, variants=2, crops_per_variant=3)
    assert not np.array_equal(batch.pixels, next_epoch.pixels)


@pytest.mark.unit
def test_random_crop_pads_small_images() -> None:
    pixels = np.arange(20 * 30 * 3, dtype=np.uint8).reshape(20, 30, 3)
    crop = random_crop(pixels, 32, np.random.default_rng(0))
    assert crop.shape == (32, 32, 3)
    assert np.array_equal(crop[:20, :30], pixels)


# -- image folders ------------------------------------------------------------------------------


def _make_folder(root: Path, n_real: int, n_fake: int, size: int = 96) -> Path:
    (root / "real").mkdir(parents=True)
    (root / "fake").mkdir(parents=True)
    for i in range(n_real):
        _textured(size, size, i).save(root / "real" / f"r{i}.png")
    for i in range(n_fake):
        fake, _ = simulate_fake(_textured(size, size, 100 + i), i, factor=2)
        fake.save(root / "fake" / f"f{i}.png")
    return root


@pytest.mark.unit
def test_list_image_folder_missing_folder_says_the_layout(tmp_path: Path) -> None:
    with pytest.raises(TrainingError, match=r"does not exist; expected .*DATA/real/.*DATA/fake/"):
        list_image_folder(tmp_path / "nowhere")


@pytest.mark.unit
def test_list_image_folder_missing_class_folder(tmp_path: Path) -> None:
    (tmp_path / "real").mkdir()
    with pytest.raises(TrainingError, match=r"has no fake/ sub-folder; expected"):
        list_image_folder(tmp_path)


@pytest.mark.unit
def test_list_image_folder_without_images(tmp_path: Path) -> None:
    (tmp_path / "real").mkdir()
    (tmp_path / "fake").mkdir()
    _textured(40, 40, 0).save(tmp_path / "real" / "a.png")
    (tmp_path / "fake" / "notes.txt").write_text("not an image")
    with pytest.raises(TrainingError, match=r"fake holds no image files; expected"):
        list_image_folder(tmp_path)


@pytest.mark.unit
def test_list_image_folder_lists_sorted_with_labels(tmp_path: Path) -> None:
    root = _make_folder(tmp_path / "data", 3, 2)
    items = list_image_folder(root)
    assert [(i.path.name, i.label) for i in items] == [
        ("r0.png", 0),
        ("r1.png", 0),
        ("r2.png", 0),
        ("f0.png", 1),
        ("f1.png", 1),
    ]


@pytest.mark.unit
def test_split_files_keeps_both_classes_in_both_splits(tmp_path: Path) -> None:
    items = list_image_folder(_make_folder(tmp_path / "data", 10, 10))
    train, validation = split_files(items, validation_fraction=0.2, seed=0)
    assert sorted(i.label for i in validation) == [0, 0, 1, 1]
    assert not {i.path for i in train} & {i.path for i in validation}


@pytest.mark.unit
def test_folder_epoch_with_an_unreadable_file_names_it(tmp_path: Path) -> None:
    from fakescope.preprocess import PreprocessSpec

    root = _make_folder(tmp_path / "data", 2, 2)
    (root / "real" / "broken.png").write_bytes(b"not a png")
    spec = PreprocessSpec(input_mode="crops", crop_size=32, num_crops=4)
    with pytest.raises(TrainingError, match="broken.png is not a readable image"):
        folder_epoch(list_image_folder(root), spec, seed=0, epoch=0)


@pytest.mark.unit
def test_train_model_rejects_bad_arguments(tmp_path: Path) -> None:
    with pytest.raises(TrainingError, match="real/ and fake/ sub-folders, or demo=True"):
        train_model(None, tmp_path / "out", epochs=1)
    with pytest.raises(TrainingError, match="not both"):
        train_model(tmp_path, tmp_path / "out", demo=True, epochs=1)
    with pytest.raises(TrainingError, match="epochs must be at least 1"):
        train_model(tmp_path, tmp_path / "out", epochs=0)
    with pytest.raises(TrainingError, match="has no real/ and fake/ sub-folders"):
        train_model(tmp_path, tmp_path / "out", epochs=1)


@pytest.mark.unit
def test_train_model_needs_three_images_per_class(tmp_path: Path) -> None:
    root = _make_folder(tmp_path / "data", 2, 5)
    with pytest.raises(TrainingError, match=r"real/ folder needs at least 3 images"):
        train_model(root, tmp_path / "out", epochs=1, progress=False)


# -- metrics and calibration --------------------------------------------------------------------


@pytest.mark.unit
def test_roc_auc_exact_values() -> None:
    assert roc_auc([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8]) == pytest.approx(0.75)
    assert roc_auc([0, 1], [0.5, 0.5]) == pytest.approx(0.5)
    with pytest.raises(TrainingError, match="both real and fake"):
        roc_auc([1, 1], [0.2, 0.3])


@pytest.mark.unit
def test_classification_metrics_confusion_and_rates() -> None:
    metrics = classification_metrics([0, 0, 0, 1, 1], [0.1, 0.6, 0.2, 0.9, 0.4])
    assert metrics["confusion_matrix"]["matrix"] == [[2, 1], [1, 1]]
    assert metrics["accuracy"] == pytest.approx(0.6)
    assert metrics["false_positive_rate"] == pytest.approx(1 / 3)
    assert metrics["false_negative_rate"] == pytest.approx(0.5)
    assert metrics["roc_auc"] == pytest.approx(5 / 6)
    assert metrics["brier"] == pytest.approx((0.01 + 0.36 + 0.04 + 0.01 + 0.36) / 5)


@pytest.mark.unit
def test_expected_calibration_error_exact() -> None:
    # Two images at confidence 0.9 (one right, one wrong): |0.5 - 0.9| = 0.4 in that bin.
    assert expected_calibration_error([1, 0], [0.9, 0.9]) == pytest.approx(0.4)
    # Perfectly confident and right.
    assert expected_calibration_error([1, 0], [1.0, 0.0]) == pytest.approx(0.0)


@pytest.mark.unit
def test_condition_rates_and_targets() -> None:
    conditions = ["clean", "clean", "jpeg_q75", "blur_sigma1", "upscale_1.5x", "fake_nearest"]
    labels = [0, 0, 0, 0, 0, 1]
    probabilities = [0.2, 0.7, 0.1, 0.1, 0.9, 0.8]
    rates = condition_rates(conditions, labels, probabilities)
    assert rates["clean"]["false_positive_rate"] == pytest.approx(0.5)
    assert rates["fake_nearest"]["true_positive_rate"] == pytest.approx(1.0)
    metrics = classification_metrics(labels, probabilities)
    metrics["conditions"] = rates
    checks = check_targets(metrics)
    assert checks["fpr_clean"] == {"value": 0.5, "limit": 0.1, "passed": False}
    assert checks["fpr_jpeg_q75"]["passed"] is True
    assert checks["fpr_upscale_1.5x"]["passed"] is False


@pytest.mark.unit
def test_fit_temperature_recovers_the_temperature_of_generated_logits() -> None:
    rng = np.random.default_rng(0)
    true_logits = rng.normal(0, 2.0, size=(4000, 2))
    probabilities = np.exp(true_logits) / np.exp(true_logits).sum(axis=1, keepdims=True)
    labels = (rng.random(4000) < probabilities[:, 1]).astype(int)
    # The model is over-confident by a factor 3: calibration must find T close to 3.
    assert fit_temperature(true_logits * 3.0, labels) == pytest.approx(3.0, rel=0.1)
    assert fit_temperature(true_logits[:2], labels[:2]) == 1.0


@pytest.mark.unit
def test_highpass_filter_bank_has_zero_mean_unit_norm_filters() -> None:
    bank = highpass_filter_bank(7)
    assert len(bank) == 28
    for kernel in bank:
        assert kernel.shape == (7, 7)
        assert kernel.sum() == pytest.approx(0.0)
        assert np.linalg.norm(kernel) == pytest.approx(1.0)


# -- a tiny end-to-end run ----------------------------------------------------------------------


@pytest.mark.unit
@pytest.mark.slow
def test_train_model_end_to_end_writes_a_loadable_registry_folder(tmp_path: Path) -> None:
    from fakescope.predictor import Predictor

    data = _make_folder(tmp_path / "data", 8, 8)
    out = tmp_path / "model"
    result = train_model(
        data,
        out,
        epochs=2,
        seed=0,
        batch_size=16,
        crop_size=32,
        num_crops=4,
        crops_per_image=2,
        num_threads=1,
        progress=False,
    )
    for name in (
        "config.json",
        "model.safetensors",
        "preprocessor_config.json",
        "metrics.json",
        "reference_profile.json",
        "README.md",
    ):
        assert (out / name).is_file(), name
    config = json.loads((out / "config.json").read_text())
    assert config["id2label"] == {"0": "real", "1": "fake"}
    section = config["fakescope"]
    assert (section["input_mode"], section["crop_size"], section["num_crops"]) == ("crops", 32, 4)
    assert section["temperature"] == pytest.approx(result.temperature, abs=1e-6)
    assert section["limits"] == FOLDER_LIMITS
    preprocessor = json.loads((out / "preprocessor_config.json").read_text())
    assert preprocessor["size"] == {"height": 32, "width": 32}
    assert preprocessor["do_resize"] is False

    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["n_images"] == 2  # the test split: 15 % of 8 per class, rounded to 1 each
    assert set(metrics["confusion_matrix"]) == {"labels", "matrix"}
    assert 0.0 <= metrics["accuracy"] <= 1.0 and metrics["ece"] >= 0.0
    assert metrics["training"]["epochs_run"] == 2
    assert metrics["split"] == {
        "kind": "folder",
        "data_dir": str(data),
        "n_train": 12,
        "n_validation": 2,
        "n_test": 2,
    }

    profile = json.loads((out / "reference_profile.json").read_text())
    assert set(profile) == {"features", "fake_probability", "n_images"}
    assert profile["n_images"] == 2 == len(profile["fake_probability"])
    assert set(profile["features"]) == set(FEATURE_NAMES)
    assert all(len(values) == 2 for values in profile["features"].values())
    assert profile["features"]["width"] == [96.0, 96.0]

    card = (out / "README.md").read_text()
    assert card.startswith("---\n") and "## Limits" in card

    predictor = Predictor.from_source(str(out))
    prediction = predictor.predict([data / "real" / "r0.png"])[0]
    assert 0.0 <= prediction.fake_probability <= 1.0

    # Same seed, same data: the same weights.
    again = train_model(
        data,
        tmp_path / "again",
        epochs=2,
        seed=0,
        batch_size=16,
        crop_size=32,
        num_crops=4,
        crops_per_image=2,
        num_threads=1,
        progress=False,
    )
    assert again.temperature == pytest.approx(result.temperature, rel=1e-9)
    assert (tmp_path / "again" / "model.safetensors").read_bytes() == (
        out / "model.safetensors"
    ).read_bytes()


@pytest.mark.unit
@pytest.mark.slow
def test_train_model_fine_tunes_a_base_folder_in_its_own_input_mode(tmp_path: Path) -> None:
    from conftest import build_vit_model

    from fakescope.predictor import Predictor

    # A base whose labels are fake-first: the head is kept and the label order respected.
    base = build_vit_model(tmp_path / "base", labels={0: "Fake", 1: "Real"}, image_size=32)
    data = _make_folder(tmp_path / "data", 6, 6, size=48)
    out = tmp_path / "tuned"
    result = train_model(
        data, out, base=str(base), epochs=1, batch_size=8, num_threads=1, progress=False
    )
    config = json.loads((out / "config.json").read_text())
    assert config["model_type"] == "vit"
    assert config["id2label"] == {"0": "Fake", "1": "Real"}
    assert config["fakescope"]["input_mode"] == "resize"
    assert "crop_size" not in config["fakescope"]
    assert "fine-tuned from" in config["fakescope"]["limits"]
    preprocessor = json.loads((out / "preprocessor_config.json").read_text())
    assert preprocessor["size"] == {"height": 32, "width": 32} and preprocessor["do_resize"]
    assert result.metrics["training"]["base"] == str(base)
    prediction = Predictor.from_source(str(out)).predict([data / "fake" / "f0.png"])[0]
    assert set(prediction.scores) == {"Fake", "Real"}


@pytest.mark.unit
def test_train_model_with_a_missing_base_says_what_a_base_is(tmp_path: Path) -> None:
    data = _make_folder(tmp_path / "data", 3, 3, size=48)
    with pytest.raises(TrainingError, match="has no config.json; give a Hugging Face model"):
        train_model(data, tmp_path / "out", base=str(tmp_path / "nothing"), epochs=1)


@pytest.mark.unit
def test_evaluate_model_scores_a_folder_with_the_predictor(
    tmp_path: Path, resnet_dir: Path
) -> None:
    from fakescope.training.evaluate import evaluate_model

    data = _make_folder(tmp_path / "data", 3, 2, size=64)
    metrics = evaluate_model(resnet_dir, data)
    assert (metrics["n_images"], metrics["n_real"], metrics["n_fake"]) == (5, 3, 2)
    assert sum(map(sum, metrics["confusion_matrix"]["matrix"])) == 5
    assert set(metrics["conditions"]) == {"real", "fake"}
    assert metrics["conditions"]["real"]["n"] == 3
    assert metrics["model_source"] == str(resnet_dir)
    assert 0.0 <= metrics["roc_auc"] <= 1.0


@pytest.mark.unit
def test_evaluate_model_on_a_bad_folder_says_the_layout(tmp_path: Path, resnet_dir: Path) -> None:
    from fakescope.training.evaluate import evaluate_model

    (tmp_path / "fake").mkdir()
    with pytest.raises(TrainingError, match=r"has no real/ sub-folder; expected .*DATA/real/"):
        evaluate_model(resnet_dir, tmp_path)


@pytest.mark.unit
@pytest.mark.slow
def test_a_tracked_training_run_is_in_mlflow_and_its_id_in_metrics_json(tmp_path: Path) -> None:
    from mlflow.tracking import MlflowClient

    from fakescope.training.tracking import tracking_uri

    data = _make_folder(tmp_path / "data", 6, 6)
    out = tmp_path / "model"
    train_model(
        data,
        out,
        epochs=2,
        batch_size=16,
        crop_size=32,
        num_crops=4,
        num_threads=1,
        progress=False,
        command="fakescope train data --out model",
        tracking_dir=tmp_path / "store",
        tracking_enabled=True,
    )
    training = json.loads((out / "metrics.json").read_text())["training"]
    run_id = training["mlflow_run_id"]
    assert run_id and training["mlflow_tracking_uri"] == tracking_uri(tmp_path / "store")
    client = MlflowClient(tracking_uri=training["mlflow_tracking_uri"])
    run = client.get_run(run_id)
    assert run.info.status == "FINISHED"
    assert run.data.params["epochs"] == "2" and run.data.params["crop_size"] == "32"
    losses = client.get_metric_history(run_id, "val_calibrated_loss")
    assert [m.step for m in losses] == [1, 2]
    assert "final.accuracy" in run.data.metrics
    assert {a.path for a in client.list_artifacts(run_id)} >= {"metrics.json", "README.md"}


@pytest.mark.unit
def test_a_failed_training_run_is_marked_failed_in_mlflow(tmp_path: Path) -> None:
    from mlflow.tracking import MlflowClient

    from fakescope.training.tracking import tracking_uri

    root = _make_folder(tmp_path / "data", 2, 2)  # too few images: the run stops with an error
    with pytest.raises(TrainingError):
        train_model(
            root,
            tmp_path / "out",
            epochs=1,
            progress=False,
            tracking_dir=tmp_path / "store",
            tracking_enabled=True,
        )
    client = MlflowClient(tracking_uri=tracking_uri(tmp_path / "store"))
    runs = client.search_runs(client.get_experiment_by_name("fakescope-train").experiment_id)
    assert [r.info.status for r in runs] == ["FAILED"]
