"""Simulated traffic: reproducible streams, shifts that really move the logged features."""

from __future__ import annotations

import hashlib
import io
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from fakescope.cli import main
from fakescope.config import Settings
from fakescope.drift import ReferenceProfile
from fakescope.errors import ConfigError
from fakescope.images import load_image
from fakescope.predictor import Predictor
from fakescope.store import PredictionStore
from fakescope.traffic import (
    SHIFTS,
    apply_shift,
    bundled_samples,
    generate_images,
    jpeg_quality_for,
    simulate_traffic,
)
from tests.conftest import encode, photo_like

pytestmark = pytest.mark.unit


@pytest.fixture(scope="module")
def sample_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Four photo-like samples: two JPEGs (quality 90) and two PNGs, as the bundle has."""
    folder = tmp_path_factory.mktemp("samples")
    for seed in range(2):
        (folder / f"real_{seed}.jpg").write_bytes(encode(photo_like(160, 120, seed), quality=90))
        (folder / f"fake_{seed}.png").write_bytes(encode(photo_like(128, 128, seed + 5), "PNG"))
    (folder / "notes.txt").write_text("not an image")
    return folder


@pytest.fixture(scope="module")
def predictor(tmp_path_factory: pytest.TempPathFactory) -> Predictor:
    from tests.conftest import build_vit_model

    folder = build_vit_model(tmp_path_factory.mktemp("vit"), image_size=32, hidden_size=16)
    # One torch thread: on a small shared machine, more threads only contend (6x slower here).
    return Predictor.from_source(folder, Settings(batch_size=8, num_threads=1))


@pytest.fixture
def store(tmp_path: Path) -> PredictionStore:
    return PredictionStore(f"sqlite:///{tmp_path / 'log.db'}")


def _digests(samples: list[Path], **kwargs: object) -> list[str]:
    return [hashlib.sha256(i.data).hexdigest() for i in generate_images(samples, **kwargs)]


def test_bundled_samples_lists_images_only_sorted(sample_dir: Path) -> None:
    names = [p.name for p in bundled_samples(sample_dir)]
    assert names == ["fake_0.png", "fake_1.png", "real_0.jpg", "real_1.jpg"]


def test_bundled_samples_missing_folder_is_empty(tmp_path: Path) -> None:
    assert bundled_samples(tmp_path / "nope") == []


def test_generate_images_same_seed_same_bytes(sample_dir: Path) -> None:
    samples = bundled_samples(sample_dir)
    first = _digests(samples, count=12, seed=7)
    assert first == _digests(samples, count=12, seed=7)
    assert first != _digests(samples, count=12, seed=8)


def test_generate_images_varies_every_draw(sample_dir: Path) -> None:
    images = list(generate_images(bundled_samples(sample_dir), 40, seed=0))
    assert len({hashlib.sha256(i.data).digest() for i in images}) == 40
    sizes = {Image.open(io.BytesIO(i.data)).size for i in images}
    assert len(sizes) > 20  # random crops, not the same four images
    assert {i.sample for i in images} == {"fake_0.png", "fake_1.png", "real_0.jpg", "real_1.jpg"}
    assert images[3].name.startswith("simulate-00003-")


def test_generate_images_keeps_sample_format_and_quality(sample_dir: Path) -> None:
    for item in generate_images(bundled_samples(sample_dir), 10, seed=1):
        loaded = load_image(item.data)
        if item.sample.endswith(".jpg"):
            assert loaded.format == "JPEG" and loaded.jpeg_quality == 90.0
        else:
            assert loaded.format == "PNG" and loaded.jpeg_quality is None


def test_generate_images_jpeg_shift_sets_quality(sample_dir: Path) -> None:
    assert jpeg_quality_for(0.5) == 52
    for item in generate_images(bundled_samples(sample_dir), 6, shift="jpeg", strength=0.5):
        assert load_image(item.data).jpeg_quality == 52.0


def test_generate_images_without_samples_raises() -> None:
    with pytest.raises(ConfigError, match="no sample images"):
        list(generate_images([], 3))


def test_apply_shift_brightness_scales_pixels() -> None:
    image = Image.new("RGB", (40, 40), (100, 50, 200))
    assert apply_shift(image, "brightness", 0.5).getpixel((5, 5)) == (150, 75, 255)


def test_apply_shift_resize_exact_size() -> None:
    image = Image.new("RGB", (200, 100))
    assert apply_shift(image, "resize", 0.5).size == (125, 62)
    assert apply_shift(image, "resize", 1.0).size == (50, 32)  # never below 32 px


def test_apply_shift_blur_lowers_sharpness() -> None:
    image = photo_like(96, 96)
    sharp = np.asarray(image, dtype=float)
    blurred = np.asarray(apply_shift(image, "blur", 0.5), dtype=float)
    assert np.abs(np.diff(blurred, axis=1)).mean() < 0.5 * np.abs(np.diff(sharp, axis=1)).mean()


@pytest.mark.parametrize("strength", [0.0, 1.5, float("nan")])
def test_apply_shift_bad_strength_raises(strength: float) -> None:
    with pytest.raises(ConfigError, match=r"strength must be a number in \(0, 1\]"):
        apply_shift(Image.new("RGB", (8, 8)), "blur", strength)


def test_apply_shift_unknown_name_lists_known() -> None:
    with pytest.raises(ConfigError, match="brightness, blur, jpeg, resize"):
        apply_shift(Image.new("RGB", (8, 8)), "sepia", 0.5)
    assert SHIFTS == ("brightness", "blur", "jpeg", "resize")


def test_simulate_traffic_logs_every_image_as_simulate(
    predictor: Predictor, store: PredictionStore, sample_dir: Path
) -> None:
    result = simulate_traffic(predictor, store, count=20, samples=bundled_samples(sample_dir))
    frame = store.predictions()
    assert len(frame) == 20 and result.count == 20 and result.rejected == 0
    assert set(frame["source"]) == {"simulate"}
    assert set(frame["model_version"]) == {predictor.info.version}
    assert result.latency["count"] == 20 and result.latency["p95"] >= result.latency["p50"] > 0
    assert sum(result.verdicts.values()) == 20
    assert result.drift is None and "no reference profile" in result.drift_line()


def test_simulate_traffic_same_seed_same_predictions(
    predictor: Predictor, sample_dir: Path, tmp_path: Path
) -> None:
    samples = bundled_samples(sample_dir)
    logs = []
    for name in ("a", "b"):
        store = PredictionStore(f"sqlite:///{tmp_path / name}.db")
        simulate_traffic(predictor, store, count=16, seed=3, samples=samples)
        logs.append(store.predictions())
    assert list(logs[0]["sha256"]) == list(logs[1]["sha256"])
    assert np.allclose(logs[0]["fake_probability"], logs[1]["fake_probability"], atol=1e-6)
    assert np.allclose(logs[0]["brightness"], logs[1]["brightness"])


def test_simulate_traffic_interval_places_rows_in_time(
    predictor: Predictor, store: PredictionStore, sample_dir: Path
) -> None:
    start = datetime(2025, 3, 1, 9, 0, tzinfo=timezone.utc)
    result = simulate_traffic(
        predictor,
        store,
        count=5,
        start=start,
        interval_seconds=60,
        samples=bundled_samples(sample_dir),
    )
    times = list(store.predictions()["recorded_at"])
    assert times == [start + timedelta(minutes=i) for i in range(5)]
    assert (result.first_at, result.last_at) == (start, start + timedelta(minutes=4))


def test_simulate_traffic_default_start_ends_now(
    predictor: Predictor, store: PredictionStore, sample_dir: Path
) -> None:
    before = datetime.now(timezone.utc)
    simulate_traffic(
        predictor, store, count=4, interval_seconds=3600, samples=bundled_samples(sample_dir)
    )
    times = list(store.predictions()["recorded_at"])
    assert times[-1] - times[0] == timedelta(hours=3)
    assert before - timedelta(seconds=1) <= times[-1] <= datetime.now(timezone.utc)


def test_simulate_traffic_brightness_shift_raises_logged_brightness(
    predictor: Predictor, sample_dir: Path, tmp_path: Path
) -> None:
    samples = bundled_samples(sample_dir)
    means = {}
    for shift in (None, "brightness"):
        store = PredictionStore(f"sqlite:///{tmp_path / str(shift)}.db")
        simulate_traffic(predictor, store, count=24, seed=1, shift=shift, samples=samples)
        means[shift] = store.predictions()["brightness"].mean()
    # Same seed, same crops: only the shift differs; 1.5x brighter pixels, clipped at 255.
    assert means["brightness"] > means[None] * 1.3


def test_simulate_traffic_drift_alarm_fires_only_with_shift(
    predictor: Predictor, sample_dir: Path, tmp_path: Path
) -> None:
    samples = bundled_samples(sample_dir)
    baseline = PredictionStore(f"sqlite:///{tmp_path / 'reference.db'}")
    simulate_traffic(predictor, baseline, count=120, seed=100, samples=samples)
    reference = ReferenceProfile.from_frame(baseline.predictions())
    results = {}
    for shift in (None, "brightness", "blur"):
        store = PredictionStore(f"sqlite:///{tmp_path / str(shift)}.db")
        results[shift] = simulate_traffic(
            predictor, store, count=80, seed=5, shift=shift, samples=samples, reference=reference
        )
    assert results[None].drift.dataset_drifted is False
    assert results[None].drift.drifted_features == []
    assert results["brightness"].drift.dataset_drifted is True
    assert {"brightness", "contrast"} <= set(results["brightness"].drift.drifted_features)
    assert "DRIFT DETECTED" in results["brightness"].drift_line()
    # Blur moves the texture features only: below the dataset alarm's share, still reported.
    assert {"sharpness", "high_freq_energy"} <= set(results["blur"].drift.drifted_features)
    assert "brightness" not in results["blur"].drift.drifted_features


def test_simulate_traffic_bad_count_raises(predictor: Predictor, store: PredictionStore) -> None:
    with pytest.raises(ConfigError, match="count must be"):
        simulate_traffic(predictor, store, count=0, samples=[])


def test_cli_simulate_traffic_prints_summary(
    sample_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch
) -> None:
    from tests.conftest import build_vit_model

    model = build_vit_model(tmp_path / "model", image_size=32, hidden_size=16)
    monkeypatch.setenv("FAKESCOPE_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("FAKESCOPE_THREADS", "1")
    code = main(
        [
            "--registry",
            str(tmp_path / "registry"),
            "simulate-traffic",
            "--count",
            "10",
            "--shift",
            "jpeg",
            "--samples",
            str(sample_dir),
            "--model",
            str(model),
            "--start",
            "2025-01-31T09:00:00Z",
            "--interval-seconds",
            "30",
        ]
    )
    out = capsys.readouterr().out
    assert code == 0
    assert "simulated 10 predictions (0 rejected)" in out
    assert "shift: jpeg (strength 0.5)" in out
    assert "latency: p50" in out and "drift: not checked" in out
    frame = PredictionStore.from_settings(Settings.from_env()).predictions()
    assert len(frame) == 10 and set(frame["jpeg_quality"]) == {52.0}
    assert frame["recorded_at"].iloc[0] == datetime(2025, 1, 31, 9, tzinfo=timezone.utc)


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--strength", "2"], "--strength must be in (0, 1]"),
        (["--count", "0"], "--count must be at least 1"),
        (["--start", "yesterday"], "--start must be an ISO 8601 time"),
        (["--shift", "sepia"], "invalid choice"),
    ],
)
def test_cli_simulate_traffic_usage_errors(
    extra: list[str], message: str, sample_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    try:
        code = main(["simulate-traffic", "--samples", str(sample_dir), *extra])
    except SystemExit as exc:  # argparse's own choices check exits directly
        code = exc.code
    assert code == 2
    assert message in capsys.readouterr().err


def test_cli_simulate_traffic_without_samples_is_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["simulate-traffic", "--samples", str(tmp_path)]) == 2
    assert "no .jpg/.jpeg/.png/.webp images in" in capsys.readouterr().err
