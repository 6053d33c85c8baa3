"""Prediction results and the rule that turns a fake probability into a verdict."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace

VERDICTS = ("fake", "real", "uncertain")


def fake_probabilities(
    logits, temperature: float, fake_ids: Sequence[int], multi_label: bool = False, *, scores=False
):
    """Fake probability (n,) of logits (n, labels), numpy: the rule of ``Predictor.postprocess``.

    Logits are divided by the calibration temperature, then softmaxed and the fake labels'
    probabilities summed (sigmoid and the largest fake label for multi-label models). With
    ``scores=True`` returns (every label's probability (n, labels), fake probability (n,)).
    """
    import numpy as np

    scaled = np.asarray(logits, dtype=np.float64) / temperature
    if multi_label:
        label_scores = 1.0 / (1.0 + np.exp(-scaled))
        fake = label_scores[:, list(fake_ids)].max(axis=1)
    else:
        shifted = np.exp(scaled - scaled.max(axis=1, keepdims=True))
        label_scores = shifted / shifted.sum(axis=1, keepdims=True)
        fake = label_scores[:, list(fake_ids)].sum(axis=1)
    fake = np.clip(fake, 0.0, 1.0)
    return (label_scores, fake) if scores else fake


def verdict_for(
    fake_probability: float, threshold: float = 0.5, uncertain_band: float = 0.2
) -> str:
    """``fake`` at or above the threshold, ``real`` below it, ``uncertain`` inside the band.

    The band is centred on the threshold: with threshold 0.5 and band 0.2, probabilities in
    [0.4, 0.6) are uncertain. A band of 0 never answers ``uncertain``.
    """
    half = uncertain_band / 2
    if uncertain_band > 0 and threshold - half <= fake_probability < threshold + half:
        return "uncertain"
    return "fake" if fake_probability >= threshold else "real"


@dataclass(frozen=True)
class Prediction:
    """The verdict on one image.

    Attributes:
        verdict: ``fake``, ``real`` or ``uncertain``.
        fake_probability: calibrated probability that the image is generated, in [0, 1].
        scores: every model label's probability, keyed by the model's own label names.
        model_name, model_version: which model answered.
        latency_ms: this image's share of decode + preprocess + forward + postprocess time.
        sha256: SHA-256 of the input bytes (of the RGB pixels for PIL inputs).
        features: image features for drift monitoring (see ``fakescope.images.FEATURE_NAMES``).
        name: the input's file name or path, when it had one.
        reason: why the verdict is ``uncertain`` whatever the score, e.g. the image is not a
            photograph (:mod:`fakescope.photo_check`); None when the score decided. The scores
            are kept as measured either way.
        embedding: the model's pooled features after a fixed projection (a few dozen numbers),
            for drift monitoring in the model's own feature space; None when not computed.
            Lists and arrays are stored as a tuple of floats.
        embedding_space: id of the projection that made ``embedding`` (at most 64 characters):
            only embeddings of one space are ever compared. None when there is no embedding.
    """

    verdict: str
    fake_probability: float
    scores: Mapping[str, float]
    model_name: str
    model_version: str
    latency_ms: float
    sha256: str
    features: Mapping[str, float | None] = field(default_factory=dict)
    name: str | None = None
    reason: str | None = None
    embedding: tuple[float, ...] | None = None
    embedding_space: str | None = None

    def __post_init__(self) -> None:
        # A tuple keeps the dataclass immutable and comparable whatever sequence was given.
        if self.embedding is not None and not isinstance(self.embedding, tuple):
            object.__setattr__(self, "embedding", tuple(float(v) for v in self.embedding))

    @property
    def confidence(self) -> float:
        """Probability of the more likely class: how sure the model is, whatever the verdict."""
        return max(self.fake_probability, 1.0 - self.fake_probability)

    def relabel(self, threshold: float, uncertain_band: float) -> Prediction:
        """The same scores judged with another threshold and band (no model run).

        A prediction with a ``reason`` stays ``uncertain``: no threshold makes the score of an
        image the model cannot judge mean something.
        """
        if self.reason:
            return self
        return replace(self, verdict=verdict_for(self.fake_probability, threshold, uncertain_band))

    def to_dict(self, *, include_embedding: bool = False) -> dict:
        """Plain JSON-ready dict (the CLI's and the dashboard's download format).

        Args:
            include_embedding: also give ``embedding`` (a list) and ``embedding_space``; left
                out by default, so downloads keep their shape and size.
        """
        data = asdict(self)
        data["scores"] = dict(self.scores)
        data["features"] = dict(self.features)
        data["confidence"] = self.confidence
        if include_embedding:
            data["embedding"] = None if self.embedding is None else list(self.embedding)
        else:
            del data["embedding"], data["embedding_space"]
        return data


@dataclass(frozen=True)
class Rejection:
    """An input that could not be judged, in place of its prediction in a batch.

    Attributes:
        reason: short code from :class:`fakescope.errors.InvalidImageError`.
        message: the full message: what was wrong and what is accepted.
        name: the input's file name or path, when it had one.
        sha256: SHA-256 of the bytes, when there were any.
    """

    reason: str
    message: str
    name: str | None = None
    sha256: str | None = None

    def to_dict(self) -> dict:
        """Plain JSON-ready dict."""
        return asdict(self)
