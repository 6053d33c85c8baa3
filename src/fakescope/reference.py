"""Drift references: what "normal" looks like, measured the way the server sees images.

A model version's reference (``reference_profile.json``) used to come from the validation tensors
of training: small crops, one size, one quality. Served images are decoded files at their own
sizes and JPEG qualities, so unshifted traffic already looked drifted against it. Here a
reference is built from encoded images sent through the serving :class:`Predictor` itself
(decode, draft decoding, features, the forward pass), and it carries the embedding projection it
was made with:

1. run every image with the identity projection, keeping the raw pooled features;
2. fit a PCA projection (:data:`fakescope.embedding.EMBEDDING_DIM` components) on the first
   third of them (:data:`PROJECTION_SHARE`);
3. project the pooled features of the other two thirds: those are the reference embeddings.

Why the split: principal components fitted on a sample carry that sample's noise in their
strongest directions, so the sample itself spreads more along them than any new sample does. A
reference projected by its own PCA therefore differs from fresh traffic of the same
distribution, and the embedding tests alarm on it (measured: 17 % of unshifted windows instead of
about 5 %). Features and fake probabilities do not depend on the projection: they keep every
image.

:func:`build_reference` does this for any stream of ``(name, bytes)`` images (the traffic
simulator's pool, a folder of real uploads); :func:`reference_from_window` turns a window of the
prediction log into a named reference (``PredictionStore.save_reference``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

import numpy as np
import pandas as pd

from fakescope.drift import ReferenceProfile
from fakescope.embedding import EMBEDDING_DIM, Projection, pca_projection
from fakescope.errors import DriftError
from fakescope.verdicts import Prediction

# Fewer images than this make a reference whose tests have too little power to mean anything.
MIN_REFERENCE_IMAGES = 100
# Share of the images whose pooled features fit the PCA projection (never used as reference
# embeddings: see the module docstring).
PROJECTION_SHARE = 1 / 3


@dataclass
class BuiltReference:
    """A reference profile and the projection its embeddings are in."""

    profile: ReferenceProfile
    projection: Projection
    rejected: int


def _identity(dim: int) -> Projection:
    """The projection that keeps every pooled feature (used only while building)."""
    return Projection(
        "random", np.zeros(dim, np.float32), np.eye(dim, dtype=np.float32), "identity"
    )


def build_reference(
    predictor: Any,
    images: Iterable[tuple[str, bytes]],
    *,
    description: str,
    built_from: Mapping[str, Any] | None = None,
    output_dim: int = EMBEDDING_DIM,
    batch_size: int = 16,
) -> BuiltReference:
    """Score ``images`` with the serving predictor and make the version's reference from them.

    On return the predictor uses the new projection, so its next predictions are comparable with
    the reference.

    Args:
        predictor: a :class:`fakescope.predictor.Predictor`.
        images: ``(name, encoded bytes)`` pairs, as uploads arrive.
        description: what the images are (shown beside every drift figure).
        built_from: anything worth keeping about how (pool, counts, seed).
        output_dim: embedding dimensions kept.

    Raises:
        DriftError: fewer than :data:`MIN_REFERENCE_IMAGES` images could be scored, or the model
            has no classification head to take embeddings from.
    """
    if predictor.projection is None:
        raise DriftError(f"{predictor.info.name} gives no embeddings (no linear head)")
    serving = predictor.projection
    predictor.projection = _identity(serving.input_dim)
    rows: list[Prediction] = []
    rejected = 0
    try:
        batch: list[tuple[str, bytes]] = []
        for item in [*images, None]:
            if item is not None:
                batch.append(item)
            if batch and (item is None or len(batch) == batch_size):
                outcomes = predictor.predict(
                    [data for _, data in batch], errors="return", names=[n for n, _ in batch]
                )
                for outcome in outcomes:
                    if isinstance(outcome, Prediction) and outcome.embedding is not None:
                        rows.append(outcome)
                    else:
                        rejected += 1
                batch = []
    except BaseException:
        predictor.projection = serving
        raise
    if len(rows) < MIN_REFERENCE_IMAGES:
        predictor.projection = serving
        raise DriftError(
            f"a reference needs at least {MIN_REFERENCE_IMAGES} scored images, got {len(rows)} "
            f"({rejected} refused)"
        )
    pooled = np.asarray([row.embedding for row in rows], dtype=np.float32)
    fitted = int(len(rows) * PROJECTION_SHARE)
    projection = pca_projection(
        pooled[:fitted],
        output_dim,
        note=f"PCA of the pooled features of {fitted} images drawn like the reference's "
        f"({description})",
    )
    predictor.projection = projection
    frame = pd.DataFrame([row.features for row in rows])
    frame["fake_probability"] = [row.fake_probability for row in rows]
    embeddings = projection.project(pooled)
    # The images that fitted the projection keep their features but give no embedding.
    frame["embedding"] = [None] * fitted + list(embeddings[fitted:])
    frame["embedding_space"] = projection.space
    info = predictor.info
    metadata = {
        "name": f"{info.version} reference",
        "description": description,
        "model_version": info.version,
        "built_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "built_from": dict(built_from or {}),
        "serving_conditions": True,
    }
    profile = ReferenceProfile.from_frame(frame, metadata=metadata)
    return BuiltReference(profile, projection, rejected)


MODEL_REFERENCE = "model"


@dataclass(frozen=True)
class ReferenceChoice:
    """One reference an engineer can compare a window with (``key`` is what the page keeps)."""

    key: str
    label: str
    named: str | None = None  # the store's name for a named reference, None for the model's

    @classmethod
    def model(cls, label: str = "") -> ReferenceChoice:
        """The model version's own reference (``reference_profile.json``)."""
        return cls(MODEL_REFERENCE, label)

    @classmethod
    def of(cls, name: str | None, label: str | None = None) -> ReferenceChoice:
        """The named reference ``name``, or the model's own when ``name`` is None."""
        if name is None:
            return cls.model()
        return cls(f"named:{name}", label or name, name)


