"""The promotion gate (issue 12): metrics and a card, no regression, or a stated, logged reason."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from fakescope.errors import RegistryError
from fakescope.registry import PromotionRefused, Registry, promotion_gate

pytestmark = pytest.mark.unit


def _version(tmp_path: Path, vit_dir: Path, name: str, metrics: dict | None, card: bool) -> Path:
    folder = shutil.copytree(vit_dir, tmp_path / name)
    if metrics is not None:
        (folder / "metrics.json").write_text(json.dumps(metrics))
    if card:
        (folder / "README.md").write_text(f"# {name}\n\n## Limits\n\nA test model.\n")
    return folder


@pytest.fixture
def registry(tmp_path: Path, vit_dir: Path) -> Registry:
    """v1 active (accuracy 0.90, AUC 0.95); v2 better; v3 worse on AUC; v4 bare."""
    reg = Registry(tmp_path / "models")
    specs = (
        ({"accuracy": 0.90, "roc_auc": 0.95}, True),
        ({"accuracy": 0.92, "roc_auc": 0.96}, True),
        ({"accuracy": 0.93, "roc_auc": 0.90}, True),
        (None, False),
    )
    for i, (metrics, card) in enumerate(specs, start=1):
        reg.register(_version(tmp_path, vit_dir, f"m{i}", metrics, card), activate=i == 1)
    return reg


def test_gate_passes_a_version_that_is_no_worse(registry: Registry) -> None:
    gate = promotion_gate(registry, "v2")
    assert gate.passed and gate.active == "v1" and gate.problems == ()


def test_gate_names_each_regression(registry: Registry) -> None:
    gate = promotion_gate(registry, "v3")
    assert gate.problems == ("roc_auc 0.900 is below the active v1's 0.950",)


def test_gate_wants_metrics_and_a_card(registry: Registry) -> None:
    gate = promotion_gate(registry, "v4")
    assert gate.problems == ("v4 has no metrics.json", "v4 has no model card (README.md)")


def test_gate_on_an_unknown_version_raises(registry: Registry) -> None:
    with pytest.raises(RegistryError, match="known: v1, v2, v3, v4"):
        promotion_gate(registry, "v9")


def test_promote_checked_refuses_without_a_reason_and_changes_nothing(registry: Registry) -> None:
    for reason in (None, "", "   "):
        with pytest.raises(PromotionRefused, match="v3 was not promoted: roc_auc 0.900"):
            registry.promote_checked("v3", reason)
    assert registry.active_version() == "v1"
    assert registry.promotion_log() == []


def test_promote_checked_forced_with_a_reason_is_logged(registry: Registry) -> None:
    registry.promote_checked("v4", "  hotfix for a broken v1  ")
    registry.promote_checked("v2")
    assert registry.active_version() == "v2"
    forced, passed = registry.promotion_log()
    assert forced["version"] == "v4" and forced["previous"] == "v1" and forced["gate"] == "forced"
    assert forced["force_reason"] == "hotfix for a broken v1"
    assert forced["problems"] == ["v4 has no metrics.json", "v4 has no model card (README.md)"]
    assert passed["version"] == "v2" and passed["gate"] == "passed"
    assert passed["force_reason"] is None and passed["time"].endswith("+00:00")
    assert registry.history() == ["v1", "v4", "v2"]
