"""Training data: image folders (``real/`` + ``fake/``), the simulated demo set, and crop sampling.

Two kinds of data set feed the same training loop:

* an image folder ``DATA/real/`` + ``DATA/fake/`` (for example CIFAKE), listed and split by file;
* the demo set: curated real photos (split by scene) and simulated fakes made from them, with fresh
  nuisances every epoch (see :mod:`fakescope.training.simulate`).

Both produce model inputs the way serving does (:mod:`fakescope.preprocess`): native-resolution
random crops of ``crop_size`` in ``crops`` mode, the whole image resized in ``resize`` mode.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from fakescope.errors import TrainingError
from fakescope.preprocess import PreprocessSpec, crop_pixels, normalize_pixels, resize_image
from fakescope.training.photos import CollectedPhoto
from fakescope.training.simulate import fake_nuisance, real_nuisance, simulate_fake

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff")
LABELS = {0: "real", 1: "fake"}
CLASS_FOLDERS = ("real", "fake")
LAYOUT_HELP = (
    "expected a folder with two sub-folders of images: DATA/real/ (photographs) and DATA/fake/ "
    f"(generated images), each holding at least one {'/'.join(IMAGE_EXTENSIONS)} file"
)


@dataclass(frozen=True)
class LabeledImage:
    """One image file with its label (0 = real, 1 = fake)."""

    path: Path
    label: int


@dataclass
class CropBatch:
    """Model inputs and labels for one epoch.

    Attributes:
        pixels: uint8 HWC crops, shape (n, size, size, 3) (normalised later, per batch).
        labels: 0 = real, 1 = fake, shape (n,).
    """

    pixels: np.ndarray
    labels: np.ndarray

    def __len__(self) -> int:
        return len(self.labels)


def list_image_folder(data_dir: Path) -> list[LabeledImage]:
    """List the images of a ``real/`` + ``fake/`` folder, sorted, real first.

    Raises:
        TrainingError: the folder or a class folder is missing, or a class has no image files.
    """
    data_dir = Path(data_dir)
    if not data_dir.is_dir():
        raise TrainingError(f"data folder {data_dir} does not exist; {LAYOUT_HELP}")
    missing = [f"{name}/" for name in CLASS_FOLDERS if not (data_dir / name).is_dir()]
    if missing:
        what = " and ".join(missing) + (" sub-folders" if len(missing) > 1 else " sub-folder")
        raise TrainingError(f"data folder {data_dir} has no {what}; {LAYOUT_HELP}")
    items: list[LabeledImage] = []
    for label, name in enumerate(CLASS_FOLDERS):
        folder = data_dir / name
        files = sorted(
            p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS
        )
        if not files:
            raise TrainingError(f"{folder} holds no image files; {LAYOUT_HELP}")
        items.extend(LabeledImage(path=p, label=label) for p in files)
    return items


def open_rgb(path: Path) -> Image.Image:
    """Open an image file as RGB.

    Raises:
        TrainingError: the file is not a readable image.
    """
    try:
        with Image.open(path) as opened:
            opened.load()
            return opened.convert("RGB")
    except (OSError, UnidentifiedImageError, ValueError) as exc:
        raise TrainingError(
            f"{path} is not a readable image ({exc}); remove it or replace it with a "
            f"{'/'.join(IMAGE_EXTENSIONS)} file"
        ) from None


def _hash_rank(text: str, seed: int) -> str:
    return hashlib.sha256(f"{seed}:{text}".encode()).hexdigest()


def split_files(
    items: Sequence[LabeledImage], *, validation_fraction: float = 0.15, seed: int = 0
) -> tuple[list[LabeledImage], list[LabeledImage]]:
    """Split an image folder into training and validation files, per class, deterministically.

    Files are ordered by a hash of (seed, file name), so adding a file moves no other file.

    Raises:
        TrainingError: a class has fewer than 2 images (one for each split).
    """
    if not 0 < validation_fraction < 1:
        raise TrainingError("validation_fraction must be between 0 and 1")
    train: list[LabeledImage] = []
    validation: list[LabeledImage] = []
    for label, name in LABELS.items():
        members = sorted(
            (i for i in items if i.label == label), key=lambda i: _hash_rank(i.path.name, seed)
        )
        if len(members) < 2:
            raise TrainingError(
                f"the {name}/ folder needs at least 2 images (one for training, one for "
                f"validation), got {len(members)}"
            )
        n_val = min(len(members) - 1, max(1, round(len(members) * validation_fraction)))
        validation.extend(members[:n_val])
        train.extend(members[n_val:])
    return train, validation


def random_crop(pixels: np.ndarray, size: int, rng: np.random.Generator) -> np.ndarray:
    """A random ``size`` x ``size`` crop of HWC pixels (reflect-padded if the image is smaller)."""
    height, width = pixels.shape[:2]
    top = int(rng.integers(0, max(0, height - size) + 1))
    left = int(rng.integers(0, max(0, width - size) + 1))
    return crop_pixels(pixels, (left, top, left + size, top + size))


def augment(crop: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Random flips and 90-degree turns: they keep every pixel-level trace intact."""
    if rng.random() < 0.5:
        crop = crop[:, ::-1]
    if rng.random() < 0.5:
        crop = crop[::-1]
    if rng.random() < 0.5:
        crop = crop.transpose(1, 0, 2)
    return np.ascontiguousarray(crop)


