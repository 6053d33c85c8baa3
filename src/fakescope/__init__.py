"""FakeScope: tell real photographs from AI-generated images.

The public API is exported here lazily (PEP 562), so ``import fakescope`` stays cheap and does not
import torch until a model is actually used::

    from fakescope import Predictor
    predictions = Predictor.from_source("models/v1").predict(["photo.jpg"])
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_EXPORTS = {
    "Settings": "fakescope.config",
    "Predictor": "fakescope.predictor",
    "Prediction": "fakescope.verdicts",
    "Rejection": "fakescope.verdicts",
    "verdict_for": "fakescope.verdicts",
    "load_image": "fakescope.images",
    "load_model": "fakescope.model",
    "parse_source": "fakescope.model",
    "Registry": "fakescope.registry",
    "PredictionStore": "fakescope.store",
    "FakeScopeError": "fakescope.errors",
    "InvalidImageError": "fakescope.errors",
    "ModelLoadError": "fakescope.errors",
    "RegistryError": "fakescope.errors",
}

__all__ = sorted(_EXPORTS) + ["__version__"]


def __getattr__(name: str) -> Any:
    module_name = _EXPORTS.get(name)
    if module_name is None:
        raise AttributeError(f"module 'fakescope' has no attribute {name!r}")
    return getattr(importlib.import_module(module_name), name)


def __dir__() -> list[str]:
    return __all__
