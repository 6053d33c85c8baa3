"""Evaluation: metrics of a model on labelled images, the demo held-out set, calibration.

Metrics are computed from whole-image fake probabilities: accuracy, ROC AUC, false-positive and
false-negative rates, the confusion matrix, expected calibration error (ECE) and Brier score, and
per-condition rates on the demo held-out set (clean / JPEG / blurred / upscaled reals, each kind of
simulated fake). Scores come from :class:`fakescope.predictor.Predictor`, so they are exactly what
serving answers.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image
from scipy.optimize import minimize_scalar
from scipy.special import log_softmax
from scipy.stats import rankdata

from fakescope.config import Settings
from fakescope.errors import TrainingError
from fakescope.training.dataset import list_image_folder, open_rgb
from fakescope.training.photos import CollectedPhoto
from fakescope.training.simulate import (
    FAKE_CONDITIONS,
    REAL_CONDITIONS,
    condition_upload,
    decode,
)

# The demo model's targets on its held-out photos (whole-image verdicts, threshold 0.5).
TARGETS = {
    "accuracy_min": 0.90,
    "roc_auc_min": 0.95,
    "fpr_clean_max": 0.10,
    "fpr_nuisance_max": 0.20,  # JPEG q75, blur sigma 1, 1.5x upscale
}


@dataclass(frozen=True)
class EvalImage:
    """One evaluation image.

    Attributes:
        image: the RGB pixels.
        label: 0 = real, 1 = fake.
        condition: e.g. ``clean``, ``jpeg_q75``, ``fake_transposed``, or ``real``/``fake``.
        name: where it came from (photo key or file name).
        data: the encoded file, as it would be uploaded (decodes to ``image``); the Predictor
            is given these bytes when present, so file features (JPEG quality) are real.
    """

    image: Image.Image
    label: int
    condition: str
    name: str
    data: bytes | None = None

    @property
    def upload(self) -> bytes | Image.Image:
        """What the Predictor is given: the bytes when known, else the pixels."""
        return self.data if self.data is not None else self.image


def roc_auc(labels: Sequence[int], scores: Sequence[float]) -> float:
    """Area under the ROC curve (Mann-Whitney U, ties counted half).

    Raises:
        TrainingError: only one class is present.
    """
    y = np.asarray(labels, dtype=int)
    s = np.asarray(scores, dtype=np.float64)
    n_pos, n_neg = int((y == 1).sum()), int((y == 0).sum())
    if n_pos == 0 or n_neg == 0:
        raise TrainingError("ROC AUC needs both real and fake images")
    ranks = rankdata(s)
    return float((ranks[y == 1].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def expected_calibration_error(
    labels: Sequence[int], fake_probabilities: Sequence[float], bins: int = 10
) -> float:
    """ECE of the predicted class's confidence, over ``bins`` equal-width confidence bins."""
    y = np.asarray(labels, dtype=int)
    p = np.asarray(fake_probabilities, dtype=np.float64)
    predicted = (p >= 0.5).astype(int)
    confidence = np.where(predicted == 1, p, 1 - p)
    correct = (predicted == y).astype(np.float64)
    edges = np.linspace(0.5, 1.0, bins + 1)
    ece = 0.0
    for low, high in zip(edges[:-1], edges[1:]):
        inside = (confidence >= low) & ((confidence < high) | (high == 1.0))
        if inside.any():
            ece += inside.mean() * abs(correct[inside].mean() - confidence[inside].mean())
    return float(ece)


