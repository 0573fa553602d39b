"""Jupyter support: tqdm's notebook bar, without its warning where ipywidgets is missing.

``tqdm.auto`` picks a notebook widget in a Jupyter kernel and the text bar elsewhere. In a kernel
without ipywidgets it falls back to the text bar, which is what we want, but first warns
"IProgress not found" once, when it is first imported, and Optuna imports it (``import optuna``
does). So the face imports it here first, silenced, before anything imports Optuna.
"""

from __future__ import annotations

import sys
import warnings

__all__ = ["bar_class", "quiet_tqdm"]


def bar_class() -> type:
    """The tqdm bar for where this runs: a notebook's widget, else text on stderr."""
    from tqdm import TqdmWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", TqdmWarning)
        from tqdm.auto import tqdm
    return tqdm


def quiet_tqdm() -> None:
    """In a Jupyter kernel, import ``tqdm.auto`` now, silenced (elsewhere: nothing, no cost)."""
    if "ipykernel" in sys.modules and "tqdm.autonotebook" not in sys.modules:
        bar_class()
