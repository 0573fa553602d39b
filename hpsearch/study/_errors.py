"""How a study file's errors are worded: ``FILE: [section] key: expected WHAT, got VALUE``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hpsearch.study._rules import Constraint, refusal

__all__ = ["ConfigError", "key_where", "refused"]


class ConfigError(ValueError):
    """A study file that cannot be run; the message names the file, the key and the expectation."""


def key_where(source: Path | str | None, key: str) -> str:
    """Where ``key`` is in a study file, for a message.

    The first part of a dotted key is its table: "run.storage" is ``FILE: [run] storage``,
    "space.reg.step" is ``FILE: [space] reg.step`` and "space" is ``FILE: [space]``. Parse-time
    and run-time errors both name keys this way (``StudyConfig.where``).

    Args:
        source: the study file, or None for a study parsed from a string (``<study>``).
        key: a dotted key such as "run.storage".
    """
    section, _, rest = key.partition(".")
    head = f"{source or '<study>'}: [{section}]"
    return f"{head} {rest}" if rest else head


def refused(source: Path | str | None, key: str, constraint: Constraint | str,
            value: Any) -> ConfigError:
    """The error for a value of ``key`` that ``constraint`` does not allow."""
    return ConfigError(refusal(key_where(source, key), constraint, value))
