"""Training: the demo model from simulated data, or any Hugging Face image classifier on a folder.

One loop serves both:

* ``demo=True``: curated real photos (split by scene) and simulated generator output made from them
  (:mod:`fakescope.training.simulate`); a small ResNet is trained from scratch on native-resolution
  crops, its first layer started as a bank of high-pass filters (a common forensic start: the
  traces live in the residual, not in the content).
* a ``data_dir`` with ``real/`` and ``fake/`` images: split by file into train / validation / test;
  a new small ResNet (``base=None``) or a fine-tuned base checkpoint (a Hugging Face folder or
  ``hf://owner/name@revision``), using the base's own preprocessing.

The output folder is registry-ready: ``config.json`` (with the ``fakescope`` section: input mode,
crops, calibration temperature, limits), ``model.safetensors``, ``preprocessor_config.json``,
``metrics.json`` (measured by the serving Predictor on data the run never trained on),
``reference_profile.json`` (drift reference from the validation images) and ``README.md`` (the
model card). Runs are deterministic under ``seed`` on one machine with a fixed thread count.
"""

from __future__ import annotations

import copy
import functools
import inspect
import json
import math
import os
import platform
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from fakescope.config import Settings
from fakescope.errors import ModelLoadError, TrainingError
from fakescope.preprocess import PreprocessSpec, image_to_inputs
from fakescope.training import card, report, tracking, twins
from fakescope.training.dataset import (
    LABELS,
    CropBatch,
    LabeledImage,
    demo_epoch,
    folder_epoch,
    list_image_folder,
    normalize_batch,
    open_rgb,
)
from fakescope.training.evaluate import (
    EvalImage,
    check_targets,
    classification_metrics,
    condition_rates,
    fit_temperature,
    heldout_images,
    predictor_scores,
)
from fakescope.training.photos import (
    DEFAULT_MAX_SIDE,
    collect_photos,
    fetch_debian_packages,
    split_photos,
)

IMAGE_MEAN = (0.5, 0.5, 0.5)
IMAGE_STD = (0.5, 0.5, 0.5)
DEMO_EPOCHS = 12  # the published demo model's run
FOLDER_EPOCHS = 5
# The demo model's unseen family: the only true image generator here (no photo behind it), and its
# training data (DigiFace-1M) is licensed for non-commercial research only, so it never trains.
DEFAULT_HELD_OUT = ("dcgan",)
# Share of generated training images left untouched by the everyday handling (the rest are resized,
# blurred and JPEG-compressed, reals and fakes alike).
GENERATED_CLEAN_SHARE = 0.4


def default_cache_dir() -> Path:
    """Where fetched Debian packages, normalised photos and hub downloads are kept.

    ``$XDG_CACHE_HOME/fakescope`` (``~/.cache/fakescope``): never inside a model folder, so a
    registry stays clean. The build script uses ``build/photo-cache`` instead.
    """
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "fakescope"


@dataclass
class TrainResult:
    """What a training run produced.

    Attributes:
        output_dir: the registry-ready model folder.
        metrics: the content of ``metrics.json``.
        temperature: the calibration temperature stored in ``config.json``.
        train_seconds: wall time of the optimisation loop (data preparation included).
        total_seconds: wall time of the whole run, evaluation included.
        epochs_run: epochs completed.
        best_epoch: the epoch whose weights were kept (lowest calibrated validation loss).
        model_bytes: size of ``model.safetensors``.
        parameter_count: number of model parameters.
        history: per-epoch training loss and validation figures.
    """

    output_dir: Path
    metrics: dict[str, Any]
    temperature: float
    train_seconds: float
    total_seconds: float
    epochs_run: int
    best_epoch: int
    model_bytes: int
    parameter_count: int
    history: list[dict[str, Any]] = field(default_factory=list)


def demo_model_config(num_labels: int = 2) -> Any:
    """The demo detector's architecture: a small ResNet with basic blocks (~0.6 M parameters)."""
    from transformers import ResNetConfig

    return ResNetConfig(
        num_channels=3,
        embedding_size=32,
        hidden_sizes=[32, 64, 128, 128],
        depths=[1, 1, 1, 1],
        layer_type="basic",
        hidden_act="relu",
        downsample_in_first_stage=False,
        num_labels=num_labels,
        id2label=dict(LABELS),
        label2id={v: k for k, v in LABELS.items()},
    )


