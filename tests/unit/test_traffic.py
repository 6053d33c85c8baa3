"""Simulated traffic: the image pool, the fake share, reproducible streams, shifts that really
move the logged features, and the truth of every logged image."""

from __future__ import annotations

import hashlib
import io
import json
from collections import Counter
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
    DEFAULT_FAKE_SHARE,
    SHIFTS,
    ImagePool,
    PoolImage,
    apply_shift,
    bundled_samples,
    choose_images,
    default_pool,
    generate_images,
    iter_pool_images,
    jpeg_quality_for,
    resolve_fake_share,
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
    with pytest.raises(ConfigError, match="the image pool is empty"):
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
    with pytest.raises(ConfigError, match="brightness, blur, jpeg, resize, fake-share"):
        apply_shift(Image.new("RGB", (8, 8)), "sepia", 0.5)
    assert SHIFTS == ("brightness", "blur", "jpeg", "resize", "fake-share")


def test_apply_shift_fake_share_leaves_pixels_alone() -> None:
    image = photo_like(40, 30)
    assert apply_shift(image, "fake-share", 0.9) is image


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
    assert results[None].drift.features.dataset_drifted is False
    assert results[None].drift.features.drifted_features == []
    assert results["brightness"].drift.features.dataset_drifted is True
    assert {"brightness", "contrast"} <= set(results["brightness"].drift.features.drifted_features)
    assert "DRIFT DETECTED" in results["brightness"].drift_line()
    assert "features" in results["brightness"].drift.alarms
    # Blur moves the texture features only: below the dataset alarm's share, still reported.
    blurred = results["blur"].drift.features.drifted_features
    assert {"sharpness", "high_freq_energy"} <= set(blurred)
    assert "brightness" not in blurred


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
        (["--fake-share", "1.5"], "--fake-share must be in [0, 1], got 1.5"),
        (["--fake-share", "nan"], "--fake-share must be in [0, 1]"),
        (["--real", "/no/such/folder"], "/no/such/folder is not a folder"),
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


# -- the pool ---------------------------------------------------------------------------------


def _write(path: Path, image: Image.Image, fmt: str = "PNG", **params: object) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(encode(image, fmt, **params))
    return path


