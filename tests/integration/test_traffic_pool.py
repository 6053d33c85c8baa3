"""Simulated traffic from the committed pool (real photos, real generators' output) through the
committed demo model: counts and labels, the fake share, per-generator balance, reproducible
bytes, varied features, and the CLI end to end."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from fakescope.config import Settings
from fakescope.images import load_image
from fakescope.predictor import Predictor
from fakescope.registry import Registry
from fakescope.store import PredictionStore
from fakescope.traffic import (
    IMAGE_SUFFIXES,
    ImagePool,
    choose_images,
    generate_images,
    simulate_traffic,
)
from tests.conftest import REPO_ROOT

pytestmark = pytest.mark.integration

GENERATED = REPO_ROOT / "tests" / "quality" / "generated"
PHOTOS = REPO_ROOT / "tests" / "quality" / "heldout_photos"
# fp32 on torch, one thread: no OpenVINO export, the same numbers on any CPU, no contention.
FAST = {"FAKESCOPE_PRECISION": "fp32", "FAKESCOPE_RUNTIME": "torch", "FAKESCOPE_THREADS": "1"}


def _manifest() -> list[dict]:
    lines = (GENERATED / "manifest.jsonl").read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines if line.strip()]


def _photo_files() -> list[Path]:
    return [
        p
        for p in PHOTOS.iterdir()
        if p.suffix.lower() in IMAGE_SUFFIXES and not p.name.startswith(".")
    ]


@pytest.fixture(scope="module")
def pool() -> ImagePool:
    return ImagePool.from_sources(pools=[GENERATED], real=[PHOTOS])


@pytest.fixture(scope="module")
def demo_model() -> Path:
    active = Registry(REPO_ROOT / "models").active()
    assert active.path is not None, "the committed demo model is missing from models/"
    return active.path


def test_committed_pool_counts_and_labels(pool: ImagePool) -> None:
    records = _manifest()
    fakes = {r["fake"] for r in records}
    twins = {r["real"] for r in records if r.get("real")}
    photos = _photo_files()
    assert pool.counts() == {"real": len(twins) + len(photos), "fake": len(fakes)}
    per_generator = Counter(r["generator"] for r in records)
    assert {g: len(items) for g, items in pool.groups("fake").items()} == dict(per_generator)
    assert {g: len(items) for g, items in pool.groups("real").items()} == {
        "heldout_photos": len(photos),
        "reals": len(twins),
    }
    labelled = {p.path.resolve(): p.truth for p in pool.images}
    assert all(labelled[(GENERATED / name).resolve()] == "fake" for name in fakes)
    assert all(labelled[(GENERATED / name).resolve()] == "real" for name in twins)
    assert all(labelled[p.resolve()] == "real" for p in photos)


def test_committed_pool_keeps_the_fake_share_and_the_shift_moves_it(pool: ImagePool) -> None:
    def share(items: list) -> float:
        return sum(item.truth == "fake" for item in items) / len(items)

    assert share(choose_images(pool, 2000, seed=1)) == pytest.approx(0.3, abs=0.04)
    assert share(choose_images(pool, 2000, fake_share=0.6, seed=1)) == pytest.approx(0.6, abs=0.04)
    shifted = choose_images(pool, 2000, shift="fake-share", strength=0.9, seed=1)
    assert share(shifted) == pytest.approx(0.9, abs=0.04)


def test_committed_pool_balances_generators(pool: ImagePool) -> None:
    """dcgan-digiface has about 4x the files of each upscaler; it still gets one share."""
    fakes = choose_images(pool, 4000, fake_share=1.0, seed=3)
    counts = Counter(item.group for item in fakes)
    generators = pool.groups("fake")
    assert set(counts) == set(generators)
    for generator in generators:
        assert counts[generator] / len(fakes) == pytest.approx(1 / len(generators), abs=0.03)


def test_committed_pool_same_seed_same_bytes_real_sizes(pool: ImagePool) -> None:
    first = list(generate_images(pool, 30, seed=8))
    assert [i.data for i in first] == [i.data for i in generate_images(pool, 30, seed=8)]
    for item in first:
        loaded = load_image(item.data)
        if item.group == "heldout_photos":  # full-size JPEGs, cropped by 0-20 %, quality kept
            source = load_image(item.path)
            assert loaded.width >= 0.79 * source.width and loaded.height >= 0.79 * source.height
            assert loaded.format == "JPEG" and loaded.jpeg_quality == source.jpeg_quality
    assert len({load_image(i.data).width for i in first}) > 10


def test_simulate_traffic_with_the_demo_model_logs_varied_features_and_truth(
    pool: ImagePool, demo_model: Path, tmp_path: Path
) -> None:
    predictor = Predictor.from_source(demo_model, Settings.from_env(FAST))
    store = PredictionStore(f"sqlite:///{tmp_path / 'log.db'}")
    result = simulate_traffic(predictor, store, count=100, pool=pool, seed=0)
    frame = store.predictions()
    assert len(frame) == result.count == 100 and result.rejected == 0
    assert result.n_real + result.n_fake == 100 and 15 <= result.n_fake <= 45
    assert list(frame["sha256"]) == [t.sha256 for t in result.truths]
    # Not a few spikes: many sources, brightness spread over much of its range.
    assert len({t.name.split("-", 2)[2] for t in result.truths}) > 40
    brightness = frame["brightness"].to_numpy()
    assert len(np.unique(brightness.round(3))) > 50
    histogram, _ = np.histogram(brightness, bins=np.arange(0, 1.0001, 0.02))
    assert np.count_nonzero(histogram) >= 18
    assert frame["width"].nunique() > 30
    # The demo model tells the two apart better than chance on this stream.
    truth = np.array([t.truth == "fake" for t in result.truths])
    probability = frame["fake_probability"].to_numpy()
    assert probability[truth].mean() > probability[~truth].mean()


def test_cli_simulate_traffic_from_the_committed_pool(demo_model: Path, tmp_path: Path) -> None:
    env = {**os.environ, **FAST, "FAKESCOPE_DATA_DIR": str(tmp_path / "data")}
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "fakescope",
            "simulate-traffic",
            "--pool",
            str(GENERATED),
            "--real",
            str(PHOTOS),
            "--fake-share",
            "0.4",
            "--count",
            "24",
            "--seed",
            "2",
            "--model",
            str(demo_model),
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    pool = ImagePool.from_sources(pools=[GENERATED], real=[PHOTOS])
    assert f"from a pool of {pool.describe()}, fake share 0.4 ..." in result.stdout
    truths = [i.truth for i in generate_images(pool, 24, fake_share=0.4, seed=2)]
    n_fake = truths.count("fake")
    assert f"truth: {24 - n_fake} real, {n_fake} fake (fake share 0.4)" in result.stdout
    store = PredictionStore(f"sqlite:///{tmp_path / 'data' / 'predictions.db'}")
    frame = store.predictions()
    assert len(frame) == 24 and set(frame["source"]) == {"simulate"}
    expected = [i.sha256 for i in generate_images(pool, 24, fake_share=0.4, seed=2)]
    assert list(frame["sha256"]) == expected
