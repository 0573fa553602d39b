"""Small, fast study files for end-to-end tests (digits subsample, few epochs)."""

from __future__ import annotations

from pathlib import Path

from hpsearch.study import StudyConfig, load_study_config


def write_study(tmp_path: Path, name: str, body: str, n_train: int = 300) -> StudyConfig:
    """Write ``<tmp_path>/<name>.toml`` (digits, ``n_train`` examples) and load it."""
    text = f"""# test study {name}
[study]
name = "{name}"
seed = 3
{body}
"""
    if "[dataset]" not in body:
        text += f"\n[dataset]\nname = \"digits\"\nn_train = {n_train}\n"
    path = tmp_path / f"{name}.toml"
    path.write_text(text)
    return load_study_config(path)
