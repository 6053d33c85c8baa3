"""Pixels -> model input tensors, in plain PIL + numpy.

Two input modes, stored with each model (``config.json`` -> ``"fakescope": {"input_mode": ...}``):

* ``resize``: the whole image is resized to the model's input size, as Hugging Face's
  ``ViTImageProcessor`` does (resize with the configured resample filter, rescale by 1/255,
  normalize with ``image_mean`` / ``image_std``). Pixels are identical to the HF processor's.
* ``crops``: a detector of pixel-level generator traces must see native-resolution pixels, because
  resizing erases upsampling traces. The image is never resized; ``num_crops`` crops of
  ``crop_size`` are taken on an even grid and scored separately, and their logits are averaged.

The training pipeline imports the same functions, so a model sees the same pixels in training and
in serving.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from PIL import Image

INPUT_MODES = ("resize", "crops")

# PIL resample codes as Hugging Face stores them in preprocessor_config.json ("resample": 2).
_RESAMPLE = {
    0: Image.Resampling.NEAREST,
    1: Image.Resampling.LANCZOS,
    2: Image.Resampling.BILINEAR,
    3: Image.Resampling.BICUBIC,
    4: Image.Resampling.BOX,
    5: Image.Resampling.HAMMING,
}


@dataclass(frozen=True)
class PreprocessSpec:
    """How a model wants its pixels. Built from a model's config and preprocessor config.

    Attributes:
        input_mode: ``resize`` or ``crops``.
        height, width: input size in ``resize`` mode.
        crop_size: side of each native-resolution crop in ``crops`` mode.
        num_crops: crops per image in ``crops`` mode.
        resample: PIL resample code used when resizing.
        rescale_factor: multiplier applied to 0..255 pixels (usually 1/255).
        image_mean, image_std: per-channel normalization.
        do_resize, do_rescale, do_normalize: the HF processor's switches.
    """

    input_mode: str = "resize"
    height: int = 224
    width: int = 224
    crop_size: int = 64
    num_crops: int = 9
    resample: int = 2
    rescale_factor: float = 1 / 255
    image_mean: tuple[float, float, float] = (0.5, 0.5, 0.5)
    image_std: tuple[float, float, float] = (0.5, 0.5, 0.5)
    do_resize: bool = True
    do_rescale: bool = True
    do_normalize: bool = True

    @property
    def input_size(self) -> tuple[int, int]:
        """(height, width) of one model input."""
        if self.input_mode == "crops":
            return (self.crop_size, self.crop_size)
        return (self.height, self.width)


def normalize_pixels(pixels: np.ndarray, spec: PreprocessSpec) -> np.ndarray:
    """HWC uint8 (or float 0..255) RGB -> CHW float32, rescaled and normalized per ``spec``."""
    return _normalize_batch(pixels[None], spec)[0]


def resize_image(image: Image.Image, spec: PreprocessSpec) -> Image.Image:
    """Resize an RGB image to the model's input size (the ``resize`` mode)."""
    if not spec.do_resize:
        return image
    resample = _RESAMPLE.get(spec.resample, Image.Resampling.BILINEAR)
    return image.resize((spec.width, spec.height), resample=resample)


def grid_crop_boxes(
    width: int, height: int, crop_size: int, num_crops: int
) -> list[tuple[int, ...]]:
    """Boxes (left, top, right, bottom) of ``num_crops`` crops spread on an even grid.

    The grid is the smallest square with at least ``num_crops`` cells; cells are taken row by
    row. Offsets are evenly spaced over the valid range, so crops overlap on small images and
    spread out on large ones. A side smaller than ``crop_size`` gives offset 0 (padded later).
    """
    cells = max(1, math.ceil(math.sqrt(num_crops)))

    def offsets(extent: int) -> list[int]:
        free = max(0, extent - crop_size)
        if cells == 1:
            return [free // 2]
        return [round(free * i / (cells - 1)) for i in range(cells)]

    boxes = [
        (left, top, left + crop_size, top + crop_size)
        for top in offsets(height)
        for left in offsets(width)
    ]
    return boxes[:num_crops]


def crop_pixels(pixels: np.ndarray, box: Sequence[int]) -> np.ndarray:
    """Cut one crop out of HWC pixels; a crop that runs past the edge is reflect-padded.

    Reflection adds no upsampling pattern, so a small image does not look generated.
    """
    left, top, right, bottom = box
    crop = pixels[top:bottom, left:right]
    pad_h, pad_w = (bottom - top) - crop.shape[0], (right - left) - crop.shape[1]
    if pad_h > 0 or pad_w > 0:
        mode = "reflect" if crop.shape[0] > pad_h and crop.shape[1] > pad_w else "symmetric"
        crop = np.pad(crop, ((0, pad_h), (0, pad_w), (0, 0)), mode=mode)
    return crop


def _native_crop(image: Image.Image, box: Sequence[int]) -> np.ndarray:
    """:func:`crop_pixels` of ``np.asarray(image)``, without copying the whole image: only the
    part of the box inside the image is read (a 12 MP photo would cost a 36 MB copy for 9
    crops of 64 px)."""
    left, top, right, bottom = box
    inside = np.asarray(
        image.crop((left, top, min(right, image.width), min(bottom, image.height))),
        dtype=np.uint8,
    )
    return crop_pixels(inside, (0, 0, right - left, bottom - top))


def _normalize_batch(pixels: np.ndarray, spec: PreprocessSpec) -> np.ndarray:
    """(n, H, W, 3) uint8 (or float 0..255) RGB -> (n, 3, H, W) float32, rescaled and
    normalized per ``spec``: one image or all the crops of one in a single pass."""
    array = pixels.astype(np.float32)
    if spec.do_rescale:
        array *= np.float32(spec.rescale_factor)
    if spec.do_normalize:
        mean = np.asarray(spec.image_mean, dtype=np.float32)
        std = np.asarray(spec.image_std, dtype=np.float32)
        array = (array - mean) / std
    return np.ascontiguousarray(array.transpose(0, 3, 1, 2))


def image_to_inputs(image: Image.Image, spec: PreprocessSpec) -> np.ndarray:
    """One RGB image -> an array of model inputs, shape (n, 3, H, W).

    ``resize`` mode gives n = 1; ``crops`` mode gives n = ``num_crops``.
    """
    if spec.input_mode == "crops":
        boxes = grid_crop_boxes(image.width, image.height, spec.crop_size, spec.num_crops)
        crops = np.stack([_native_crop(image, box) for box in boxes])
        return _normalize_batch(crops, spec)
    resized = resize_image(image, spec)
    return _normalize_batch(np.asarray(resized, dtype=np.uint8)[None], spec)
