"""The trials tables as files: ``trials.csv``, ``trials.parquet`` and ``intermediate.csv``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hpsearch._files import atomic_path
from hpsearch.results._tables import intermediate_frame, trials_frame

__all__ = ["export_tables"]


def export_tables(study: Any, out_dir: str | Path, config: Any = None) -> dict[str, Path]:
    """Write ``trials.csv``, ``trials.parquet`` and ``intermediate.csv`` under ``out_dir``.

    Each file is written whole or not at all (a temporary name renamed into place).

    Returns:
        File kind -> path written (keys ``trials_csv``, ``trials_parquet``,
        ``intermediate_csv``).
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    frame = trials_frame(study, config)
    paths = {"trials_csv": out / "trials.csv", "trials_parquet": out / "trials.parquet",
             "intermediate_csv": out / "intermediate.csv"}
    # Parquet needs one type per column: a mixed parameter ("he" or 0.01) is stored as text.
    mixed = [c for c in frame.columns if frame[c].dtype == object]
    writes = {"trials_csv": lambda p: frame.to_csv(p, index=False),
              "trials_parquet": lambda p: frame.astype(dict.fromkeys(mixed, "string"))
              .to_parquet(p, index=False),
              "intermediate_csv": lambda p: intermediate_frame(study).to_csv(p, index=False)}
    for kind, write in writes.items():
        with atomic_path(paths[kind]) as tmp:
            write(tmp)
    return paths