def highpass_filter_bank(kernel_size: int) -> list[np.ndarray]:
    """Residual filters for the first layer: 1st/2nd/3rd differences and a 2x2 checker.

    Each sits at two phases (offset 0 and 1 px) and two orientations, with both signs, so a
    stride-2 first layer sees both phases of a period-2 pattern.
    """
    bank: list[np.ndarray] = []
    centre = kernel_size // 2
    for taps in ([1.0, -1.0], [1.0, -2.0, 1.0], [-1.0, 3.0, -3.0, 1.0]):
        line = np.asarray(taps)
        for offset in range(2):
            start = centre - len(line) // 2 + offset
            for vertical in (False, True):
                kernel = np.zeros((kernel_size, kernel_size))
                if vertical:
                    kernel[start : start + len(line), centre] = line
                else:
                    kernel[centre, start : start + len(line)] = line
                bank.extend([kernel, -kernel])
    for offset in range(2):
        kernel = np.zeros((kernel_size, kernel_size))
        at = centre - 1 + offset
        kernel[at : at + 2, at : at + 2] = [[1.0, -1.0], [-1.0, 1.0]]
        bank.extend([kernel, -kernel])
    return [k / np.linalg.norm(k) for k in bank]


def init_highpass_stem(model: torch.nn.Module, share: float = 0.75) -> int:
    """Start the first convolution's filters (up to ``share`` of them) as high-pass residuals.

    Only the initial weights change; the architecture stays the stock transformers class.

    Returns:
        How many filters were set.
    """
    conv = next(m for m in model.modules() if isinstance(m, torch.nn.Conv2d))
    out_channels, in_channels, kernel_size, _ = conv.weight.shape
    bank = highpass_filter_bank(kernel_size)
    count = min(len(bank), int(out_channels * share))
    with torch.no_grad():
        for index in range(count):
            kernel = torch.as_tensor(bank[index], dtype=conv.weight.dtype)
            # Luma-like: the same residual on every channel, scaled so outputs keep unit size.
            conv.weight[index] = kernel[None].repeat(in_channels, 1, 1) * (2.0 / in_channels)
    return count


def _set_seed(seed: int, num_threads: int | None) -> None:
    torch.manual_seed(seed)
    np.random.seed(seed % (2**32))
    if num_threads:
        torch.set_num_threads(num_threads)
    torch.use_deterministic_algorithms(True, warn_only=True)


def _load_base(base: str, cache_dir: Path | None) -> tuple[Any, PreprocessSpec, dict[int, str]]:
    """Load a base checkpoint for fine-tuning, with two labels that map onto real/fake."""
    from transformers import AutoConfig, AutoModelForImageClassification

    from fakescope.model import download_hub_model, map_labels, parse_source, read_spec

    try:
        source = parse_source(base)
        folder = source.path if source.kind == "local" else download_hub_model(source, cache_dir)
        if folder is None or not (folder / "config.json").is_file():
            raise TrainingError(
                f"base {base} has no config.json; give a Hugging Face model folder "
                "(config.json, model.safetensors, preprocessor_config.json) or hf://owner/name@rev"
            )
        config_dict = json.loads((folder / "config.json").read_text(encoding="utf-8"))
        preprocessor_path = folder / "preprocessor_config.json"
        preprocessor = (
            json.loads(preprocessor_path.read_text(encoding="utf-8"))
            if preprocessor_path.is_file()
            else {}
        )
        spec = read_spec(config_dict, preprocessor)
        # `folder` is local: a hub base was downloaded at its pinned revision just above.
        config = AutoConfig.from_pretrained(folder)  # nosec B615
        id2label = {int(k): str(v) for k, v in (config.id2label or {}).items()}
        keep_head = False
        if len(id2label) == 2:
            try:
                map_labels(id2label)
                keep_head = True
            except ModelLoadError:
                keep_head = False
        if not keep_head:
            id2label = dict(LABELS)
        model = AutoModelForImageClassification.from_pretrained(  # nosec B615
            folder,
            num_labels=2,
            id2label=id2label,
            label2id={v: k for k, v in id2label.items()},
            ignore_mismatched_sizes=True,
            use_safetensors=True,
        )
    except (OSError, ValueError, json.JSONDecodeError, ModelLoadError) as exc:
        raise TrainingError(f"cannot load base model {base}: {exc}") from None
    return model, spec, id2label