def classification_metrics(
    labels: Sequence[int], fake_probabilities: Sequence[float], threshold: float = 0.5
) -> dict[str, Any]:
    """Whole-image metrics at ``threshold`` (fake when probability >= threshold).

    Returns:
        accuracy, roc_auc, false_positive_rate (reals called fake), false_negative_rate, confusion
        matrix (rows true real/fake, columns predicted real/fake), ece, brier, counts.
    """
    y = np.asarray(labels, dtype=int)
    p = np.asarray(fake_probabilities, dtype=np.float64)
    if len(y) == 0:
        raise TrainingError("no images to evaluate")
    predicted = (p >= threshold).astype(int)
    tn = int(((y == 0) & (predicted == 0)).sum())
    fp = int(((y == 0) & (predicted == 1)).sum())
    fn = int(((y == 1) & (predicted == 0)).sum())
    tp = int(((y == 1) & (predicted == 1)).sum())
    both = 0 < y.sum() < len(y)
    return {
        "n_images": int(len(y)),
        "n_real": int((y == 0).sum()),
        "n_fake": int((y == 1).sum()),
        "threshold": threshold,
        "accuracy": float((predicted == y).mean()),
        "roc_auc": roc_auc(y, p) if both else None,
        "false_positive_rate": fp / (tn + fp) if tn + fp else None,
        "false_negative_rate": fn / (fn + tp) if fn + tp else None,
        "confusion_matrix": {"labels": ["real", "fake"], "matrix": [[tn, fp], [fn, tp]]},
        "ece": expected_calibration_error(y, p),
        "brier": float(np.mean((p - y) ** 2)),
    }


def condition_rates(
    conditions: Sequence[str],
    labels: Sequence[int],
    fake_probabilities: Sequence[float],
    threshold: float = 0.5,
) -> dict[str, dict[str, float | int]]:
    """Share of images called fake, per condition.

    Returns:
        condition -> {"n", "label", "called_fake_rate"} plus ``false_positive_rate`` for real
        conditions and ``true_positive_rate`` for fake ones.
    """
    c = np.asarray(conditions)
    y = np.asarray(labels, dtype=int)
    p = np.asarray(fake_probabilities, dtype=np.float64)
    rates: dict[str, dict[str, float | int]] = {}
    for name in dict.fromkeys(conditions):
        inside = c == name
        called = float((p[inside] >= threshold).mean())
        label = int(y[inside][0])
        key = "true_positive_rate" if label == 1 else "false_positive_rate"
        rates[name] = {
            "n": int(inside.sum()),
            "label": label,
            "called_fake_rate": called,
            key: called,
            "mean_fake_probability": float(p[inside].mean()),
        }
    return rates