def reference_choices(store: Any, version: str | None) -> list[ReferenceChoice]:
    """The model version's own reference first, then the named references made for it."""
    if version is None:
        return []
    choices = [ReferenceChoice.model(f"{version}'s reference (reference_profile.json)")]
    for row in store.references(model_version=version):
        described = (
            f"{row['name']}: {row['description']}" if row.get("description") else row["name"]
        )
        choices.append(ReferenceChoice.of(row["name"], described))
    return choices


def load_reference(choice: ReferenceChoice, registry: Any, store: Any, version: str):
    """The profile behind a choice.

    Raises:
        DriftError: the model version has no reference, or the profile is malformed.
        RegistryError, StoreError: the registry or the log cannot be read.
    """
    if choice.named is not None:
        profile = ReferenceProfile.from_json(store.reference(choice.named))
        profile.metadata.setdefault("name", choice.named)
        return profile
    if version not in {v.version for v in registry.versions()}:
        raise DriftError(
            f"model version {version} is not in the registry, so it has no reference profile"
        )
    data = registry.read_json(version, "reference_profile.json")
    if data is None:
        raise DriftError(
            f"version {version} has no reference_profile.json: build one with "
            f"`fakescope reference build --version {version}`"
        )
    profile = ReferenceProfile.from_json(data)
    profile.metadata.setdefault("name", f"{version} reference")
    if "description" not in profile.metadata:
        profile.metadata["description"] = (
            f"{profile.n_images:,} validation images from training (not served files)"
        )
    return profile


def reference_from_window(
    predictions: pd.DataFrame, *, name: str, description: str, model_version: str
) -> ReferenceProfile:
    """A named reference from a window of the log (``predictions(embeddings=True)`` rows).

    Raises:
        DriftError: the window has fewer than :data:`MIN_REFERENCE_IMAGES` predictions.
    """
    if len(predictions) < MIN_REFERENCE_IMAGES:
        raise DriftError(
            f"a reference needs at least {MIN_REFERENCE_IMAGES} predictions; the chosen window "
            f"has {len(predictions)}"
        )
    times = predictions["recorded_at"]
    metadata = {
        "name": name,
        "description": description,
        "model_version": model_version,
        "window_start": times.min().isoformat(),
        "window_end": times.max().isoformat(),
        "built_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    return ReferenceProfile.from_frame(predictions, metadata=metadata)