def _fake_index(id2label: dict[int, str]) -> int:
    from fakescope.model import map_labels

    roles = map_labels(id2label)
    return next(i for i, role in roles.items() if role == "fake")


def image_logits(
    model: torch.nn.Module,
    images: Sequence[Any],
    spec: PreprocessSpec,
    batch_images: int = 16,
) -> np.ndarray:
    """Whole-image logits: the serving preprocessing, logits averaged over an image's crops.

    Args:
        images: PIL RGB images.

    Returns:
        (n, num_labels) float64 array (not divided by any temperature).
    """
    model.eval()
    out = []
    with torch.inference_mode():
        for start in range(0, len(images), batch_images):
            chunk = [image_to_inputs(img, spec) for img in images[start : start + batch_images]]
            counts = [len(c) for c in chunk]
            logits = model(pixel_values=torch.from_numpy(np.concatenate(chunk))).logits.double()
            for piece in torch.split(logits, counts):
                out.append(piece.mean(dim=0).numpy())
    model.train()
    return np.stack(out)


def _validation_figures(
    logits: np.ndarray, labels: Sequence[int], fake_index: int
) -> dict[str, float]:
    """Validation loss (raw and after temperature scaling), accuracy and AUC at this epoch."""
    from scipy.special import log_softmax, softmax

    y = np.asarray(labels, dtype=int)
    targets = np.where(y == 1, fake_index, 1 - fake_index)
    temperature = fit_temperature(logits, targets)
    rows = np.arange(len(y))
    raw = float(-log_softmax(logits, axis=1)[rows, targets].mean())
    calibrated = float(-log_softmax(logits / temperature, axis=1)[rows, targets].mean())
    fake_probability = softmax(logits / temperature, axis=1)[:, fake_index]
    figures = classification_metrics(y, fake_probability)
    return {
        "val_loss": raw,
        "val_calibrated_loss": calibrated,
        "val_temperature": temperature,
        "val_accuracy": figures["accuracy"],
        "val_roc_auc": figures["roc_auc"],
    }


def _check_args(
    data_dir: Path | None, demo: bool, epochs: int, batch_size: int, crop_size: int
) -> None:
    if demo and data_dir is not None:
        raise TrainingError("give either demo=True or a data folder, not both")
    if not demo and data_dir is None:
        raise TrainingError(
            "no training data: give a data folder with real/ and fake/ sub-folders, or demo=True"
        )
    if epochs < 1:
        raise TrainingError(f"epochs must be at least 1, got {epochs}")
    if batch_size < 2:
        raise TrainingError(f"batch_size must be at least 2, got {batch_size}")
    if crop_size < 16:
        raise TrainingError(f"crop_size must be at least 16 pixels, got {crop_size}")


def _split_three(
    items: Sequence[LabeledImage], validation_fraction: float, test_fraction: float, seed: int
) -> tuple[list[LabeledImage], list[LabeledImage], list[LabeledImage]]:
    """Per-class split of a folder into train / validation / test by a hash of the file name."""
    import hashlib

    train: list[LabeledImage] = []
    validation: list[LabeledImage] = []
    test: list[LabeledImage] = []
    for label, name in LABELS.items():
        members = sorted(
            (i for i in items if i.label == label),
            key=lambda i: hashlib.sha256(f"{seed}:{i.path.name}".encode()).hexdigest(),
        )
        if len(members) < 3:
            raise TrainingError(
                f"the {name}/ folder needs at least 3 images (training, validation and test), "
                f"got {len(members)}"
            )
        n_test = max(1, round(len(members) * test_fraction))
        n_val = max(1, round(len(members) * validation_fraction))
        n_test = min(n_test, len(members) - 2)
        n_val = min(n_val, len(members) - n_test - 1)
        test.extend(members[:n_test])
        validation.extend(members[n_test : n_test + n_val])
        train.extend(members[n_test + n_val :])
    return train, validation, test


