"""The clean / web / hard report: detection per generator and per condition (issue 10).

The way the best open detector products report: each generator's output (and the real photos) is
scored as it is (``clean``), as it travels on the web (``web``: JPEG quality 70-90 after a resize to
0.5-1x) and after rough handling (``hard``: a resize down to 0.5-1x or a 2x bicubic upscale, a mild
blur half of the time, then JPEG quality 50-70). Reals go through the same conditions, so every
true-positive rate stands beside the false-positive rate on reals treated the same way.

Per generator and condition: TPR at the serving threshold, TPR at a fixed false-positive rate on
the reals of that condition (the threshold is chosen on those reals), FPR on reals, ROC AUC (that
generator's fakes against the reals of the condition) and ECE (fakes and reals together). A
generator is ``seen`` when the model trained on its family and ``unseen`` when the whole family was
held out: the unseen figure is the one a user needs.
"""

from __future__ import annotations

import io
import json
import random
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageFilter

from fakescope.errors import TrainingError
from fakescope.training.evaluate import expected_calibration_error, roc_auc

CONDITIONS = ("clean", "web", "hard")
# The reals' false-positive rate at which each condition's TPR@FPR is read (issue 10's targets:
# TPR at FPR <= 0.05 clean, <= 0.10 web; hard takes its FPR ceiling, 0.15).
FPR_TARGETS = {"clean": 0.05, "web": 0.10, "hard": 0.15}
REAL = "real"  # the generator name of real photos in report records


def degrade(image: Image.Image, condition: str, seed: int) -> bytes:
    """Encode ``image`` as it would arrive under ``condition`` (deterministic for a seed).

    Args:
        image: RGB pixels (a generator's native output or a real photo).
        condition: ``clean`` (lossless PNG of the pixels as they are), ``web`` or ``hard``.
        seed: fixes the resize factor, filter, blur and JPEG quality.

    Returns:
        The encoded file (PNG for ``clean``, JPEG otherwise), as an upload would be.

    Raises:
        TrainingError: ``condition`` is not one of :data:`CONDITIONS`.
    """
    if condition not in CONDITIONS:
        raise TrainingError(f"condition must be one of {', '.join(CONDITIONS)}, got {condition!r}")
    # Seeded for reproducible conditions; nothing here is security-sensitive.
    rng = random.Random(seed)  # nosec B311
    image = image.convert("RGB")
    buffer = io.BytesIO()
    if condition == "clean":
        image.save(buffer, "PNG")
        return buffer.getvalue()
    if condition == "web":
        image = _resize(image, rng.uniform(0.5, 1.0), rng)
        quality = rng.randint(70, 90)
    else:
        if rng.random() < 0.5:
            image = _resize(image, rng.uniform(0.5, 1.0), rng)
        else:
            image = image.resize((image.width * 2, image.height * 2), Image.Resampling.BICUBIC)
        if rng.random() < 0.5:
            image = image.filter(ImageFilter.GaussianBlur(rng.uniform(0.5, 1.5)))
        quality = rng.randint(50, 70)
    image.save(buffer, "JPEG", quality=quality)
    return buffer.getvalue()


def _resize(image: Image.Image, factor: float, rng: random.Random) -> Image.Image:
    """Downscale by ``factor`` with a filter people use (never below 32 px a side)."""
    filters = (Image.Resampling.BILINEAR, Image.Resampling.BICUBIC, Image.Resampling.LANCZOS)
    size = (max(32, round(image.width * factor)), max(32, round(image.height * factor)))
    return image.resize(size, rng.choice(filters)) if size != image.size else image


@dataclass(frozen=True)
class ScoredImage:
    """One scored image of the report set.

    Attributes:
        generator: the generator's name, or :data:`REAL` for a real photo.
        family: the generator's family (``""`` for reals).
        seen: whether the model trained on the family (ignored for reals).
        condition: one of :data:`CONDITIONS`.
        fake_probability: the served fake probability.
    """

    generator: str
    family: str
    seen: bool
    condition: str
    fake_probability: float

    @property
    def label(self) -> int:
        """0 for a real photo, 1 for a generator's output."""
        return 0 if self.generator == REAL else 1


