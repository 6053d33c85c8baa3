"""Simulated generator traces ("fakes") and everyday nuisances, deterministic under a seed.

After Zhang, Karaman & Chang (2019), "Detecting and Simulating Artifacts in GAN Fake Images": the
up-sampling stages of a generator's decoder leave periodic patterns whose spectrum has peaks (the
replicas of the low-frequency content around 1/2 and 1/4 of the sampling rate), and they can be
simulated without training a GAN (their AutoGAN). Here a real photo is downsampled by 2 or 4, then
brought back to size by ``log2(factor)`` stages of a small decoder with random weights:

* ``nearest`` / ``bilinear``: fixed interpolation followed by a random 3x3 convolution,
* ``transposed``: a stride-2 transposed convolution with a random kernel (the checkerboard source),
* ``decoder``: an interpolation or transposed stage plus a random two-layer conv residual with a
  leaky ReLU, which adds generator-like texture.

The output is then sharpened by a random unsharp mask, as a decoder's last layers produce crisp
images rather than a blurry upscale.

Nuisances are applied to both classes so the detector learns the traces, not "smooth means fake":
JPEG re-compression at many qualities on both, blur and resizing on reals. Real resizing uses
non-integer factors (1.1-1.7x up, 0.5-0.9x down); generators upsample by whole factors.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageFilter

from fakescope.errors import TrainingError

GENERATOR_KINDS = ("nearest", "bilinear", "transposed", "decoder")
REAL_CONDITIONS = ("clean", "jpeg_q75", "blur_sigma1", "upscale_1.5x")
FAKE_CONDITIONS = tuple(f"fake_{kind}" for kind in GENERATOR_KINDS) + ("fake_jpeg_q90",)

_DOWN_FILTERS = (
    Image.Resampling.BOX,
    Image.Resampling.BILINEAR,
    Image.Resampling.BICUBIC,
    Image.Resampling.LANCZOS,
)
_UP_FILTERS = (Image.Resampling.BILINEAR, Image.Resampling.BICUBIC, Image.Resampling.LANCZOS)


@dataclass(frozen=True)
class FakeRecipe:
    """How one simulated fake was made.

    Attributes:
        factor: downsampling factor (2 or 4); the decoder upsamples by the same factor.
        stages: the up-sampling kind of each x2 stage.
        seed: the seed that fixed every random choice and weight.
    """

    factor: int
    stages: tuple[str, ...]
    seed: int

    @property
    def name(self) -> str:
        """Short description, e.g. ``x4:transposed+decoder``."""
        return f"x{self.factor}:{'+'.join(self.stages)}"


def _to_tensor(image: Image.Image) -> torch.Tensor:
    array = np.asarray(image.convert("RGB"), dtype=np.float32) / 255.0
    return torch.from_numpy(array.transpose(2, 0, 1).copy())[None]


def _to_image(tensor: torch.Tensor) -> Image.Image:
    array = tensor[0].clamp(0.0, 1.0).mul(255.0).round().to(torch.uint8).numpy()
    return Image.fromarray(np.ascontiguousarray(array.transpose(1, 2, 0)), mode="RGB")


def _near_identity_conv(gen: torch.Generator, spread: float, gain_error: float) -> torch.Tensor:
    """A random 3x3 RGB->RGB kernel close to identity, each output summing to about 1."""
    weight = torch.zeros(3, 3, 3, 3)
    for channel in range(3):
        weight[channel, channel, 1, 1] = 1.0
    weight += spread * torch.randn(3, 3, 3, 3, generator=gen)
    weight[:, :, 1, 1] += spread  # keep the centre dominant, as a trained decoder's would be
    sums = weight.sum(dim=(1, 2, 3), keepdim=True)
    gains = 1.0 + gain_error * (2 * torch.rand(3, 1, 1, 1, generator=gen) - 1)
    return weight / sums * gains


def _transposed_kernel(gen: torch.Generator, size: int, spread: float, phase_error: float):
    """A depthwise stride-2 transposed-conv kernel: bilinear-like plus noise, per-phase gains.

    Each of the four output phases sums to ``1 + e`` with a small random ``e``: the imbalance a
    trained generator never quite removes, and the source of the checkerboard.
    """
    if size == 4:
        taps = torch.tensor([0.25, 0.75, 0.75, 0.25])
    else:
        taps = torch.tensor([0.5, 1.0, 0.5])
    base = torch.outer(taps, taps)
    kernel = base[None].repeat(3, 1, 1) + spread * torch.randn(3, size, size, generator=gen)
    # Output pixel parity p takes kernel taps k with k = p + padding (mod 2): normalise per phase.
    pad = 1
    for row_phase in range(2):
        for col_phase in range(2):
            rows = [k for k in range(size) if (k - pad - row_phase) % 2 == 0]
            cols = [k for k in range(size) if (k - pad - col_phase) % 2 == 0]
            block = kernel[:, rows][:, :, cols]
            sums = block.sum(dim=(1, 2), keepdim=True)
            gains = 1.0 + phase_error * (2 * torch.rand(3, 1, 1, generator=gen) - 1)
            kernel[:, rows[0] : rows[-1] + 1 : 2, cols[0] : cols[-1] + 1 : 2] = block / sums * gains
    return kernel[:, None]  # (3, 1, k, k): depthwise weight for conv_transpose2d


def _upsample_stage(x: torch.Tensor, kind: str, gen: torch.Generator) -> torch.Tensor:
    """One x2 up-sampling stage of a random decoder."""
    height, width = x.shape[-2] * 2, x.shape[-1] * 2
    spread = float(0.01 + 0.05 * torch.rand(1, generator=gen))
    if kind == "decoder":
        base_kind = ("nearest", "bilinear", "transposed")[
            int(torch.randint(0, 3, (1,), generator=gen))
        ]
        up = _upsample_stage(x, base_kind, gen)
        hidden = int(torch.randint(6, 17, (1,), generator=gen))
        w1 = torch.randn(hidden, 3, 3, 3, generator=gen) / (27**0.5)
        w2 = torch.randn(3, hidden, 3, 3, generator=gen) / ((9 * hidden) ** 0.5)
        scale = float(0.01 + 0.03 * torch.rand(1, generator=gen))
        residual = F.conv2d(F.leaky_relu(F.conv2d(up, w1, padding=1), 0.2), w2, padding=1)
        residual = residual - residual.mean(dim=(2, 3), keepdim=True)
        return up + scale * residual / (residual.std() + 1e-6)
    if kind == "transposed":
        size = 4 if float(torch.rand(1, generator=gen)) < 0.6 else 3
        phase_error = float(0.02 * torch.rand(1, generator=gen))
        kernel = _transposed_kernel(gen, size, spread, phase_error)
        padded = F.pad(x, (1, 1, 1, 1), mode="replicate")
        out = F.conv_transpose2d(padded, kernel, stride=2, padding=1, groups=3)
        # Replicate padding of one input pixel adds two output pixels per side; cut them off.
        return out[..., 2 : 2 + height, 2 : 2 + width]
    if kind == "nearest":
        up = F.interpolate(x, scale_factor=2, mode="nearest")
    elif kind == "bilinear":
        up = F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)
    else:
        raise TrainingError(f"unknown generator kind {kind!r}; known: {', '.join(GENERATOR_KINDS)}")
    gain_error = float(0.01 * torch.rand(1, generator=gen))
    weight = _near_identity_conv(gen, spread, gain_error)
    return F.conv2d(F.pad(up, (1, 1, 1, 1), mode="replicate"), weight)


def _sharpen(x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """Random unsharp masking: a decoder's last layers make crisp output, not a blurry upscale.

    Without it every fake would be smoother than its photo, and a detector could learn "smooth
    means fake" instead of the traces; sharpening also brings the periodic pattern forward.
    """
    amount = float(0.3 + 1.2 * torch.rand(1, generator=gen))
    sigma = float(0.7 + 0.5 * torch.rand(1, generator=gen))
    taps = torch.exp(-0.5 * (torch.arange(-2, 3, dtype=torch.float32) / sigma) ** 2)
    taps = taps / taps.sum()
    kernel = torch.outer(taps, taps)[None, None].repeat(3, 1, 1, 1)
    blurred = F.conv2d(F.pad(x, (2, 2, 2, 2), mode="replicate"), kernel, groups=3)
    return x + amount * (x - blurred)


def simulate_fake(
    image: Image.Image,
    seed: int,
    *,
    kind: str | None = None,
    factor: int | None = None,
) -> tuple[Image.Image, FakeRecipe]:
    """Turn a real photo into a simulated generator output with the same content.

    Args:
        image: an RGB photo (at least 16 px on each side).
        seed: fixes the factor, the stages, the downsampling filter and every random weight.
        kind: force every stage's kind (one of ``GENERATOR_KINDS``); None picks per stage.
        factor: force 2 or 4; None picks 2 (75 %) or 4 (25 %).

    Returns:
        (the fake, its recipe). The fake's sides are the input's rounded down to a multiple of the
        factor.

    Raises:
        TrainingError: unknown kind or factor, or an image too small to downsample.
    """
    if kind is not None and kind not in GENERATOR_KINDS:
        raise TrainingError(f"unknown generator kind {kind!r}; known: {', '.join(GENERATOR_KINDS)}")
    if factor is not None and factor not in (2, 4):
        raise TrainingError(f"factor must be 2 or 4, got {factor}")
    gen = torch.Generator().manual_seed(int(seed))
    rng = np.random.default_rng(seed)
    if factor is None:
        factor = 4 if rng.random() < 0.25 else 2
    width, height = (image.width // factor) * factor, (image.height // factor) * factor
    if min(width, height) < 4 * factor:
        raise TrainingError(f"image {image.size} is too small to simulate a x{factor} generator")
    image = image.convert("RGB").crop((0, 0, width, height))
    small = image.resize(
        (width // factor, height // factor), _DOWN_FILTERS[rng.integers(len(_DOWN_FILTERS))]
    )
    stages = tuple(
        kind or GENERATOR_KINDS[rng.integers(len(GENERATOR_KINDS))]
        for _ in range(int(np.log2(factor)))
    )
    with torch.no_grad():
        x = _to_tensor(small)
        for stage in stages:
            x = _upsample_stage(x, stage, gen)
        fake = _to_image(_sharpen(x, gen))
    return fake, FakeRecipe(factor=factor, stages=stages, seed=int(seed))


def encode_jpeg(image: Image.Image, quality: int, *, subsampling: int | None = None) -> bytes:
    """JPEG bytes at ``quality`` (PIL's default 4:2:0 chroma unless ``subsampling``)."""
    buffer = io.BytesIO()
    kwargs = {} if subsampling is None else {"subsampling": subsampling}
    image.convert("RGB").save(buffer, format="JPEG", quality=int(quality), **kwargs)
    return buffer.getvalue()


def encode_png(image: Image.Image) -> bytes:
    """Lossless PNG bytes (fast compression: these are evaluation uploads, not archives)."""
    buffer = io.BytesIO()
    image.convert("RGB").save(buffer, format="PNG", compress_level=1)
    return buffer.getvalue()


def decode(data: bytes) -> Image.Image:
    """Encoded bytes -> RGB image."""
    with Image.open(io.BytesIO(data)) as decoded:
        return decoded.convert("RGB")


def jpeg(image: Image.Image, quality: int, *, subsampling: int | None = None) -> Image.Image:
    """Re-compress as JPEG at ``quality`` (PIL's default 4:2:0 chroma unless ``subsampling``)."""
    return decode(encode_jpeg(image, quality, subsampling=subsampling))


def gaussian_blur(image: Image.Image, sigma: float) -> Image.Image:
    """Gaussian blur with standard deviation ``sigma`` pixels."""
    return image.filter(ImageFilter.GaussianBlur(radius=float(sigma)))


def rescale(image: Image.Image, factor: float, resample: int = Image.Resampling.BICUBIC):
    """Resize by ``factor`` (antialiased when shrinking, as PIL's filters are)."""
    size = (max(16, round(image.width * factor)), max(16, round(image.height * factor)))
    return image.resize(size, resample)


def real_nuisance(image: Image.Image, rng: np.random.Generator) -> tuple[Image.Image, str]:
    """Random everyday processing of a real photo: resize, blur, JPEG (each maybe, in that order).

    Returns:
        (the processed image, a short description such as ``up1.42+jpeg81``; ``clean`` if none).
    """
    steps = []
    if rng.random() < 0.45:
        if rng.random() < 0.6:
            factor = float(rng.uniform(1.1, 1.7))
            steps.append(f"up{factor:.2f}")
        else:
            factor = float(rng.uniform(0.5, 0.9))
            steps.append(f"down{factor:.2f}")
        image = rescale(image, factor, _UP_FILTERS[rng.integers(len(_UP_FILTERS))])
    if rng.random() < 0.4:
        sigma = float(rng.uniform(0.3, 2.0))
        image = gaussian_blur(image, sigma)
        steps.append(f"blur{sigma:.2f}")
    if rng.random() < 0.5:
        quality = int(rng.integers(60, 99))
        image = jpeg(image, quality)
        steps.append(f"jpeg{quality}")
    return image, "+".join(steps) or "clean"


def fake_nuisance(image: Image.Image, rng: np.random.Generator) -> tuple[Image.Image, str]:
    """Random JPEG re-compression of a simulated fake (half of the time).

    Returns:
        (the processed image, ``jpeg<q>`` or ``clean``).
    """
    if rng.random() < 0.5:
        quality = int(rng.integers(70, 99))
        return jpeg(image, quality), f"jpeg{quality}"
    return image, "clean"


def apply_condition(image: Image.Image, condition: str, seed: int = 0) -> Image.Image:
    """One named, deterministic held-out condition.

    Real conditions: ``clean``, ``jpeg_q75``, ``blur_sigma1``, ``upscale_1.5x`` (bicubic).
    Fake conditions: ``fake_<kind>`` (a clean simulated fake of that kind, factor from ``seed``)
    and ``fake_jpeg_q90`` (a fake of a seed-chosen kind, re-compressed at quality 90).

    Raises:
        TrainingError: unknown condition name.
    """
    if condition == "clean":
        return image.convert("RGB")
    if condition == "jpeg_q75":
        return jpeg(image, 75)
    if condition == "blur_sigma1":
        return gaussian_blur(image.convert("RGB"), 1.0)
    if condition == "upscale_1.5x":
        return rescale(image.convert("RGB"), 1.5, Image.Resampling.BICUBIC)
    if condition.startswith("fake_") and condition[5:] in GENERATOR_KINDS:
        return simulate_fake(image, seed, kind=condition[5:])[0]
    if condition == "fake_jpeg_q90":
        return jpeg(simulate_fake(image, seed)[0], 90)
    known = ", ".join(REAL_CONDITIONS + FAKE_CONDITIONS)
    raise TrainingError(f"unknown condition {condition!r}; known: {known}")


def condition_upload(
    original: Image.Image, original_bytes: bytes | None, condition: str, seed: int = 0
) -> bytes:
    """A held-out condition as the file a user would upload: the bytes, not just the pixels.

    ``clean`` is the photo's own file (when given), the JPEG conditions are the JPEG bytes at that
    quality, every other condition is a lossless PNG. Decoding the bytes gives exactly the pixels
    of :func:`apply_condition`, and the Predictor sees real file features (JPEG quality, size).

    Raises:
        TrainingError: unknown condition name.
    """
    if condition == "clean" and original_bytes is not None:
        return original_bytes
    if condition == "jpeg_q75":
        return encode_jpeg(original, 75)
    if condition == "fake_jpeg_q90":
        return encode_jpeg(simulate_fake(original, seed)[0], 90)
    return encode_png(apply_condition(original, condition, seed))


def periodic_trace_strength(image: Image.Image, period: int = 2) -> float:
    """How strongly an image carries a period-``period`` pattern, as a spectral peak ratio.

    The absolute first difference of the luma (a high-pass residual) is averaged along each axis.
    An up-sampling stage makes neighbouring pixels alternate between "copied" and "new", so that
    profile becomes periodic and its spectrum has a peak at frequency ``1/period``. Returns the
    peak's magnitude over the median magnitude of the spectrum, averaged over both axes: a few
    units for camera photos, tens to hundreds for x2 generator output.
    """
    luma = np.asarray(image.convert("L"), dtype=np.float64)
    ratios = []
    for pixels in (luma, luma.T):
        profile = np.abs(np.diff(pixels, axis=1)).mean(axis=0)
        profile = profile[: len(profile) - len(profile) % period]
        spectrum = np.abs(np.fft.rfft(profile - profile.mean()))
        peak = spectrum[len(profile) // period]
        ratios.append(peak / (np.median(spectrum[1:]) + 1e-12))
    return float(np.mean(ratios))


def describe_conditions(conditions: Sequence[str]) -> str:
    """Comma-separated list of condition names (for messages and the model card)."""
    return ", ".join(conditions)
