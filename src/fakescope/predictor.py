"""Predictor: images in, verdicts out.

Follows transformers' pipeline split: ``preprocess`` (decode + pixels -> arrays) -> ``_forward``
(the hot path: pixel arrays in, logits out, run by the chosen backend) -> ``postprocess`` (logits ->
calibrated probabilities -> verdicts). ``_forward`` can be optimised and benchmarked alone.

Everything here is numpy: torch is imported only by a backend that needs it (the torch runtime,
or exporting a graph), so a server whose graph is in the cache starts without it.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import os
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Union

import numpy as np

import fakescope.runtime_env  # noqa: F401  (before torch: sets the OpenMP wait policy)
from PIL import Image

from fakescope.acceleration import AccelerationReport, CpuInfo, PrecisionChoice
from fakescope.backends import Backend, choose_backend
from fakescope.config import Settings
from fakescope.embedding import EmbeddingError, Projection, load_projection
from fakescope.errors import InvalidArgumentError, InvalidImageError, ModelLoadError
from fakescope.images import BatchPixels, LoadedImage, compute_features, load_image
from fakescope.model import LoadedModel, ModelInfo, head_width
from fakescope.photo_check import PhotoCheck, check_photograph
from fakescope.preprocess import image_to_inputs
from fakescope.runtime_env import intra_op_threads
from fakescope.verdicts import Prediction, Rejection, fake_probabilities, verdict_for

ImageInput = Union[bytes, bytearray, memoryview, str, os.PathLike, Image.Image, LoadedImage]
# Inputs that are one image although Python can iterate them (bytes, a path string, a file).
_SINGLE_INPUTS = (bytes, bytearray, memoryview, str, os.PathLike, Image.Image, LoadedImage)
Outcome = Union[Prediction, Rejection]
# Called with (index of the input, decoded RGB image) while the Predictor still holds the pixels.
ImageCallback = Callable[[int, Image.Image], None]
# What one worker of _prepare_all gets: index, input, name, with_features, budget, callback.
_Job = tuple[int, ImageInput, Union[str, None], bool, BatchPixels, Union[ImageCallback, None]]
logger = logging.getLogger(__name__)
# JPEG draft decoding keeps at least this multiple of the model's input size (see _draft_size).
DRAFT_FACTOR = 2


@dataclass
class _Prepared:
    """One decoded image on its way through the batch: its model inputs, never its full-size
    pixels (a batch of large images would otherwise hold them all until the forward pass)."""

    index: int
    sha256: str
    name: str | None
    inputs: np.ndarray  # (n_inputs, 3, H, W)
    features: dict[str, float | None]
    prep_seconds: float
    photo: PhotoCheck | None = None  # None when settings.photo_check is off


class Predictor:
    """Scores images with one loaded model.

    Thread-safe for concurrent ``predict`` calls (the dashboard shares one instance across
    sessions): the backend runs one forward pass at a time, and everything else is per call.
    """

    def __init__(
        self, model: LoadedModel, settings: Settings | None = None, *, cpu: CpuInfo | None = None
    ) -> None:
        """Wrap a loaded model and prepare it for ``settings.precision`` and ``settings.runtime``.

        ``auto`` picks bf16 on CPUs with AVX512-BF16/AMX, else fp32 (see
        :mod:`fakescope.acceleration`), run by OpenVINO when it is installed (an exported graph,
        cached in ``settings.cache_dir``), else by torch with the model converted in place. The
        mode in effect is ``self.info.precision``; ``self.info.extra["acceleration"]`` says
        what runs it and why.

        Args:
            model: the loaded model (prepared in place).
            settings: defaults to ``Settings.from_env()``.
            cpu: the CPU to decide precision and runtime for; defaults to this machine's
                (:func:`fakescope.acceleration.read_cpu_info`). Tests pass a described CPU.

        Raises:
            ConfigError: the model was already prepared for another precision.
        """
        self.model = model
        self._cpu = cpu
        self.settings = settings or Settings.from_env()
        self._fake_ids = [i for i, role in model.info.label_roles.items() if role == "fake"]
        self._label_names = [model.info.labels[i] for i in sorted(model.info.labels)]
        self._multi_label = model.problem_type == "multi_label_classification"
        # One forward pass at a time: each already uses every intra-op thread, and two at once
        # (two dashboard sessions) oversubscribe the cores, which makes both several times
        # slower than running them in turn. Decoding and preprocessing still overlap.
        self._forward_lock = threading.Lock()
        # Inputs of a batch are prepared by this many threads (see _prepare_all); the pool is
        # made on first use.
        self._prep_workers = intra_op_threads(self.settings)
        self._prep_pool: ThreadPoolExecutor | None = None
        self._pool_lock = threading.Lock()
        self.projection = self._load_projection()
        self.backend: Backend
        self.precision_choice, self.acceleration = self._prepare_backend()

    def _load_projection(self) -> Projection | None:
        """The embedding projection saved with the model, or the seeded random one.

        None (predictions carry no embedding) only for a model without a linear head.
        """
        try:
            return load_projection(self.model.folder, head_width(self.model))
        except EmbeddingError as exc:
            logger.warning("no embeddings for %s: %s", self.model.info.name, exc)
            return None

    def _prepare_backend(self) -> tuple[PrecisionChoice, AccelerationReport]:
        """Pick and prepare the runtime once (:func:`fakescope.backends.choose_backend`)."""
        selection = choose_backend(self.model, self.settings, self._cpu)
        self.backend = selection.backend
        if selection.details is not None:
            self.model.info = dataclasses.replace(
                self.model.info,
                precision=selection.backend.report.mode,
                extra={**self.model.info.extra, "acceleration": selection.details},
            )
        return selection.choice, selection.backend.report

    @property
    def info(self) -> ModelInfo:
        """Metadata of the loaded model."""
        return self.model.info

    @classmethod
    def from_source(
        cls, source: str | Path | None = None, settings: Settings | None = None
    ) -> Predictor:
        """Load a model and wrap it.

        Args:
            source: folder or ``hf://owner/name@revision``; None means ``settings.model_source``,
                else the registry's active version (with ``settings.fallback_model_source`` as
                the fallback when that fails).
            settings: defaults to ``Settings.from_env()``.

        Raises:
            ModelLoadError: the model cannot be loaded.
            RegistryError: no source given and the registry has no active version.
        """
        from fakescope.registry import load_configured_model

        settings = settings or Settings.from_env()
        # The torch module is built only if the chosen runtime needs it: a graph found in the
        # cache runs without it (and without importing transformers' model code).
        model = load_configured_model(settings, source, lazy=True)
        try:
            return cls(model, settings)
        except ModelLoadError:
            if model.module_loaded:
                raise
            # The weights could not be built into a module: load as without a cache, so that
            # the failure is reported where it happens and the fallback model gets its chance.
            return cls(load_configured_model(settings, source), settings)

    # -- public API -------------------------------------------------------------------------

    def predict(
        self,
        inputs: ImageInput | Iterable[ImageInput],
        *,
        errors: Literal["raise", "return"] = "raise",
        with_features: bool = True,
        names: Sequence[str | None] | None = None,
        on_image: ImageCallback | None = None,
    ) -> list[Any]:
        """Score images in batches of ``settings.batch_size``.

        Args:
            inputs: one input or an iterable of bytes, paths, binary file-like objects, PIL
                images or LoadedImages. Anything else (a number, None, an array) is a bad
                input with reason ``unsupported_type``, like a file that is not an image.
            errors: ``raise`` raises InvalidImageError on the first bad input; ``return`` puts a
                :class:`Rejection` in that input's place and scores the rest.
            with_features: compute drift features for each image (a few ms each).
            names: display names for the inputs (paths are named by themselves).
            on_image: called once per decoded input with (its index in ``inputs``, the RGB,
                EXIF-oriented image), so that a caller that shows the image (the Detect page's
                thumbnail and spectrum) does not decode it again. The image is full resolution
                in ``crops`` mode, maybe draft-reduced in ``resize`` mode; it must not be
                modified or kept (make what is needed from it and return). Called from the
                thread that decoded the image, while its pixels still count against the pixel
                budgets, and not for rejected inputs; not counted in ``latency_ms``. What it
                raises propagates out of ``predict``.

        Returns:
            One :class:`Prediction` (or :class:`Rejection`) per input, in input order.

        Raises:
            InvalidImageError: a bad input, with ``errors="raise"``.
            InvalidArgumentError: ``errors`` or ``names`` is not usable.

        Decoded pixels are bounded per batch (``settings.max_batch_pixels``; later images of
        the batch wait) and per process (``settings.max_inflight_pixels``; an image that finds
        no room within ``settings.pixel_wait_seconds`` is refused with reason ``busy``).
        """
        if errors not in ("raise", "return"):
            raise InvalidArgumentError(f"errors must be 'raise' or 'return', got {errors!r}")
        items = _as_list(inputs)
        if names is not None and len(names) != len(items):
            raise InvalidArgumentError(
                f"names must have one entry per input: {len(names)} names for {len(items)} inputs"
            )
        outcomes: list[Any] = [None] * len(items)
        size = self.settings.batch_size
        for start in range(0, len(items), size):
            indexes = range(start, min(start + size, len(items)))
            budget = BatchPixels(self.settings)
            jobs = [
                (
                    i,
                    items[i],
                    names[i] if names is not None else _name_of(items[i]),
                    with_features,
                    budget,
                    on_image,
                )
                for i in indexes
            ]
            batch: list[_Prepared] = []
            for (index, item, name, *_), prepared in zip(jobs, self._prepare_all(jobs)):
                if isinstance(prepared, _Prepared):
                    batch.append(prepared)
                    continue
                if errors == "raise":
                    raise prepared
                outcomes[index] = Rejection(
                    reason=prepared.reason, message=str(prepared), name=name, sha256=_sha_of(item)
                )
            if batch:
                self._score(batch, outcomes)
        return outcomes

    def warm_up(self, batch_sizes: Sequence[int] = (1,)) -> float:
        """Run the model once per batch size so the first real request is not slow.

        The first call of each input shape sets up oneDNN's or OpenVINO's kernels (tens of ms),
        so this stays well under a second for ViT-B/16 in bf16. The dashboard calls it once, at
        start.

        Args:
            batch_sizes: images per batch to prepare for (crops mode multiplies by the crops).

        Returns:
            Seconds spent.
        """
        start = time.perf_counter()
        height, width = self.model.spec.input_size
        per_image = self.model.spec.num_crops if self.model.spec.input_mode == "crops" else 1
        for batch_size in dict.fromkeys(batch_sizes):
            self._forward(np.zeros((batch_size * per_image, 3, height, width), np.float32))
        return time.perf_counter() - start

    # -- the three stages -------------------------------------------------------------------

    def preprocess(self, image: Image.Image) -> np.ndarray:
        """RGB image -> model inputs, shape (n, 3, H, W) (n = 1 or the number of crops)."""
        return image_to_inputs(image, self.model.spec)

    def _forward(self, pixel_values: np.ndarray) -> np.ndarray:
        """(n, 3, H, W) float32 pixels in, (n, labels) float32 logits out: the hot path."""
        return self._forward_with_pooled(pixel_values)[0]

    def _forward_with_pooled(
        self, pixel_values: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray | None]:
        """(float32 logits, pooled features or None): the head's input comes for free."""
        with self._forward_lock:
            return self.backend.forward(pixel_values, pooled=self.projection is not None)

    def postprocess(self, logits: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Per-image logits (already aggregated over crops) -> (label scores, fake probability).

        Logits are divided by the model's calibration temperature, then softmaxed (sigmoid for
        multi-label models): :func:`fakescope.verdicts.fake_probabilities`.
        """
        return fake_probabilities(
            logits, self.model.info.temperature, self._fake_ids, self._multi_label, scores=True
        )

    # -- internals --------------------------------------------------------------------------

    def _prepare(
        self,
        index: int,
        item: ImageInput,
        name: str | None,
        with_features: bool,
        budget: BatchPixels | None = None,
        on_image: ImageCallback | None = None,
    ) -> _Prepared:
        start = time.perf_counter()
        budget = budget if budget is not None else BatchPixels(self.settings)
        # The decoded pixels count against the budgets until only the model inputs are left.
        with budget.hold() as reserve:
            loaded = (
                item
                if isinstance(item, LoadedImage)
                else load_image(
                    item,
                    self.settings,
                    name=name,
                    draft_size=self._draft_size(),
                    reserve=reserve,
                )
            )
            inputs = self.preprocess(loaded.image)
            features = compute_features(loaded) if with_features else {}
            photo = check_photograph(loaded.image) if self.settings.photo_check else None
            seconds = time.perf_counter() - start
            if on_image is not None:
                on_image(index, loaded.image)  # still under the budget: the pixels are held
            sha256, shown_name = loaded.sha256, loaded.name
            del loaded  # the full-size pixels go before their budget is given back
        return _Prepared(index, sha256, shown_name, inputs, features, seconds, photo)

    def _prepare_all(self, jobs: list[_Job]) -> list[_Prepared | InvalidImageError]:
        """Decode, preprocess and describe a batch's inputs, on all cores.

        The forward pass waits for the whole batch, so while images are decoded the cores are
        otherwise idle: decoding, resizing, hashing and the FFT release the GIL, and a pool of
        ``threads`` workers cuts this stage's wall time about in half on 2 cores (a few ms per
        640x480 image: decoding, hashing, the features on a small copy and the photo check).
        """

        def run(job: _Job) -> _Prepared | InvalidImageError:
            try:
                return self._prepare(*job)
            except InvalidImageError as exc:
                return exc

        if len(jobs) < 2 or self._prep_workers < 2:
            return [run(job) for job in jobs]
        with self._pool_lock:
            if self._prep_pool is None:
                self._prep_pool = ThreadPoolExecutor(
                    max_workers=self._prep_workers, thread_name_prefix="fakescope-prepare"
                )
        return list(self._prep_pool.map(run, jobs))

    def _draft_size(self) -> tuple[int, int] | None:
        """(width, height) a JPEG may be draft-decoded down to; None for full decoding.

        Reduced (1/2, 1/4, 1/8 scale) JPEG decoding is allowed only where the model resizes
        anyway (``resize`` mode), never where a crop-based detector needs native pixels. The
        decoder keeps at least ``DRAFT_FACTOR`` x the model's input size, so the bilinear resize
        that follows still averages several decoded pixels per input pixel (fidelity measured in
        ``tests/integration/test_fidelity.py``).
        """
        spec = self.model.spec
        if spec.input_mode != "resize" or not spec.do_resize:
            return None
        return (spec.width * DRAFT_FACTOR, spec.height * DRAFT_FACTOR)

    def _score(self, batch: list[_Prepared], outcomes: list[Any]) -> None:
        counts = [p.inputs.shape[0] for p in batch]
        pixel_values = np.concatenate([p.inputs for p in batch])
        start = time.perf_counter()
        logits, pooled = self._forward_with_pooled(pixel_values)
        # Crops of one image are averaged in logit space, then calibrated once.
        per_image = _mean_per_image(logits, counts)
        scores, fake_probs = self.postprocess(per_image)
        embeddings, space = self._embeddings(pooled, counts)
        shared_seconds = time.perf_counter() - start
        total_inputs = sum(counts)
        info = self.model.info
        settings = self.settings
        for prepared, count, row, fake, embedding in zip(
            batch, counts, scores, fake_probs, embeddings
        ):
            latency = prepared.prep_seconds + shared_seconds * count / total_inputs
            verdict = verdict_for(float(fake), settings.threshold, settings.uncertain_band)
            reason = None
            if prepared.photo is not None and not prepared.photo.is_photograph:
                # The model's score on a chart or a screenshot means nothing: it is kept as
                # measured, and the verdict says the image cannot be judged.
                verdict, reason = "uncertain", prepared.photo.reason
            outcomes[prepared.index] = Prediction(
                verdict=verdict,
                fake_probability=float(fake),
                scores={self._label_names[i]: float(row[i]) for i in range(len(row))},
                model_name=info.name,
                model_version=info.version,
                latency_ms=latency * 1000.0,
                sha256=prepared.sha256,
                features=prepared.features,
                name=prepared.name,
                reason=reason,
                embedding=embedding,
                embedding_space=space if embedding is not None else None,
            )

    def _embeddings(
        self, pooled: np.ndarray | None, counts: list[int]
    ) -> tuple[list[tuple[float, ...] | None], str | None]:
        """Per-image embeddings (crops averaged, then projected) and their space id."""
        if pooled is None or self.projection is None:
            return [None] * len(counts), None
        projected = self.projection.project(_mean_per_image(pooled, counts))
        rows = [
            tuple(float(v) for v in row) if np.isfinite(row).all() else None for row in projected
        ]
        return rows, self.projection.space


def _mean_per_image(rows: np.ndarray, counts: list[int]) -> np.ndarray:
    """Rows (one per model input) averaged per image (``counts`` inputs each, in order)."""
    starts = np.cumsum([0, *counts[:-1]])
    return np.add.reduceat(rows, starts, axis=0) / np.asarray(counts, dtype=rows.dtype)[:, None]


def _as_list(inputs: ImageInput | Iterable[ImageInput]) -> list[ImageInput]:
    """The inputs as a list; one image (or one thing that is not an iterable of images, such
    as 5 or None, refused later with a clear reason) makes a list of one."""
    if isinstance(inputs, _SINGLE_INPUTS) or hasattr(inputs, "read"):
        return [inputs]  # a file object iterates over lines, which are not images
    if isinstance(inputs, np.ndarray) or not isinstance(inputs, Iterable):
        return [inputs]  # type: ignore[list-item]
    return list(inputs)


def _name_of(item: ImageInput) -> str | None:
    if isinstance(item, (str, os.PathLike)):
        return str(item)
    if isinstance(item, LoadedImage):
        return item.name
    return None


def _sha_of(item: ImageInput) -> str | None:
    if isinstance(item, (bytes, bytearray, memoryview)):
        return hashlib.sha256(item).hexdigest()
    return None