@dataclass(frozen=True)
class ReportRow:
    """The figures of one generator under one condition (or of all seen/unseen generators)."""

    generator: str
    family: str
    seen: bool
    condition: str
    n_fake: int
    n_real: int
    tpr: float  # at the serving threshold
    fpr: float  # reals of the same condition called fake at the serving threshold
    tpr_at_fpr: float  # at the threshold where the reals' FPR is at most `fpr_target`
    fpr_target: float
    roc_auc: float | None
    ece: float


def tpr_at_fpr(
    real_scores: Sequence[float], fake_scores: Sequence[float], fpr_target: float
) -> float:
    """The true-positive rate at the lowest threshold whose false-positive rate on the reals is at
    most ``fpr_target`` (an image is fake when its score is >= the threshold).

    Raises:
        TrainingError: no real or no fake score.
    """
    reals = np.sort(np.asarray(real_scores, dtype=np.float64))
    fakes = np.asarray(fake_scores, dtype=np.float64)
    if reals.size == 0 or fakes.size == 0:
        raise TrainingError("TPR at a fixed FPR needs both real and fake scores")
    # At most floor(target * n) reals may reach the threshold: it sits just above the next one.
    allowed = int(np.floor(fpr_target * reals.size + 1e-9))
    if allowed >= reals.size:
        return 1.0
    threshold = np.nextafter(reals[reals.size - allowed - 1], np.inf)
    return float((fakes >= threshold).mean())


def generator_report(
    images: Iterable[ScoredImage],
    threshold: float = 0.5,
    fpr_targets: Mapping[str, float] = FPR_TARGETS,
) -> list[ReportRow]:
    """Rows per generator and condition, then ``seen`` and ``unseen`` summary rows per condition.

    Args:
        images: scored fakes and reals; every condition with fakes needs reals too.
        threshold: the serving threshold (fake when the probability is >= it).
        fpr_targets: per condition, the reals' false-positive rate at which ``tpr_at_fpr`` is
            read.

    Raises:
        TrainingError: a condition has fakes but no reals.
    """
    scored = list(images)
    rows: list[ReportRow] = []
    for condition in CONDITIONS:
        inside = [s for s in scored if s.condition == condition]
        reals = [s.fake_probability for s in inside if s.label == 0]
        fakes = [s for s in inside if s.label == 1]
        if not fakes:
            continue
        if not reals:
            raise TrainingError(f"condition {condition!r} has fakes but no real photos")
        groups: dict[tuple[str, str, bool], list[float]] = {}
        for fake in fakes:
            groups.setdefault((fake.generator, fake.family, fake.seen), []).append(
                fake.fake_probability
            )
        for seen in (True, False):
            summary = [p for (_, _, s), scores in groups.items() if s == seen for p in scores]
            if summary:
                groups[("all seen" if seen else "all unseen", "", seen)] = summary
        for (generator, family, seen), scores in groups.items():
            target = fpr_targets[condition]
            rows.append(_row(generator, family, seen, condition, reals, scores, threshold, target))
    return rows


def _row(
    generator: str,
    family: str,
    seen: bool,
    condition: str,
    reals: list[float],
    fakes: list[float],
    threshold: float,
    fpr_target: float,
) -> ReportRow:
    real_scores, fake_scores = np.asarray(reals), np.asarray(fakes)
    labels = [0] * len(reals) + [1] * len(fakes)
    scores = [*reals, *fakes]
    return ReportRow(
        generator=generator,
        family=family,
        seen=seen,
        condition=condition,
        n_fake=len(fakes),
        n_real=len(reals),
        tpr=float((fake_scores >= threshold).mean()),
        fpr=float((real_scores >= threshold).mean()),
        tpr_at_fpr=tpr_at_fpr(reals, fakes, fpr_target),
        fpr_target=fpr_target,
        roc_auc=roc_auc(labels, scores),
        ece=expected_calibration_error(labels, scores),
    )