def check_targets(metrics: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Compare held-out metrics with :data:`TARGETS`.

    Returns:
        target name -> {"value", "limit", "passed"}.
    """
    per = metrics["conditions"]
    checks = {
        "accuracy": (metrics["accuracy"], TARGETS["accuracy_min"], True),
        "roc_auc": (metrics["roc_auc"], TARGETS["roc_auc_min"], True),
        "fpr_clean": (per["clean"]["false_positive_rate"], TARGETS["fpr_clean_max"], False),
    }
    for name in REAL_CONDITIONS[1:]:
        checks[f"fpr_{name}"] = (
            per[name]["false_positive_rate"],
            TARGETS["fpr_nuisance_max"],
            False,
        )
    return {
        name: {
            "value": value,
            "limit": limit,
            "passed": bool(value >= limit if at_least else value <= limit),
        }
        for name, (value, limit, at_least) in checks.items()
    }


def condition_seed(key: str, condition: str, seed: int = 0) -> int:
    """The deterministic seed of one held-out image (stable across Python runs)."""
    return zlib.crc32(f"{seed}:{key}:{condition}".encode())


def heldout_images(photos: Sequence[CollectedPhoto | Path], seed: int = 0) -> list[EvalImage]:
    """The demo held-out set: every real and fake condition of every held-out photo.

    Args:
        photos: collected photos, or paths of normalised photo files (the committed ones).
        seed: changes every simulated fake (the default 0 is the published set).

    Returns:
        ``len(photos) * (len(REAL_CONDITIONS) + len(FAKE_CONDITIONS))`` images.
    """
    images: list[EvalImage] = []
    for photo in photos:
        path = photo.path if isinstance(photo, CollectedPhoto) else Path(photo)
        key = photo.key if isinstance(photo, CollectedPhoto) else path.stem
        original = open_rgb(path)
        original_bytes = path.read_bytes()
        for label, conditions in ((0, REAL_CONDITIONS), (1, FAKE_CONDITIONS)):
            for condition in conditions:
                seed_here = condition_seed(key, condition, seed)
                data = condition_upload(original, original_bytes, condition, seed_here)
                images.append(
                    EvalImage(
                        image=decode(data), label=label, condition=condition, name=key, data=data
                    )
                )
    return images


def folder_images(data_dir: Path) -> list[EvalImage]:
    """The images of a ``real/`` + ``fake/`` folder as evaluation images.

    Raises:
        TrainingError: the folder does not have the expected layout or holds unreadable files.
    """
    return [
        EvalImage(
            image=open_rgb(item.path),
            label=item.label,
            condition="real" if item.label == 0 else "fake",
            name=str(item.path.relative_to(data_dir)),
            data=item.path.read_bytes(),
        )
        for item in list_image_folder(data_dir)
    ]


def predictor_scores(
    model_source: str | Path, settings: Settings | None = None
) -> Callable[[Sequence[bytes | Image.Image]], np.ndarray]:
    """A scoring function backed by the serving Predictor (fp32 unless settings say otherwise).

    Raises:
        ModelLoadError: the model cannot be loaded.
    """
    from fakescope.predictor import Predictor  # imported late: loads torch

    settings = settings or Settings.from_env().replace(precision="fp32")
    predictor = Predictor.from_source(str(model_source), settings)

    def score(images: Sequence[bytes | Image.Image]) -> np.ndarray:
        predictions = predictor.predict(list(images), with_features=False)
        return np.asarray([p.fake_probability for p in predictions], dtype=np.float64)

    return score


def evaluate_images(
    images: Sequence[EvalImage],
    score: Callable[[Sequence[bytes | Image.Image]], np.ndarray],
    *,
    threshold: float = 0.5,
    batch_size: int = 16,
) -> dict[str, Any]:
    """Metrics of a scoring function on evaluation images, overall and per condition."""
    probabilities = np.concatenate(
        [
            score([item.upload for item in images[start : start + batch_size]])
            for start in range(0, len(images), batch_size)
        ]
    )
    labels = [item.label for item in images]
    conditions = [item.condition for item in images]
    metrics = classification_metrics(labels, probabilities, threshold)
    metrics["conditions"] = condition_rates(conditions, labels, probabilities, threshold)
    return metrics


def evaluate_model(
    model_source: str | Path,
    data_dir: Path,
    *,
    settings: Settings | None = None,
    threshold: float | None = None,
) -> dict[str, Any]:
    """Metrics of a model on a ``real/`` + ``fake/`` folder, scored by the serving Predictor.

    Args:
        model_source: a model folder or ``hf://owner/name@revision``.
        data_dir: folder with ``real/`` and ``fake/`` sub-folders of images.
        settings: Predictor settings (default: from the environment, precision fp32).
        threshold: fake probability at or above which an image is called fake (default: the
            settings' threshold).

    Returns:
        accuracy, roc_auc, false_positive_rate, false_negative_rate, confusion_matrix, ece, brier,
        counts, and ``conditions`` (per class folder).

    Raises:
        TrainingError: the data folder does not have the expected layout.
        ModelLoadError: the model cannot be loaded.
    """
    images = folder_images(Path(data_dir))
    settings = settings or Settings.from_env().replace(precision="fp32")
    metrics = evaluate_images(
        images,
        predictor_scores(model_source, settings),
        threshold=settings.threshold if threshold is None else threshold,
    )
    metrics["model_source"] = str(model_source)
    metrics["data_dir"] = str(data_dir)
    return metrics


def fit_temperature(logits: np.ndarray, labels: Sequence[int]) -> float:
    """Temperature T minimising the negative log-likelihood of softmax(logits / T).

    Args:
        logits: (n, 2) whole-image logits (already averaged over crops).
        labels: class index per image.

    Returns:
        T in [0.05, 20]; 1.0 when there are too few images or only one class.
    """
    z = np.asarray(logits, dtype=np.float64)
    y = np.asarray(labels, dtype=int)
    if len(y) < 4 or len(set(y.tolist())) < 2:
        return 1.0

    def nll(log_t: float) -> float:
        return float(-log_softmax(z / np.exp(log_t), axis=1)[np.arange(len(y)), y].mean())

    result = minimize_scalar(nll, bounds=(np.log(0.05), np.log(20.0)), method="bounded")
    return float(np.exp(result.x))
