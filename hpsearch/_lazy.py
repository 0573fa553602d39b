"""Package faces that import their private modules on first use (PEP 562).

A face lists what its package offers; the module holding each name is imported only when the
name is first read. So ``from hpsearch.search import run_study`` does not import Ray, pandas or
matplotlib until the code that needs them runs, as Optuna's and SciPy's lazy faces do, and the
CLI's start stays fast.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

__all__ = ["face"]


def face(package: str, names: dict[str, str]) -> tuple[Callable[[str], Any],
                                                       Callable[[], list[str]]]:
    """``__getattr__`` and ``__dir__`` for a package that offers ``names``.

    Args:
        package: the package's ``__name__``.
        names: each offered name -> the private module (relative, ``"._driver"``) defining it.
    """

    def __getattr__(name: str) -> Any:
        module = names.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(module, package), name)
        globals_of(package)[name] = value  # the next read is an ordinary attribute
        return value

    def __dir__() -> list[str]:
        return sorted(set(globals_of(package)) | set(names))

    return __getattr__, __dir__


def globals_of(package: str) -> dict[str, Any]:
    """The package module's namespace."""
    import sys

    return vars(sys.modules[package])
