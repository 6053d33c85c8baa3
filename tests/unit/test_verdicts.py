from __future__ import annotations

import json

import pytest

from fakescope.verdicts import Prediction, Rejection, verdict_for

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("probability", "expected"),
    [
        (0.0, "real"),
        (0.3999, "real"),
        (0.4, "uncertain"),
        (0.5, "uncertain"),
        (0.5999, "uncertain"),
        (0.6, "fake"),
        (1.0, "fake"),
    ],
)
def test_verdict_band_is_centred_on_the_threshold(probability: float, expected: str) -> None:
    assert verdict_for(probability, threshold=0.5, uncertain_band=0.2) == expected


@pytest.mark.parametrize(("probability", "expected"), [(0.4999, "real"), (0.5, "fake")])
def test_verdict_without_band_never_uncertain(probability: float, expected: str) -> None:
    assert verdict_for(probability, threshold=0.5, uncertain_band=0.0) == expected


def test_verdict_follows_a_moved_threshold() -> None:
    assert verdict_for(0.75, threshold=0.8, uncertain_band=0.0) == "real"
    assert verdict_for(0.75, threshold=0.8, uncertain_band=0.1) == "uncertain"
    assert verdict_for(0.86, threshold=0.8, uncertain_band=0.1) == "fake"


def _prediction(probability: float) -> Prediction:
    return Prediction(
        verdict=verdict_for(probability),
        fake_probability=probability,
        scores={"Real": 1 - probability, "Fake": probability},
        model_name="m",
        model_version="v1",
        latency_ms=12.5,
        sha256="ab" * 32,
        features={"width": 640.0, "jpeg_quality": None},
        name="a.jpg",
    )


def test_confidence_is_the_more_likely_class() -> None:
    assert _prediction(0.2).confidence == pytest.approx(0.8)
    assert _prediction(0.9).confidence == pytest.approx(0.9)


def test_relabel_changes_only_the_verdict() -> None:
    original = _prediction(0.55)
    assert original.verdict == "uncertain"
    relabelled = original.relabel(threshold=0.5, uncertain_band=0.0)
    assert relabelled.verdict == "fake"
    assert relabelled.fake_probability == original.fake_probability
    assert relabelled.scores == original.scores


def test_to_dict_is_json_ready() -> None:
    data = json.loads(json.dumps(_prediction(0.9).to_dict()))
    assert data["verdict"] == "fake" and data["confidence"] == pytest.approx(0.9)
    assert data["features"] == {"width": 640.0, "jpeg_quality": None}
    rejection = Rejection("empty", "The file is empty", "x.png", None).to_dict()
    assert rejection == {
        "reason": "empty",
        "message": "The file is empty",
        "name": "x.png",
        "sha256": None,
    }