def _as_eval(items: Iterable[LabeledImage], root: Path) -> list[EvalImage]:
    return [
        EvalImage(
            image=open_rgb(i.path),
            label=i.label,
            condition=LABELS[i.label],
            name=str(i.path.relative_to(root)),
            data=i.path.read_bytes(),
        )
        for i in items
    ]


def _tracked(train: Callable[..., TrainResult]) -> Callable[..., TrainResult]:
    """Run ``train`` inside one MLflow run (:mod:`fakescope.training.tracking`), handing it the
    run's ``tracker``. Callers pass ``tracking_dir`` and ``tracking_enabled`` instead; a run that
    raises is marked FAILED. Every argument, defaults included, is logged as a run parameter."""
    signature = inspect.signature(train)
    extra = [
        inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=None, annotation=kind)
        for name, kind in (("tracking_dir", "Path | None"), ("tracking_enabled", "bool | None"))
    ]

    @functools.wraps(train)
    def run(
        data_dir: Path | None,
        output_dir: Path,
        *,
        tracking_dir: Path | None = None,
        tracking_enabled: bool | None = None,
        **options: Any,
    ) -> TrainResult:
        bound = signature.bind_partial(data_dir, output_dir, **options)
        bound.apply_defaults()
        params = {k: v for k, v in bound.arguments.items() if k not in ("output_dir", "tracker")}
        params["data_dir"] = str(data_dir) if data_dir else None
        with tracking.start_run(
            tracking_dir,
            "fakescope-demo" if params["demo"] else "fakescope-train",
            params,
            run_name=Path(output_dir).name,
            tags={"command": params["command"]} if params["command"] else None,
            enabled=tracking_enabled,
        ) as tracker:
            return train(data_dir, output_dir, tracker=tracker, **options)

    others = [p for p in signature.parameters.values() if p.name != "tracker"]
    run.__signature__ = signature.replace(parameters=others + extra)  # type: ignore[attr-defined]
    return run


