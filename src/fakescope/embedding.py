"""What the model itself sees, in a few dozen numbers: pooled features and their fixed projection.

Drift in hand-made image features (brightness, sharpness, ...) misses changes the model notices and
flags changes it ignores. So every prediction also carries an *embedding*: the input of the
model's classification head (the pooled features: 768 numbers for ViT-B/16, 128 for the demo
ResNet), averaged over crops like the logits, then reduced by a fixed linear projection to
:data:`EMBEDDING_DIM` numbers. Drift tests on embeddings (``fakescope.drift_stats``: MMD, a domain
classifier) compare only embeddings of the same *space*: the projection's id, a hash of its numbers,
stored with every prediction.

The projection is saved with the model version as ``embedding_projection.json``:

* ``pca``: the top principal components of the pooled features of the model's reference images
  (built by ``fakescope reference build``), so the few kept dimensions carry most of the variance.
* ``random``: a Gaussian random projection (Johnson-Lindenstrauss: distances kept within a small
  factor), used for a model that has no saved projection (a hub model); it is made from a fixed
  seed, and its id changes if numpy ever draws other numbers, so embeddings of two projections are
  never mixed.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from fakescope.errors import FakeScopeError

PROJECTION_FILE = "embedding_projection.json"
EMBEDDING_DIM = 32
RANDOM_SEED = 0
METHODS = ("pca", "random")


class EmbeddingError(FakeScopeError):
    """A projection file is malformed or does not fit the model."""


@dataclass(frozen=True, eq=False)
class Projection:
    """``embedding = (pooled - mean) @ components.T``: a fixed linear map to a few dimensions.

    Attributes:
        method: ``pca`` or ``random``.
        mean: (d_in,) subtracted first (zeros for ``random``).
        components: (d_out, d_in).
        note: how it was made (shown on the Monitor page).
    """

    method: str
    mean: np.ndarray
    components: np.ndarray
    note: str = ""

    @property
    def input_dim(self) -> int:
        return int(self.components.shape[1])

    @property
    def output_dim(self) -> int:
        return int(self.components.shape[0])

    @property
    def space(self) -> str:
        """Id of this projection: method, size and a hash of its float32 numbers."""
        digest = hashlib.sha256()
        digest.update(np.ascontiguousarray(self.mean, dtype="<f4").tobytes())
        digest.update(np.ascontiguousarray(self.components, dtype="<f4").tobytes())
        return f"{self.method}{self.output_dim}-{digest.hexdigest()[:12]}"

    def project(self, pooled: np.ndarray) -> np.ndarray:
        """(n, d_in) pooled features -> (n, d_out) float32 embeddings."""
        pooled = np.asarray(pooled, dtype=np.float32)
        if pooled.ndim != 2 or pooled.shape[1] != self.input_dim:
            raise EmbeddingError(
                f"pooled features of shape {pooled.shape} do not fit a projection from "
                f"{self.input_dim} dimensions"
            )
        return ((pooled - self.mean) @ self.components.T).astype(np.float32)

    def to_dict(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "space": self.space,
            "note": self.note,
            "mean": [float(v) for v in self.mean],
            "components": [[float(v) for v in row] for row in self.components],
        }

    def save(self, folder: str | Path) -> Path:
        """Write ``embedding_projection.json`` into ``folder``."""
        path = Path(folder) / PROJECTION_FILE
        path.write_text(json.dumps(self.to_dict(), allow_nan=False), encoding="utf-8")
        return path

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], where: str = PROJECTION_FILE) -> Projection:
        """Read the saved form; the stored ``space`` must match the numbers.

        Raises:
            EmbeddingError: a field is missing, misshapen or not finite, or the id does not match.
        """
        try:
            method = str(data["method"])
            mean = np.asarray(data["mean"], dtype=np.float32)
            components = np.asarray(data["components"], dtype=np.float32)
        except (KeyError, TypeError, ValueError) as exc:
            raise EmbeddingError(
                f"{where} must hold 'method' ({' or '.join(METHODS)}), 'mean' (d_in numbers) "
                f"and 'components' (d_out lists of d_in numbers): {exc}"
            ) from None
        if method not in METHODS:
            raise EmbeddingError(f"{where}: method must be one of {METHODS}, got {method!r}")
        if (
            components.ndim != 2
            or mean.shape != (components.shape[1],)
            or components.shape[0] < 1
            or not (np.isfinite(mean).all() and np.isfinite(components).all())
        ):
            raise EmbeddingError(
                f"{where}: 'components' must be d_out x d_in finite numbers and 'mean' d_in "
                f"numbers (got {components.shape} and {mean.shape})"
            )
        projection = cls(method, mean, components, str(data.get("note", "")))
        stored = data.get("space")
        if stored is not None and stored != projection.space:
            raise EmbeddingError(
                f"{where}: its numbers do not match its id {stored!r} (damaged or edited file)"
            )
        return projection


def random_projection(input_dim: int, output_dim: int = EMBEDDING_DIM) -> Projection:
    """A Gaussian random projection made from :data:`RANDOM_SEED` (scaled by 1/sqrt(d_out))."""
    output_dim = min(output_dim, input_dim)
    rng = np.random.default_rng(RANDOM_SEED)
    components = rng.standard_normal((output_dim, input_dim)) / np.sqrt(output_dim)
    return Projection(
        "random",
        np.zeros(input_dim, dtype=np.float32),
        components.astype(np.float32),
        note=f"Gaussian random projection, seed {RANDOM_SEED} (no projection saved with the model)",
    )


def pca_projection(
    pooled: np.ndarray, output_dim: int = EMBEDDING_DIM, note: str = ""
) -> Projection:
    """The top ``output_dim`` principal components of ``pooled`` (n, d_in) rows.

    Components are sign-fixed (largest coefficient positive) so the same data gives the same file.

    Raises:
        EmbeddingError: fewer than 2 rows, or non-finite values.
    """
    pooled = np.asarray(pooled, dtype=np.float64)
    if pooled.ndim != 2 or pooled.shape[0] < 2 or not np.isfinite(pooled).all():
        raise EmbeddingError(
            f"a PCA projection needs at least 2 rows of finite pooled features, got {pooled.shape}"
        )
    output_dim = min(output_dim, pooled.shape[1], pooled.shape[0] - 1)
    mean = pooled.mean(axis=0)
    # Rows of vt are the principal directions, strongest first.
    _, _, vt = np.linalg.svd(pooled - mean, full_matrices=False)
    components = vt[:output_dim]
    signs = np.sign(components[np.arange(output_dim), np.abs(components).argmax(axis=1)])
    components = components * np.where(signs == 0, 1.0, signs)[:, None]
    return Projection("pca", mean.astype(np.float32), components.astype(np.float32), note)


def load_projection(folder: str | Path | None, input_dim: int) -> Projection:
    """The model folder's saved projection, or the seeded random one when it has none.

    Raises:
        EmbeddingError: the saved file is unreadable, malformed, or made for another model size.
    """
    path = Path(folder) / PROJECTION_FILE if folder is not None else None
    if path is None or not path.is_file():
        return random_projection(input_dim)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise EmbeddingError(f"cannot read {PROJECTION_FILE}: {exc}") from None
    if not isinstance(data, Mapping):
        raise EmbeddingError(f"{PROJECTION_FILE} must be a JSON object")
    projection = Projection.from_dict(data)
    if projection.input_dim != input_dim:
        raise EmbeddingError(
            f"{PROJECTION_FILE} projects {projection.input_dim} features but the model's head "
            f"takes {input_dim}"
        )
    return projection


def head_layer(module: Any) -> Any:
    """The model's final classification layer: the last linear layer with one output per label.

    Its input is the pooled representation for every transformers image classifier (ViT's
    ``classifier`` takes the [CLS] token, ResNet's takes the pooled feature map, flattened).
    Layers converted by :mod:`fakescope.acceleration` count (anything with ``in_features`` and
    ``out_features``); the float32 ``original`` a converted layer keeps until its check is not run,
    so it is skipped.

    Raises:
        EmbeddingError: the module has no such layer.
    """
    labels = getattr(getattr(module, "config", None), "num_labels", None)
    found = None
    for name, layer in module.named_modules():
        if name.rsplit(".", 1)[-1] == "original":
            continue
        out_features = getattr(layer, "out_features", None)
        if isinstance(getattr(layer, "in_features", None), int) and isinstance(out_features, int):
            if labels is None or out_features == labels:
                found = layer
    if found is None:
        raise EmbeddingError(f"{type(module).__name__} has no linear classification head")
    return found


def head_input_dim(module: Any) -> int:
    """Width of the pooled features (the head layer's input)."""
    return int(head_layer(module).in_features)


class PooledCapture:
    """Keeps the head layer's input during a forward pass (a forward pre-hook).

    Usage::

        with PooledCapture(module) as capture:
            logits = module(pixel_values=x).logits
        pooled = capture.pooled   # (n, d_in) tensor
    """

    def __init__(self, module: Any) -> None:
        self._layer = head_layer(module)
        self._handle: Any = None
        self.pooled: Any = None

    def _hook(self, _layer: Any, inputs: tuple[Any, ...]) -> None:
        self.pooled = inputs[0].flatten(1)

    def __enter__(self) -> PooledCapture:
        self._handle = self._layer.register_forward_pre_hook(self._hook)
        return self

    def __exit__(self, *exc: object) -> None:
        self._handle.remove()


def logits_and_pooled(module: Any) -> Any:
    """The classifier as an exportable module: a plain tensor in, (logits, pooled features) out.

    Both graph runtimes export this (OpenVINO, ONNX Runtime): the hook is part of the traced
    computation, so the graph keeps the head's input as a second output (the embeddings).
    """
    import torch

    class LogitsAndPooled(torch.nn.Module):
        def __init__(self, inner: torch.nn.Module) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, pixel_values: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            with PooledCapture(self.inner) as capture:
                logits = self.inner(pixel_values=pixel_values).logits
            return logits, capture.pooled

    return LogitsAndPooled(module).eval()
