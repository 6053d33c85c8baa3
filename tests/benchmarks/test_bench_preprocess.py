"""Decoding and preprocessing: a 640x480 and a 4000x3000 JPEG, full and draft decoding.

Draft decoding (JPEG DCT scaling to 1/2, 1/4 or 1/8) is used only in ``resize`` mode, where the
model shrinks the photo anyway; ``crops`` mode always decodes every pixel.
"""

from __future__ import annotations

import bench_support  # noqa: F401 - first: sets OMP_WAIT_POLICY before torch loads
from functools import lru_cache
from typing import Any

import numpy as np
import pytest
from bench_support import (
    demo_model,
    load,
    paired,
    photo_4000,
    photos_640,
    record,
    rounds,
    settings_for,
    small_vit_dir,
)

from fakescope import Predictor
from fakescope.images import FEATURE_MAX_SIDE, compute_features, feature_copy, load_image
from fakescope.preprocess import image_to_inputs

pytestmark = pytest.mark.benchmark


@lru_cache(maxsize=1)
def resize_predictor() -> Predictor:
    return Predictor(load(small_vit_dir()), settings_for("fp32", 1))


@lru_cache(maxsize=1)
def crops_predictor() -> Predictor:
    return Predictor(load(demo_model().folder), settings_for("fp32", 1))


def _prepare(data: bytes, predictor: Predictor, draft: bool) -> np.ndarray:
    draft_size = predictor._draft_size() if draft else None
    loaded = load_image(data, predictor.settings, draft_size=draft_size)
    return image_to_inputs(loaded.image, predictor.model.spec)


@pytest.mark.parametrize("draft", [False, True], ids=["full-decode", "draft"])
@pytest.mark.parametrize("size", ["640x480", "4000x3000"])
def test_decode_and_resize(benchmark: Any, size: str, draft: bool) -> None:
    """Bytes -> validated RGB image -> (1, 3, 224, 224) model input, resize mode."""
    predictor = resize_predictor()
    data = photos_640()[0] if size == "640x480" else photo_4000()
    inputs = benchmark.pedantic(
        _prepare, args=(data, predictor, draft), rounds=rounds(10, 4), warmup_rounds=1
    )
    full = _prepare(data, predictor, draft=False)
    # Normalized pixels are in [-1, 1]: 2/255 is one grey level.
    mean_change_levels = float(np.abs(inputs - full).mean()) * 255 / 2
    record(
        benchmark,
        kind="preprocess",
        model="resize-224",
        variant=f"{size} {'draft' if draft else 'full decode'}",
        size=size,
        draft=draft,
        draft_size=list(predictor._draft_size() or ()),
        bytes=len(data),
        mean_change_levels=mean_change_levels,
        images=1,
    )
    assert inputs.shape == (1, 3, 224, 224)
    assert mean_change_levels < 1.0  # draft + resize stays within one grey level on average


def test_decode_and_crop_4000x3000(benchmark: Any) -> None:
    """Crops mode on a 12 MP photo: full decode (native pixels), then the crops."""
    predictor = crops_predictor()
    inputs = benchmark.pedantic(
        _prepare, args=(photo_4000(), predictor, True), rounds=rounds(8, 3), warmup_rounds=1
    )
    spec = predictor.model.spec
    record(
        benchmark,
        kind="preprocess",
        model=demo_model().name,
        variant="4000x3000 crops (full decode)",
        size="4000x3000",
        draft=False,
        images=1,
    )
    assert predictor._draft_size() is None
    assert inputs.shape == (spec.num_crops, 3, spec.crop_size, spec.crop_size)


@pytest.mark.parametrize(
    "size, reference",
    [("640x480", "full"), ("640x480", "512"), ("4000x3000", "512")],
    ids=["640x480-vs-full-resolution", "640x480-vs-512-copy", "4000x3000-vs-512-copy"],
)
def test_drift_features(benchmark: Any, size: str, reference: str) -> None:
    """``compute_features`` (part of every prediction) on its small copy (longer side
    FEATURE_MAX_SIDE), timed in turns with the same formulas on the full-resolution pixels or on
    the 512 px copy main used before issue 14 part 3: the ratio is ``paired_speedup``."""
    data = photos_640()[0] if size == "640x480" else photo_4000()
    loaded = load_image(data)

    def on_reference() -> None:
        if reference == "full":
            compute_features(loaded, pixels=np.asarray(loaded.image))
        else:
            compute_features(loaded, pixels=feature_copy(loaded.image, 512))

    features = paired(benchmark, compute_features, (loaded,), on_reference, rounds(20, 6))
    record(
        benchmark,
        kind="preprocess",
        model="-",
        variant=f"{size} drift features ({FEATURE_MAX_SIDE} px copy vs {reference})",
        size=size,
        feature_max_side=FEATURE_MAX_SIDE,
        reference=reference,
        images=1,
    )
    assert features["width"] == float(loaded.width) and 0.0 <= features["brightness"] <= 1.0
