"""The command line: parsing and printing only; every command calls the library."""

from __future__ import annotations

from typing import TYPE_CHECKING

from hpsearch._lazy import face

if TYPE_CHECKING:
    from ._main import (
        main,
    )

_NAMES = {
    "main": "._main",
}
__all__ = [
    "main",
]
__getattr__, __dir__ = face(__name__, _NAMES)