def demo_epoch(
    photos: Sequence[CollectedPhoto],
    *,
    crop_size: int,
    seed: int,
    epoch: int,
    variants: int = 4,
    crops_per_variant: int = 8,
) -> CropBatch:
    """One epoch of the demo set: fresh real and fake variants of every photo, cut into crops.

    For each photo, ``variants`` real versions (random resize / blur / JPEG) and ``variants``
    simulated fakes (random generator, then JPEG half of the time) are made, and
    ``crops_per_variant`` random crops are cut from each. Classes are balanced.

    Returns:
        The crops (uint8) and labels, in a seed-determined shuffled order.
    """
    rng = np.random.default_rng([seed, epoch])
    crops: list[np.ndarray] = []
    labels: list[int] = []
    for index, photo in enumerate(photos):
        original = open_rgb(photo.path)
        for variant in range(variants):
            variant_seed = int(rng.integers(0, 2**31 - 1))
            variant_rng = np.random.default_rng(variant_seed)
            real, _ = real_nuisance(original, variant_rng)
            fake, _ = simulate_fake(original, variant_seed)
            fake, _ = fake_nuisance(fake, variant_rng)
            for label, image in ((0, real), (1, fake)):
                pixels = np.asarray(image, dtype=np.uint8)
                for _ in range(crops_per_variant):
                    crops.append(augment(random_crop(pixels, crop_size, rng), rng))
                    labels.append(label)
    order = rng.permutation(len(labels))
    return CropBatch(
        pixels=np.stack(crops)[order], labels=np.asarray(labels, dtype=np.int64)[order]
    )


def folder_epoch(
    items: Sequence[LabeledImage],
    spec: PreprocessSpec,
    *,
    seed: int,
    epoch: int,
    crops_per_image: int = 2,
) -> CropBatch:
    """One epoch of an image folder: random crops (``crops`` mode) or resized images (``resize``).

    Returns:
        uint8 HWC inputs and labels, shuffled (seed-determined).
    """
    rng = np.random.default_rng([seed, epoch])
    inputs: list[np.ndarray] = []
    labels: list[int] = []
    for item in items:
        image = open_rgb(item.path)
        if spec.input_mode == "crops":
            pixels = np.asarray(image, dtype=np.uint8)
            for _ in range(crops_per_image):
                inputs.append(augment(random_crop(pixels, spec.crop_size, rng), rng))
                labels.append(item.label)
        else:
            resized = np.asarray(resize_image(image, spec), dtype=np.uint8)
            if rng.random() < 0.5:
                resized = resized[:, ::-1]
            inputs.append(np.ascontiguousarray(resized))
            labels.append(item.label)
    order = rng.permutation(len(labels))
    return CropBatch(
        pixels=np.stack(inputs)[order], labels=np.asarray(labels, dtype=np.int64)[order]
    )


def normalize_batch(pixels: np.ndarray, spec: PreprocessSpec) -> np.ndarray:
    """uint8 NHWC -> float32 NCHW, rescaled and normalised exactly as serving does."""
    return np.stack([normalize_pixels(p, spec) for p in pixels])
