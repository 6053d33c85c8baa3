"""Shared fixtures: a clean environment and real (tiny, random-weight) models built on disk."""

from __future__ import annotations

import io
import json
import os
import sys
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

REPO_ROOT = Path(__file__).resolve().parents[1]

# The preprocessor of dima806/deepfake_vs_real_image_detection (ViTImageProcessor, 224,
# mean/std 0.5, bilinear resize), written out so tests need no network.
DIMA806_PREPROCESSOR = {
    "do_normalize": True,
    "do_rescale": True,
    "do_resize": True,
    "image_mean": [0.5, 0.5, 0.5],
    "image_processor_type": "ViTImageProcessor",
    "image_std": [0.5, 0.5, 0.5],
    "resample": 2,
    "rescale_factor": 0.00392156862745098,
    "size": {"height": 224, "width": 224},
}


@pytest.fixture(autouse=True)
def _keep_main_module() -> Iterator[None]:
    """Put ``sys.modules["__main__"]`` back after each test: Streamlit's AppTest runs the app as
    ``__main__`` and leaves it there, and a later test's ``spawn`` child would then re-run
    ``streamlit_app/app.py`` (whose page imports fail outside Streamlit) before its target."""
    main = sys.modules.get("__main__")
    yield
    if main is not None:
        sys.modules["__main__"] = main


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> None:
    """No test sees the developer's FAKESCOPE_* variables; the log goes to a temp folder.

    Exported model graphs go to one cache folder per test session (``Settings.cache_dir``
    defaults under XDG_CACHE_HOME): shared, so a model built twice is exported once, and never
    the developer's own cache.
    """
    for name in list(os.environ):
        # FAKESCOPE_CPUINFO stays: the whole suite can run as another CPU would choose
        # (docs/performance.md, "Testing another CPU's choices").
        if name.startswith("FAKESCOPE_") and name != "FAKESCOPE_CPUINFO":
            monkeypatch.delenv(name)
    monkeypatch.setenv("FAKESCOPE_DATA_DIR", str(tmp_path_factory.mktemp("data")))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path_factory.getbasetemp() / "xdg-cache"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


def build_vit_model(
    folder: Path,
    *,
    labels: Mapping[int, str] | None = None,
    hidden_size: int = 32,
    layers: int = 2,
    heads: int = 2,
    intermediate: int = 64,
    image_size: int = 224,
    seed: int = 0,
    fakescope: Mapping[str, object] | None = None,
) -> Path:
    """A random-weight ViTForImageClassification in HF format (dima806's layout by default)."""
    import torch
    from transformers import ViTConfig, ViTForImageClassification

    labels = dict(labels or {0: "Real", 1: "Fake"})
    config = ViTConfig(
        hidden_size=hidden_size,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        intermediate_size=intermediate,
        image_size=image_size,
        patch_size=16,
        id2label=labels,
        label2id={v: k for k, v in labels.items()},
    )
    if fakescope is not None:
        config.fakescope = dict(fakescope)
    torch.manual_seed(seed)
    model = ViTForImageClassification(config)
    model.save_pretrained(folder)
    preprocessor = dict(DIMA806_PREPROCESSOR, size={"height": image_size, "width": image_size})
    (folder / "preprocessor_config.json").write_text(json.dumps(preprocessor))
    return folder


def build_resnet_model(folder: Path, *, labels: Mapping[int, str], seed: int = 0) -> Path:
    """A tiny ResNetForImageClassification (another architecture) in crops mode."""
    import torch
    from transformers import ResNetConfig, ResNetForImageClassification

    config = ResNetConfig(
        embedding_size=8,
        hidden_sizes=[8, 16],
        depths=[1, 1],
        layer_type="basic",
        id2label=dict(labels),
        label2id={v: k for k, v in labels.items()},
    )
    config.fakescope = {"input_mode": "crops", "crop_size": 48, "num_crops": 4}
    torch.manual_seed(seed)
    ResNetForImageClassification(config).save_pretrained(folder)
    preprocessor = {
        "do_normalize": True,
        "do_rescale": True,
        "do_resize": False,
        "image_mean": [0.485, 0.456, 0.406],
        "image_std": [0.229, 0.224, 0.225],
        "rescale_factor": 1 / 255,
        "size": {"height": 48, "width": 48},
    }
    (folder / "preprocessor_config.json").write_text(json.dumps(preprocessor))
    return folder


@pytest.fixture(scope="session")
def vit_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """dima806's architecture, labels and preprocessor, small hidden size, random weights."""
    return build_vit_model(tmp_path_factory.mktemp("vit-small"))


@pytest.fixture(scope="session")
def resnet_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Another architecture with other label names (human / artificial)."""
    return build_resnet_model(
        tmp_path_factory.mktemp("resnet"), labels={0: "artificial", 1: "human"}
    )


@pytest.fixture
def make_vit(tmp_path: Path) -> Callable[..., Path]:
    """Factory for ViT model folders with custom labels/settings."""
    counter = iter(range(1000))

    def factory(**kwargs: object) -> Path:
        folder = tmp_path / f"vit-{next(counter)}"
        return build_vit_model(folder, **kwargs)  # type: ignore[arg-type]

    return factory


def photo_like(width: int = 320, height: int = 240, seed: int = 0) -> Image.Image:
    """A smooth, photo-like RGB image (gradients plus mild noise), deterministic."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    base = np.stack(
        [
            128 + 90 * np.sin(x / (17 + seed % 5)),
            128 + 90 * np.cos(y / (23 + seed % 7)),
            128 + 60 * np.sin((x + y) / 31),
        ],
        axis=-1,
    )
    noisy = base + rng.normal(0, 6, base.shape)
    return Image.fromarray(np.clip(noisy, 0, 255).astype(np.uint8), "RGB")


def encode(image: Image.Image, fmt: str = "JPEG", **params: object) -> bytes:
    """Encode a PIL image to bytes."""
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **params)
    return buffer.getvalue()


@pytest.fixture
def jpeg_bytes() -> bytes:
    """A valid 320x240 JPEG."""
    return encode(photo_like(), "JPEG", quality=90)
