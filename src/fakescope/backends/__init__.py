"""Runtimes behind one interface (see :mod:`fakescope.backends.choice`)."""

from fakescope.backends.base import Backend
from fakescope.backends.choice import RuntimeChoice, Selection, choose_backend, choose_runtime

__all__ = ["Backend", "RuntimeChoice", "Selection", "choose_backend", "choose_runtime"]
