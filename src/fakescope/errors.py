"""Errors raised by FakeScope. Every message says what was wrong and what is accepted.

Exception tree::

    FakeScopeError
    ├── ConfigError          a FAKESCOPE_* setting has a value that cannot be used
    ├── InvalidImageError    an input is not an image FakeScope can judge (carries a short `reason`)
    ├── InvalidArgumentError a function got an argument it cannot use (also a ValueError)
    ├── ModelLoadError       a model source cannot be loaded (names the source and the reason)
    ├── RegistryError        a registry operation cannot be done (unknown version, no active one)
    ├── StoreError           the prediction log cannot be read or written
    ├── DriftError           a drift test cannot run (unknown test name, bad data)
    └── TrainingError        a training data folder or run is not usable
"""

from __future__ import annotations


class FakeScopeError(Exception):
    """Base class of every error FakeScope raises on purpose."""


class ConfigError(FakeScopeError):
    """A setting (usually a FAKESCOPE_* environment variable) has an unusable value."""


class InvalidImageError(FakeScopeError):
    """An input cannot be judged as an image.

    Attributes:
        reason: a short machine-friendly code (``empty``, ``too_large``, ``too_many_pixels``,
            ``truncated``, ``corrupt``, ``unsupported_type``, ``too_small``, ``unreadable``,
            ``too_complex`` (decoding would take unbounded work), ``busy`` (no room in the
            decoded-pixel memory budget in time)),
            stored in the prediction log next to rejected uploads.
    """

    def __init__(self, message: str, reason: str = "invalid") -> None:
        super().__init__(message)
        self.reason = reason


class InvalidArgumentError(FakeScopeError, ValueError):
    """A function argument has a value it cannot use (the message names the allowed ones)."""


class ModelLoadError(FakeScopeError):
    """A model source (folder or hf:// reference) cannot be loaded."""


class RegistryError(FakeScopeError):
    """A model registry operation cannot be done."""


class StoreError(FakeScopeError):
    """The prediction log cannot be read or written."""


class DriftError(FakeScopeError):
    """A drift test cannot be run on the data given."""


class TrainingError(FakeScopeError):
    """A training data folder or training run is not usable."""