def report_json(rows: Sequence[ReportRow]) -> list[dict[str, Any]]:
    """The rows as plain dicts (for ``metrics.json`` and ``fakescope evaluate --json``)."""
    return [asdict(row) for row in rows]


def report_table(rows: Sequence[ReportRow]) -> str:
    """The rows as a fixed-width text table, one line per generator and condition."""
    header = (
        f"{'generator':<28} {'family':<16} {'seen':<6} {'condition':<9} {'fakes':>5} "
        f"{'TPR':>6} {'FPR real':>8} {'TPR@FPR':>8} {'AUC':>6} {'ECE':>6}"
    )
    lines = [header, "-" * len(header)]
    for row in rows:
        auc = f"{row.roc_auc:.3f}" if row.roc_auc is not None else "-"
        lines.append(
            f"{row.generator:<28} {row.family or '-':<16} {'yes' if row.seen else 'NO':<6} "
            f"{row.condition:<9} {row.n_fake:>5} {row.tpr:>6.3f} {row.fpr:>8.3f} "
            f"{row.tpr_at_fpr:>8.3f} {auc:>6} {row.ece:>6.3f}"
        )
    return "\n".join(lines)


# Issue 10's targets on the held-out photos' report set: (kind, limit); "min" figures must reach
# the limit, "max" figures must stay at or under it.
REPORT_TARGETS = {
    "seen_clean_tpr_at_fpr": ("min", 0.95),
    "seen_web_tpr_at_fpr": ("min", 0.85),
    "unseen_clean_tpr": ("min", 0.70),
    "fpr_clean": ("max", 0.05),
    "fpr_web": ("max", 0.10),
    "fpr_hard": ("max", 0.15),
    "ece": ("max", 0.05),
}


def report_figures(scored: Sequence[ScoredImage], rows: Sequence[ReportRow]) -> dict[str, float]:
    """The figures the targets are set on, read from the report's summary rows.

    ``ece`` is over the whole report set (every condition, reals and fakes together).
    """
    figures: dict[str, float] = {}
    for row in rows:
        if row.generator == "all seen" and row.condition in ("clean", "web"):
            figures[f"seen_{row.condition}_tpr_at_fpr"] = row.tpr_at_fpr
        if row.generator == "all unseen" and row.condition == "clean":
            figures["unseen_clean_tpr"] = row.tpr
        figures[f"fpr_{row.condition}"] = row.fpr  # the same reals on every row of a condition
    items = list(scored)
    if items:
        figures["ece"] = expected_calibration_error(
            [item.label for item in items], [item.fake_probability for item in items]
        )
    return figures


def check_report_targets(
    scored: Sequence[ScoredImage], rows: Sequence[ReportRow]
) -> dict[str, dict[str, Any]]:
    """Each target of :data:`REPORT_TARGETS` with its value and whether it passed (absent figures,
    such as ``unseen_clean_tpr`` when nothing was held out, are left out)."""
    figures = report_figures(scored, rows)
    result = {}
    for name, (kind, limit) in REPORT_TARGETS.items():
        if name in figures:
            value = figures[name]
            passed = value >= limit if kind == "min" else value <= limit
            result[name] = {"value": value, "limit": limit, "kind": kind, "passed": bool(passed)}
    return result


def trained_seen_families(model_dir: Path | None) -> list[str] | None:
    """The generator families a model folder trained on, from its ``metrics.json``; None when
    the folder, the file or the record is missing (a model trained on no real generator, such as
    v1, or a hub model): then no family may be called seen."""
    if model_dir is None:
        return None
    try:
        metrics = json.loads((Path(model_dir) / "metrics.json").read_text(encoding="utf-8"))
        return [str(f) for f in metrics["split"]["generated"]["seen_families"]]
    except (OSError, ValueError, KeyError, TypeError):
        return None
