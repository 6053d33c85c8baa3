"""The clean / web / hard report (issue 10): conditions, TPR at a fixed FPR, rows per generator."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from fakescope.errors import TrainingError
from fakescope.training.report import (
    CONDITIONS,
    REAL,
    ScoredImage,
    degrade,
    generator_report,
    report_json,
    report_table,
    tpr_at_fpr,
)

pytestmark = pytest.mark.unit


def picture(width: int = 96, height: int = 64) -> Image.Image:
    rng = np.random.default_rng(0)
    return Image.fromarray(rng.integers(0, 256, (height, width, 3), dtype=np.uint8), "RGB")


def test_degrade_clean_keeps_the_pixels_as_png() -> None:
    image = picture()
    data = degrade(image, "clean", seed=1)
    decoded = Image.open(io.BytesIO(data))
    assert decoded.format == "PNG" and np.array_equal(np.asarray(decoded), np.asarray(image))


@pytest.mark.parametrize("condition", ["web", "hard"])
def test_degrade_is_a_jpeg_and_deterministic_per_seed(condition: str) -> None:
    image = picture()
    first, again = degrade(image, condition, seed=7), degrade(image, condition, seed=7)
    assert first == again and Image.open(io.BytesIO(first)).format == "JPEG"
    assert any(degrade(image, condition, seed=s) != first for s in range(8))


def test_degrade_web_shrinks_to_half_or_more_and_hard_may_double() -> None:
    image = picture(200, 100)
    web = [Image.open(io.BytesIO(degrade(image, "web", seed=s))).size for s in range(20)]
    assert all(100 <= w <= 200 and 50 <= h <= 100 for w, h in web)
    hard = {Image.open(io.BytesIO(degrade(image, "hard", seed=s))).size for s in range(20)}
    assert (400, 200) in hard  # the 2x bicubic upscale of the hard condition
    assert any(w <= 200 for w, _ in hard)


def test_degrade_names_the_conditions_it_knows() -> None:
    with pytest.raises(TrainingError, match="clean, web, hard"):
        degrade(picture(), "social", seed=0)


def test_tpr_at_fpr_picks_the_threshold_on_the_reals() -> None:
    reals = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95]
    fakes = [0.92, 0.85, 0.6, 0.97, 0.99]
    # 10 reals, FPR <= 0.10: one real (0.95) may reach the threshold, just above 0.9.
    assert tpr_at_fpr(reals, fakes, 0.10) == pytest.approx(3 / 5)
    # FPR <= 0.05: no real may reach it: just above 0.95.
    assert tpr_at_fpr(reals, fakes, 0.05) == pytest.approx(2 / 5)
    # FPR <= 0.30: three reals may: just above 0.7.
    assert tpr_at_fpr(reals, fakes, 0.30) == pytest.approx(4 / 5)
    assert tpr_at_fpr(reals, fakes, 1.0) == 1.0
    with pytest.raises(TrainingError, match="both real and fake"):
        tpr_at_fpr([], fakes, 0.1)


def scored(generator: str, condition: str, scores: list[float], seen: bool = True) -> list:
    family = "" if generator == REAL else f"{generator}-family"
    return [ScoredImage(generator, family, seen, condition, p) for p in scores]


def test_generator_report_rows_per_generator_condition_and_summaries() -> None:
    images = [
        *scored(REAL, "clean", [0.1, 0.2, 0.3, 0.6]),
        *scored("esrgan", "clean", [0.9, 0.8, 0.4]),
        *scored("dcgan", "clean", [0.7, 0.2], seen=False),
        *scored(REAL, "web", [0.2, 0.4]),
        *scored("esrgan", "web", [0.45, 0.55]),
    ]
    rows = {(r.generator, r.condition): r for r in generator_report(images)}
    assert set(rows) == {
        ("esrgan", "clean"),
        ("dcgan", "clean"),
        ("all seen", "clean"),
        ("all unseen", "clean"),
        ("esrgan", "web"),
        ("all seen", "web"),
    }
    esrgan = rows[("esrgan", "clean")]
    assert (esrgan.n_fake, esrgan.n_real) == (3, 4)
    assert esrgan.tpr == pytest.approx(2 / 3) and esrgan.fpr == pytest.approx(1 / 4)
    # 4 reals at FPR <= 0.05: none may reach the threshold (just above 0.6): 0.9 and 0.8 pass.
    assert esrgan.tpr_at_fpr == pytest.approx(2 / 3) and esrgan.fpr_target == 0.05
    # AUC: of 12 (fake, real) pairs, the fake wins 11 (0.4 loses to 0.6 only).
    assert esrgan.roc_auc == pytest.approx(11 / 12)
    unseen = rows[("all unseen", "clean")]
    assert not unseen.seen and unseen.n_fake == 2 and unseen.tpr == pytest.approx(0.5)
    assert rows[("esrgan", "web")].fpr_target == 0.10
    assert rows[("esrgan", "web")].roc_auc == pytest.approx(1.0)  # every fake above every real


def test_generator_report_needs_reals_in_every_condition_with_fakes() -> None:
    with pytest.raises(TrainingError, match="'hard' has fakes but no real photos"):
        generator_report([*scored(REAL, "clean", [0.1]), *scored("esrgan", "hard", [0.9])])


def test_report_json_and_table_carry_every_row() -> None:
    rows = generator_report([*scored(REAL, "clean", [0.1, 0.7]), *scored("esrgan", "clean", [0.9])])
    as_json = report_json(rows)
    assert [r["generator"] for r in as_json] == ["esrgan", "all seen"]
    assert set(as_json[0]) >= {"tpr", "fpr", "tpr_at_fpr", "roc_auc", "ece", "condition"}
    table = report_table(rows).splitlines()
    assert table[0].split()[:4] == ["generator", "family", "seen", "condition"]
    assert len(table) == 2 + len(rows) and "esrgan-family" in table[2]
    assert set(CONDITIONS) == {"clean", "web", "hard"}


def _scored(generator: str, seen: bool, condition: str, p: float) -> ScoredImage:
    return ScoredImage(
        generator, "" if generator == REAL else f"fam-{generator}", seen, condition, p
    )


def test_report_targets_read_the_summary_rows_and_fail_below_a_limit() -> None:
    from fakescope.training.report import REPORT_TARGETS, check_report_targets

    scored = []
    for condition in CONDITIONS:
        scored += [_scored(REAL, True, condition, p) for p in (0.1, 0.2, 0.3, 0.6)]  # FPR 0.25
        scored += [_scored("seen-gen", True, condition, p) for p in (0.7, 0.8, 0.9, 0.95)]
        scored += [_scored("new-gen", False, condition, p) for p in (0.4, 0.45, 0.55, 0.9)]
    rows = generator_report(scored, threshold=0.5)
    checks = check_report_targets(scored, rows)
    assert set(checks) == set(REPORT_TARGETS)
    assert checks["fpr_clean"] == {"value": 0.25, "limit": 0.05, "kind": "max", "passed": False}
    assert checks["seen_clean_tpr_at_fpr"]["value"] == 1.0  # every seen fake above 0.6
    assert checks["seen_clean_tpr_at_fpr"]["passed"] is True
    assert checks["unseen_clean_tpr"]["value"] == 0.5 and not checks["unseen_clean_tpr"]["passed"]


def test_report_targets_leave_out_the_unseen_figure_when_nothing_was_held_out() -> None:
    from fakescope.training.report import check_report_targets

    scored = [_scored(REAL, True, "clean", 0.1), _scored("seen-gen", True, "clean", 0.9)]
    checks = check_report_targets(scored, generator_report(scored))
    assert "unseen_clean_tpr" not in checks and checks["fpr_clean"]["passed"]


def test_trained_seen_families_come_from_metrics_json(tmp_path) -> None:
    import json

    from fakescope.training.report import trained_seen_families

    assert trained_seen_families(None) is None
    assert trained_seen_families(tmp_path) is None  # no metrics.json: nothing counts as seen
    (tmp_path / "metrics.json").write_text(json.dumps({"split": {"kind": "demo"}}))
    assert trained_seen_families(tmp_path) is None
    record = {"split": {"generated": {"seen_families": ["span", "cugan-unet"]}}}
    (tmp_path / "metrics.json").write_text(json.dumps(record))
    assert trained_seen_families(tmp_path) == ["span", "cugan-unet"]
