"""Training and evaluation: image-folder and simulated demo data sets, training, metrics, cards.

Modules, one per pipeline stage:

* :mod:`~fakescope.training.photos`: the curated real photographs, fetched and split by scene.
* :mod:`~fakescope.training.simulate`: simulated generator traces and nuisances.
* :mod:`~fakescope.training.dataset`: image folders, demo epochs, crop sampling.
* :mod:`~fakescope.training.train`: :func:`train_model` (the CLI's ``fakescope train``).
* :mod:`~fakescope.training.evaluate`: :func:`evaluate_model` (``fakescope evaluate``), metrics.
* :mod:`~fakescope.training.card`: the model card and the limits text.

The entry points are exported lazily, so importing this package does not import torch.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "train_model": "fakescope.training.train",
    "TrainResult": "fakescope.training.train",
    "evaluate_model": "fakescope.training.evaluate",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module_name = _EXPORTS.get(name)
    if module_name is None:
        raise AttributeError(f"module 'fakescope.training' has no attribute {name!r}")
    return getattr(importlib.import_module(module_name), name)


def __dir__() -> list[str]:
    return __all__