@_tracked
def train_model(
    data_dir: Path | None,
    output_dir: Path,
    *,
    base: str | None = None,
    demo: bool = False,
    epochs: int | None = None,
    seed: int = 0,
    batch_size: int = 64,
    learning_rate: float = 2e-3,
    weight_decay: float = 1e-4,
    crop_size: int = 64,
    num_crops: int = 9,
    validation_fraction: float = 0.15,
    test_fraction: float = 0.15,
    heldout_fraction: float = 0.25,
    split_seed: int = 0,
    variants: int = 3,
    crops_per_variant: int = 32,
    crops_per_image: int = 4,
    photo_cache_dir: Path | None = None,
    local_debs: Sequence[Path] = (),
    max_side: int = DEFAULT_MAX_SIDE,
    generated_dir: Path | None = None,
    held_out_families: Sequence[str] = DEFAULT_HELD_OUT,
    simulated_share: float = 0.2,
    num_threads: int | None = None,
    tracker: tracking.Tracker,
    time_budget_s: float | None = None,
    progress: bool = True,
    command: str | None = None,
) -> TrainResult:
    """Train (or fine-tune) a real/fake image classifier and write a registry-ready folder.

    Args:
        data_dir: folder with ``real/`` and ``fake/`` images; None with ``demo=True``.
        output_dir: where the model folder is written (created; existing model files replaced).
        base: a Hugging Face model folder or ``hf://owner/name@revision`` to fine-tune; None
            trains the small demo ResNet from scratch in ``crops`` mode.
        demo: build the simulated demo data set instead of reading ``data_dir``.
        epochs: passes over the training data (the demo set is regenerated every epoch); None
            means 12 with ``demo=True`` (the published demo model) and 5 for a data folder.
        seed: fixes splits, data, augmentations and initial weights.
        batch_size, learning_rate, weight_decay: AdamW with one-cycle schedule.
        crop_size, num_crops: crop geometry for ``crops`` mode (ignored for a resize-mode base).
        validation_fraction, test_fraction: folder splits (by file, per class).
        heldout_fraction: share of demo scenes kept for the final held-out figures.
        split_seed: fixes the demo photo split and the held-out conditions (0 is the published
            held-out set; ``seed`` changes the training only, not what is held out).
        variants, crops_per_variant: demo epoch size (per photo and class).
        crops_per_image: random crops per folder image, or per generated image, per epoch
            (``crops`` mode).
        photo_cache_dir: demo photo cache (Debian packages and normalised photos); default
            ``default_cache_dir() / "photo-cache"``.
        local_debs: folders that may already hold the Debian ``.deb`` files.
        max_side: longest side of the normalised demo photos.
        generated_dir: with ``demo=True``, the cache of real generator output
            (``scripts/generate_fakes.py``): the fakes are real generators' output of every family
            not in ``held_out_families``, the reals their twins, both under everyday handling;
            ``metrics.json`` gets the clean / web / hard report on the held-out photos. None
            trains on simulated traces only (the v1 recipe).
        held_out_families: generator families kept out of training and reported as unseen.
        simulated_share: with ``generated_dir``, the share of fakes replaced by simulated traces.
        num_threads: torch threads (None leaves torch's default).
        time_budget_s: stop after the epoch that passes this many seconds (keeps the best epoch).
        progress: show a tqdm progress bar.
        command: the command line to record in the model card.
        tracking_dir: the folder of the MLflow store (``mlflow.db``; normally
            ``Settings.data_dir``); None records nothing. See :mod:`fakescope.training.tracking`.
        tracking_enabled: force tracking on or off; None follows ``FAKESCOPE_TRACKING``.
        tracker: given by :func:`_tracked` (the caller passes ``tracking_dir`` and
            ``tracking_enabled`` instead).

    Returns:
        A :class:`TrainResult`.

    Raises:
        TrainingError: bad arguments, a data folder without the expected layout, unreadable
            images, or a base model that cannot be loaded.
    """
    if epochs is None:
        epochs = DEMO_EPOCHS if demo else FOLDER_EPOCHS
    _check_args(data_dir, demo, epochs, batch_size, crop_size)
    started = time.perf_counter()
    _set_seed(seed, num_threads)
    output_dir = Path(output_dir)

    # -- data -------------------------------------------------------------------------------
    split_info: dict[str, Any]
    if demo:
        cache = Path(photo_cache_dir) if photo_cache_dir else default_cache_dir() / "photo-cache"
        deb_root = fetch_debian_packages(cache, local_debs=local_debs)
        photos = collect_photos(cache / f"photos-{max_side}", deb_root=deb_root, max_side=max_side)
        split = split_photos(
            photos,
            heldout_fraction=heldout_fraction,
            validation_fraction=validation_fraction,
            seed=split_seed,
        )
        train_photos = list(split.train)
        validation_images = heldout_images(split.validation, seed=split_seed + 1)
        final_images = heldout_images(split.heldout, seed=split_seed)
        if generated_dir is not None:
            generated = twins.read_generated(Path(generated_dir))
            seen_families = [
                f for f in twins.families_of(generated) if f not in set(held_out_families)
            ]
            generated_validation = twins.validation_images(
                generated, families=seen_families, seed=split_seed
            )
            # Simulated validation images only count when the model trains on simulated traces.
            validation_images = generated_validation + (
                validation_images if simulated_share > 0 else []
            )
        split_info = {
            "kind": "demo",
            "train_photos": [p.key for p in split.train],
            "validation_photos": [p.key for p in split.validation],
            "heldout_photos": [p.key for p in split.heldout],
            "split_seed": split_seed,
        }
        if generated_dir is not None:
            split_info["generated"] = {
                "dir": str(generated_dir),
                "seen_families": seen_families,
                "held_out_families": sorted(set(held_out_families)),
                "simulated_share": simulated_share,
                "clean_share": GENERATED_CLEAN_SHARE,
                "train_images": len(twins.select(generated, "train", families=seen_families)),
                "generators": twins.provenance(Path(generated_dir)),
                "validation_images": len(generated_validation),
            }
        train_items: list[LabeledImage] = []
    else:
        data_dir = Path(str(data_dir))
        items = list_image_folder(data_dir)
        train_items, val_items, test_items = _split_three(
            items, validation_fraction, test_fraction, seed
        )
        validation_images = _as_eval(val_items, data_dir)
        final_images = _as_eval(test_items, data_dir)
        train_photos = []
        split_info = {
            "kind": "folder",
            "data_dir": str(data_dir),
            "n_train": len(train_items),
            "n_validation": len(val_items),
            "n_test": len(test_items),
        }

    # -- model ------------------------------------------------------------------------------
    if base is None:
        from transformers import ResNetForImageClassification

        model = ResNetForImageClassification(demo_model_config())
        init_highpass_stem(model)
        id2label = dict(LABELS)
        spec = PreprocessSpec(
            input_mode="crops",
            crop_size=crop_size,
            num_crops=num_crops,
            height=crop_size,
            width=crop_size,
            image_mean=IMAGE_MEAN,
            image_std=IMAGE_STD,
            do_resize=False,
        )
    else:
        model, spec, id2label = _load_base(base, default_cache_dir() / "hub")
    fake_index = _fake_index(id2label)
    parameter_count = sum(p.numel() for p in model.parameters())

    pixel_cache: dict[str, np.ndarray] = {}  # generated images, decoded once per run

    def epoch_data(epoch: int) -> CropBatch:
        if demo and generated_dir is not None:
            return twins.generated_epoch(
                generated,
                families=seen_families,
                crop_size=spec.crop_size,
                seed=seed,
                epoch=epoch,
                simulated_share=simulated_share,
                crops_per_image=crops_per_image,
                clean_share=GENERATED_CLEAN_SHARE,
                cache=pixel_cache,
            )
        if demo:
            return demo_epoch(
                train_photos,
                crop_size=spec.crop_size,
                seed=seed,
                epoch=epoch,
                variants=variants,
                crops_per_variant=crops_per_variant,
            )
        return folder_epoch(
            train_items, spec, seed=seed, epoch=epoch, crops_per_image=crops_per_image
        )

    # -- optimisation -----------------------------------------------------------------------
    first = epoch_data(0)
    steps_per_epoch = math.ceil(len(first) / batch_size)
    optimizer = torch.optim.AdamW(model.parameters(), lr=learning_rate, weight_decay=weight_decay)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(
        optimizer,
        max_lr=learning_rate,
        total_steps=steps_per_epoch * epochs,
        pct_start=0.15,
    )
    val_pixels = [item.image for item in validation_images]
    val_labels = [item.label for item in validation_images]
    history: list[dict[str, Any]] = []
    best_state: dict[str, torch.Tensor] | None = None
    best_loss = math.inf
    best_epoch = 0
    model.train()
    bar = tqdm(total=steps_per_epoch * epochs, desc="training", unit="batch", disable=not progress)
    # The next epoch's data is made in a thread while this one trains (image decoding and
    # resizing release the GIL); each epoch's data depends on its number only, so runs stay
    # deterministic.
    prefetch = ThreadPoolExecutor(max_workers=1)
    upcoming: Future[CropBatch] | None = None
    for epoch in range(epochs):
        data = first if upcoming is None else upcoming.result()
        upcoming = prefetch.submit(epoch_data, epoch + 1) if epoch + 1 < epochs else None
        epoch_start = time.perf_counter()
        total_loss = 0.0
        for step in range(steps_per_epoch):
            chunk = slice(step * batch_size, (step + 1) * batch_size)
            if chunk.start >= len(data):
                scheduler.step()  # a shorter epoch (folder data) keeps the schedule on time
                bar.update(1)
                continue
            pixels = torch.from_numpy(normalize_batch(data.pixels[chunk], spec))
            labels = torch.from_numpy(data.labels[chunk])
            targets = labels if fake_index == 1 else 1 - labels
            loss = model(pixel_values=pixels, labels=targets).loss
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            scheduler.step()
            total_loss += loss.item() * len(labels)
            bar.update(1)
            bar.set_postfix(epoch=epoch + 1, loss=f"{loss.item():.3f}")
        figures = _validation_figures(image_logits(model, val_pixels, spec), val_labels, fake_index)
        record = {
            "epoch": epoch + 1,
            "train_loss": total_loss / len(data),
            "train_samples": len(data),
            "epoch_seconds": round(time.perf_counter() - epoch_start, 1),
            **figures,
        }
        history.append(record)
        tracker.log_epoch(epoch + 1, record)
        bar.write(
            f"epoch {epoch + 1}/{epochs}: train loss {record['train_loss']:.4f}, "
            f"val loss {figures['val_calibrated_loss']:.4f} (calibrated), "
            f"val acc {figures['val_accuracy']:.3f}, val AUC {figures['val_roc_auc']:.3f}"
        )
        if figures["val_calibrated_loss"] < best_loss:
            best_loss = figures["val_calibrated_loss"]
            best_epoch = epoch + 1
            best_state = copy.deepcopy(model.state_dict())
        if time_budget_s is not None and time.perf_counter() - started > time_budget_s:
            bar.write(f"time budget of {time_budget_s:.0f} s reached after epoch {epoch + 1}")
            break
    prefetch.shutdown(wait=False, cancel_futures=True)
    bar.close()
    train_seconds = time.perf_counter() - started
    if best_state is not None:
        model.load_state_dict(best_state)

    # -- calibration and saving -------------------------------------------------------------
    val_logits = image_logits(model, val_pixels, spec)
    val_targets = [fake_index if y == 1 else 1 - fake_index for y in val_labels]
    temperature = fit_temperature(val_logits, val_targets)
    limits = card.limits_text(demo=demo, base=base, generated=generated_dir is not None)
    _save_model(model, spec, output_dir, temperature, limits)
    model_bytes = (output_dir / "model.safetensors").stat().st_size

    # -- evaluation with the serving Predictor ----------------------------------------------
    final, reference = _evaluate_saved(output_dir, final_images, validation_images)
    metrics: dict[str, Any] = {
        **final,
        "evaluation_set": "demo held-out photos" if demo else "test split of the data folder",
        "validation": reference.pop("metrics"),
        "training": {
            "seed": seed,
            "epochs": epochs,
            "epochs_run": len(history),
            "best_epoch": best_epoch,
            "train_seconds": round(train_seconds, 1),
            "batch_size": batch_size,
            "learning_rate": learning_rate,
            "parameter_count": parameter_count,
            "model_bytes": model_bytes,
            "temperature": temperature,
            "base": base,
            "input_mode": spec.input_mode,
            "crop_size": spec.crop_size if spec.input_mode == "crops" else None,
            "num_crops": spec.num_crops if spec.input_mode == "crops" else None,
            "torch_threads": torch.get_num_threads(),
            "machine": f"{platform.machine()} {platform.processor() or platform.system()}",
            "command": command,
            "history": history,
        },
        "split": split_info,
    }
    if demo:
        metrics["targets"] = check_targets(metrics)
    if demo and generated_dir is not None:
        scored = _generator_report(output_dir, Path(generated_dir), seen_families)
        rows = report.generator_report(scored, threshold=Settings().threshold)
        metrics["generator_report"] = report.report_json(rows)
        metrics["generator_targets"] = report.check_report_targets(scored, rows)
        tqdm.write(report.report_table(rows))
    total_seconds = time.perf_counter() - started
    metrics["training"]["total_seconds"] = round(total_seconds, 1)
    metrics["training"].update(tracker.summary())  # the MLflow run id, or None when untracked
    _write_json(output_dir / "metrics.json", metrics)
    _write_json(output_dir / "reference_profile.json", reference, compact=True)
    card.write_model_card(output_dir, metrics, demo=demo, limits=limits)
    headline = ("training", "split", "generator_report", "generator_targets", "validation")
    tracker.log_metrics({k: v for k, v in metrics.items() if k not in headline}, prefix="final")
    tracker.log_metrics({"best_epoch": best_epoch, "temperature": temperature})
    tracker.log_report(metrics.get("generator_report") or [])
    for name in ("metrics.json", "README.md"):
        tracker.log_artifact(output_dir / name)
    return TrainResult(
        output_dir=output_dir,
        metrics=metrics,
        temperature=temperature,
        train_seconds=train_seconds,
        total_seconds=total_seconds,
        epochs_run=len(history),
        best_epoch=best_epoch,
        model_bytes=model_bytes,
        parameter_count=parameter_count,
        history=history,
    )