@pytest.fixture(scope="module")
def report_set(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small report set as scripts/export_report_set.py writes it: twins and samples."""
    root = tmp_path_factory.mktemp("report-set")
    lines = []
    for index in range(3):
        real = f"reals/heldout/photo{index}-c0.png"
        _write(root / real, photo_like(96, 96, index))
        for generator in ("upscaler-a", "upscaler-b"):
            fake = f"{generator}/heldout/photo{index}-c0.png"
            _write(root / fake, photo_like(96, 96, index + 20))
            lines.append({"fake": fake, "real": real, "generator": generator, "split": "heldout"})
    for seed in range(5):
        fake = f"gan-x/heldout/seed{seed}.png"
        _write(root / fake, photo_like(64, 64, seed + 40))
        lines.append({"fake": fake, "generator": "gan-x", "kind": "sample", "split": "heldout"})
    lines.append({"fake": "gan-x/train/seed9.png", "generator": "gan-x", "split": "train"})
    _write(root / "gan-x/train/seed9.png", photo_like(64, 64, 99))
    # Listed, never written (a stopped run): left out.
    lines.append({"fake": "gan-x/heldout/missing.png", "generator": "gan-x", "split": "heldout"})
    text = "\n".join(json.dumps(line) for line in lines) + "\n\n"
    (root / "manifest.jsonl").write_text(text, encoding="utf-8")
    return root


def test_pool_from_folder_walks_and_skips_hidden_and_non_images(tmp_path: Path) -> None:
    folder = tmp_path / "photos"
    _write(folder / "a.jpg", photo_like(80, 60, 1), "JPEG", quality=80)
    _write(folder / "nested" / "deeper" / "b.PNG", photo_like(70, 50, 2))
    _write(folder / ".hidden.jpg", photo_like(80, 60, 3), "JPEG")
    _write(folder / ".cache" / "c.png", photo_like(80, 60, 4))
    (folder / "README.md").write_text("not an image")
    pool = ImagePool.from_folder(folder, "real")
    assert [p.path.relative_to(folder).as_posix() for p in pool.images] == [
        "a.jpg",
        "nested/deeper/b.PNG",
    ]
    assert {(p.truth, p.group) for p in pool.images} == {("real", "photos")}
    assert pool.counts() == {"real": 2, "fake": 0}
    assert pool.default_fake_share == 0.0


def test_pool_corrupt_file_is_named(tmp_path: Path) -> None:
    folder = tmp_path / "fakes"
    _write(folder / "good.png", photo_like(64, 64))
    (folder / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 40)
    with pytest.raises(ConfigError, match=r"broken\.png cannot be used in the traffic pool.*JPEG"):
        ImagePool.from_folder(folder, "fake")


def test_pool_empty_or_missing_folder_says_what_to_give(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(ConfigError, match="no image files .* under .*--real DIR"):
        ImagePool.from_folder(tmp_path, "real")
    with pytest.raises(ConfigError, match="is not a folder"):
        ImagePool.from_folder(tmp_path / "nope", "real")


def test_pool_from_report_set_reads_the_manifest(report_set: Path) -> None:
    pool = ImagePool.from_pool_folder(report_set)
    assert pool.counts() == {"real": 3, "fake": 12}
    assert {g: len(v) for g, v in pool.groups("fake").items()} == {
        "gan-x": 6,
        "upscaler-a": 3,
        "upscaler-b": 3,
    }
    assert list(pool.groups("real")) == ["reals"]
    assert all(p.path.is_file() for p in pool.images)
    heldout = ImagePool.from_report_set(report_set, split="heldout")
    assert heldout.counts() == {"real": 3, "fake": 11}


def test_pool_report_set_bad_manifest_lines(tmp_path: Path) -> None:
    (tmp_path / "manifest.jsonl").write_text('{"fake": "a.png"}\n')
    with pytest.raises(ConfigError, match=r"manifest.jsonl:1 is not a report-set record"):
        ImagePool.from_pool_folder(tmp_path)
    (tmp_path / "manifest.jsonl").write_text('{"fake": "../x.png", "generator": "g"}\n')
    with pytest.raises(ConfigError, match="names a file outside"):
        ImagePool.from_pool_folder(tmp_path)
    (tmp_path / "manifest.jsonl").write_text('{"fake": "gone.png", "generator": "g"}\n')
    with pytest.raises(ConfigError, match="lists no image file"):
        ImagePool.from_pool_folder(tmp_path)


def test_pool_from_class_folders(tmp_path: Path) -> None:
    data = tmp_path / "data"
    _write(data / "real" / "r.jpg", photo_like(64, 64, 1), "JPEG")
    _write(data / "fake" / "sd" / "f.png", photo_like(64, 64, 2))
    pool = ImagePool.from_pool_folder(data)
    assert [(p.path.name, p.truth, p.group) for p in pool.images] == [
        ("r.jpg", "real", "data"),
        ("f.png", "fake", "data"),
    ]
    with pytest.raises(ConfigError, match="manifest.jsonl .* real/ and fake/"):
        ImagePool.from_pool_folder(tmp_path / "data" / "real")


def test_pool_samples_are_labelled_by_name(sample_dir: Path, tmp_path: Path) -> None:
    pool = ImagePool.from_samples(bundled_samples(sample_dir))
    assert pool.counts() == {"real": 2, "fake": 2}
    bundled = default_pool()
    fakes = {p.path.name: p.group for p in bundled.fake}
    assert fakes["fake_cv_baboon_realesrgan-x4plus.png"] == "realesrgan-x4plus"
    assert fakes["fake_seed17_dcgan-digiface.png"] == "dcgan-digiface"
    assert {p.group for p in bundled.real} == {"samples"}
    assert len(bundled.real) == sum(1 for p in bundled_samples() if p.name.startswith("real_"))
    _write(tmp_path / "holiday.png", photo_like(64, 64))
    with pytest.raises(ConfigError, match="holiday.png: a sample's name must start with real_"):
        ImagePool.from_samples([tmp_path / "holiday.png"])


def test_pool_joins_sources_once_and_refuses_a_file_with_two_truths(report_set: Path) -> None:
    reals = report_set / "reals"
    pool = ImagePool.from_sources(pools=[report_set], real=[reals])
    assert pool.counts() == {"real": 3, "fake": 12}  # the twins are not counted twice
    with pytest.raises(ConfigError, match="both as real and as fake"):
        ImagePool.from_sources(real=[reals], fake=[reals])


def test_pool_describe(report_set: Path) -> None:
    pool = ImagePool.from_pool_folder(report_set)
    assert pool.describe() == "3 real (1 source), 12 fake (3 generators)"


# -- the fake share ---------------------------------------------------------------------------


def test_resolve_fake_share_defaults_and_refusals(report_set: Path) -> None:
    both = ImagePool.from_pool_folder(report_set)
    assert resolve_fake_share(both) == (DEFAULT_FAKE_SHARE, DEFAULT_FAKE_SHARE) == (0.3, 0.3)
    assert resolve_fake_share(both, 0.1, shift="fake-share", strength=0.8) == (0.1, 0.8)
    assert resolve_fake_share(both, 0.1, shift="fake_share", strength=0.8) == (0.1, 0.8)
    assert resolve_fake_share(both, 0.1, shift="blur") == (0.1, 0.1)
    reals = ImagePool(tuple(both.real))
    assert resolve_fake_share(reals) == (0.0, 0.0)
    assert resolve_fake_share(ImagePool(tuple(both.fake))) == (1.0, 1.0)
    with pytest.raises(ConfigError, match="a fake share of 0.5 needs generated images"):
        resolve_fake_share(reals, 0.5)
    with pytest.raises(ConfigError, match="needs generated images"):
        resolve_fake_share(reals, shift="fake-share", strength=0.2)
    with pytest.raises(ConfigError, match="needs real images"):
        resolve_fake_share(ImagePool(tuple(both.fake)), 0.9)
    for bad in (-0.1, 1.5, float("nan"), True):
        with pytest.raises(ConfigError, match=r"fake share must be a number in \[0, 1\]"):
            resolve_fake_share(both, bad)
    with pytest.raises(ConfigError, match="the image pool is empty"):
        resolve_fake_share(ImagePool())


def _fake_share(items: list[PoolImage]) -> float:
    return sum(1 for item in items if item.truth == "fake") / len(items)


@pytest.mark.parametrize("share", [0.1, 0.3, 0.7])
def test_choose_images_keeps_the_fake_share(report_set: Path, share: float) -> None:
    pool = ImagePool.from_pool_folder(report_set)
    assert _fake_share(choose_images(pool, 2000, fake_share=share, seed=11)) == pytest.approx(
        share, abs=0.04
    )


def test_fake_share_shift_moves_the_share(report_set: Path) -> None:
    pool = ImagePool.from_pool_folder(report_set)
    base = choose_images(pool, 2000, seed=4)
    shifted = choose_images(pool, 2000, seed=4, shift="fake-share", strength=0.8)
    assert _fake_share(base) == pytest.approx(0.3, abs=0.04)
    assert _fake_share(shifted) == pytest.approx(0.8, abs=0.04)


def test_choose_images_balances_generators_not_files(report_set: Path) -> None:
    """gan-x has twice the files of each upscaler, yet each generator gets a third of the fakes."""
    pool = ImagePool.from_pool_folder(report_set)
    fakes = [i for i in choose_images(pool, 3000, fake_share=1.0, seed=2)]
    counts = Counter(item.group for item in fakes)
    for generator in ("gan-x", "upscaler-a", "upscaler-b"):
        assert counts[generator] / len(fakes) == pytest.approx(1 / 3, abs=0.04)
    files = Counter(item.path.name for item in fakes if item.group == "gan-x")
    assert len(files) == 6  # every file of the group is drawn


def test_generate_images_follows_choose_images_and_carries_truth(report_set: Path) -> None:
    pool = ImagePool.from_pool_folder(report_set)
    chosen = choose_images(pool, 30, fake_share=0.5, seed=9)
    images = list(iter_pool_images(pool, 30, fake_share=0.5, seed=9))
    assert [(i.truth, i.group, i.path) for i in images] == [
        (c.truth, c.group, c.path) for c in chosen
    ]
    assert all(i.sha256 == hashlib.sha256(i.data).hexdigest() for i in images)
    # A shorter stream is the start of a longer one.
    assert [i.data for i in generate_images(pool, 10, fake_share=0.5, seed=9)] == [
        i.data for i in images[:10]
    ]


def test_generate_images_pool_bytes_identical_for_a_seed(report_set: Path) -> None:
    pool = ImagePool.from_pool_folder(report_set)
    first = [i.data for i in generate_images(pool, 15, seed=5, shift="blur")]
    assert first == [i.data for i in generate_images(pool, 15, seed=5, shift="blur")]
    assert first != [i.data for i in generate_images(pool, 15, seed=6, shift="blur")]


def test_generate_images_keeps_each_source_size_and_quality(tmp_path: Path) -> None:
    big = _write(tmp_path / "real" / "big.jpg", photo_like(640, 480, 1), "JPEG", quality=77)
    _write(tmp_path / "fake" / "small.png", photo_like(64, 64, 2))
    pool = ImagePool.from_pool_folder(tmp_path)
    for item in generate_images(pool, 20, fake_share=0.5, seed=0):
        loaded = load_image(item.data)
        if item.path == big:
            assert 512 <= loaded.width <= 640 and 384 <= loaded.height <= 480
            assert loaded.format == "JPEG" and loaded.jpeg_quality == 77.0
        else:
            assert 51 <= loaded.width <= 64 and loaded.format == "PNG"


def test_simulate_traffic_reports_the_truth_of_every_logged_image(
    predictor: Predictor, store: PredictionStore, report_set: Path
) -> None:
    pool = ImagePool.from_pool_folder(report_set)
    result = simulate_traffic(
        predictor, store, count=24, pool=pool, fake_share=0.5, shift="fake-share", strength=0.75
    )
    frame = store.predictions()
    assert list(frame["sha256"]) == [t.sha256 for t in result.truths]
    assert result.n_real + result.n_fake == 24 == len(result.truths)
    assert result.n_fake == sum(t.truth == "fake" for t in result.truths)
    assert (result.base_fake_share, result.fake_share) == (0.5, 0.75)
    lines = result.summary_lines()
    assert "shift: fake-share (0.5 -> 0.75)" in lines[0]
    assert f"truth: {result.n_real} real, {result.n_fake} fake (fake share 0.75)" in lines[2]
    assert "from a pool of 3 real (1 source), 12 fake (3 generators)" in lines[2]


def test_simulate_traffic_refuses_pool_and_samples(
    predictor: Predictor, store: PredictionStore, report_set: Path, sample_dir: Path
) -> None:
    with pytest.raises(ConfigError, match="pool or samples, not both"):
        simulate_traffic(
            predictor,
            store,
            count=2,
            pool=ImagePool.from_pool_folder(report_set),
            samples=bundled_samples(sample_dir),
        )


def test_cli_simulate_traffic_refuses_a_share_the_pool_cannot_serve(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _write(tmp_path / "photos" / "a.png", photo_like(64, 64))
    code = main(["simulate-traffic", "--real", str(tmp_path / "photos"), "--fake-share", "0.2"])
    assert code == 2
    assert "a fake share of 0.2 needs generated images" in capsys.readouterr().err
    code = main(["simulate-traffic", "--real", str(tmp_path / "photos"), "--shift", "fake-share"])
    assert code == 2
    assert "a fake share of 0.5 needs generated images" in capsys.readouterr().err


def test_cli_simulate_traffic_names_a_corrupt_pool_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _write(tmp_path / "photos" / "a.png", photo_like(64, 64))
    (tmp_path / "photos" / "cut.jpg").write_bytes(encode(photo_like(200, 150), "JPEG")[:700])
    assert main(["simulate-traffic", "--real", str(tmp_path / "photos")]) == 2
    err = capsys.readouterr().err
    assert "cut.jpg cannot be used in the traffic pool" in err and "Accepted: JPEG" in err