def _save_model(
    model: Any, spec: PreprocessSpec, output_dir: Path, temperature: float, limits: str
) -> None:
    """config.json (with the fakescope section), model.safetensors, preprocessor_config.json."""
    output_dir.mkdir(parents=True, exist_ok=True)
    section: dict[str, Any] = {"input_mode": spec.input_mode, "temperature": round(temperature, 6)}
    if spec.input_mode == "crops":
        section.update(crop_size=spec.crop_size, num_crops=spec.num_crops)
    section["limits"] = limits
    model.config.fakescope = section
    model.save_pretrained(output_dir, safe_serialization=True)
    height, width = spec.input_size
    preprocessor = {
        "image_processor_type": "ViTImageProcessor",
        "do_resize": spec.input_mode == "resize" and spec.do_resize,
        "size": {"height": height, "width": width},
        "resample": spec.resample,
        "do_rescale": spec.do_rescale,
        "rescale_factor": spec.rescale_factor,
        "do_normalize": spec.do_normalize,
        "image_mean": list(spec.image_mean),
        "image_std": list(spec.image_std),
    }
    _write_json(output_dir / "preprocessor_config.json", preprocessor)


def _evaluate_saved(
    output_dir: Path, final_images: Sequence[EvalImage], validation_images: Sequence[EvalImage]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Score the saved folder with the serving Predictor: final metrics and the drift reference.

    Returns:
        (metrics on ``final_images``, reference profile of ``validation_images`` with the
        validation metrics under ``metrics``).
    """
    from fakescope.predictor import Predictor

    # Default settings, not the environment's: the figures must not depend on who runs the build.
    settings = Settings().replace(precision="fp32")
    predictor = Predictor.from_source(str(output_dir), settings)

    def run(images: Sequence[EvalImage], with_features: bool) -> list[Any]:
        return predictor.predict(
            [item.upload for item in images],
            with_features=with_features,
            names=[item.name for item in images],
        )

    def figures(images: Sequence[EvalImage], predictions: Sequence[Any]) -> dict[str, Any]:
        labels = [item.label for item in images]
        probabilities = [p.fake_probability for p in predictions]
        result = classification_metrics(labels, probabilities, settings.threshold)
        result["conditions"] = condition_rates(
            [item.condition for item in images], labels, probabilities, settings.threshold
        )
        result["precision"] = predictor.info.precision
        return result

    final = figures(final_images, run(final_images, with_features=False))
    val_predictions = run(validation_images, with_features=True)
    names = list(val_predictions[0].features) if val_predictions else []
    reference = {
        "features": {
            name: [_clean_float(p.features.get(name)) for p in val_predictions] for name in names
        },
        "fake_probability": [float(p.fake_probability) for p in val_predictions],
        "n_images": len(val_predictions),
        "metrics": figures(validation_images, val_predictions),
    }
    return final, reference


def _generator_report(
    output_dir: Path, generated_dir: Path, seen_families: Sequence[str]
) -> list[report.ScoredImage]:
    """The saved model's scores on the held-out generated images under clean / web / hard."""
    score = predictor_scores(output_dir, Settings().replace(precision="fp32"))
    report_set = twins.report_images(twins.read_generated(generated_dir))
    return twins.score_report(report_set, score, seen_families=seen_families)


def _clean_float(value: Any) -> float | None:
    if value is None:
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def _write_json(path: Path, data: Any, *, compact: bool = False) -> None:
    text = json.dumps(data, separators=(",", ":")) if compact else json.dumps(data, indent=2)
    path.write_text(text + "\n", encoding="utf-8")
