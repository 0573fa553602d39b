"""The study file: its schema, the search space, the samplers and pruners, stored studies.

What belongs here: everything that turns a TOML study file (or a ``StudyConfig`` built in code)
into a frozen, validated description of a study, and that finds a stored study with the file it
ran with. No Ray, no training; errors name the file, the key and what was expected.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from hpsearch._lazy import face

if TYPE_CHECKING:
    from ._config import (
        MAX_STUDY_FILE_BYTES,
        MAX_TRIALS,
        PRUNERS,
        PRUNERS_DECIDING_BY_TRIAL_NUMBER,
        SAMPLERS,
        ConfigError,
        RunSettings,
        SelectionSettings,
        StudyConfig,
        check_memory,
        check_space_against_data,
        load_study_config,
        parse_study_config,
    )
    from ._space import (
        PARAMETERS,
        Choice,
        Fixed,
        FloatRange,
        Grid,
        IntRange,
        ParamDecl,
        ParamSpec,
        SpaceError,
        budget_epochs,
        discrete_values,
        estimate_trial_bytes,
        grid_search_space,
        largest_configurations,
        parse_space,
        resolve_params,
        space_to_json,
        space_values,
        suggest_params,
    )
    from ._stored import (
        StoredStudy,
        find_study,
    )

_NAMES = {
    "ConfigError": "._config",
    "MAX_STUDY_FILE_BYTES": "._config",
    "MAX_TRIALS": "._config",
    "PRUNERS": "._config",
    "PRUNERS_DECIDING_BY_TRIAL_NUMBER": "._config",
    "RunSettings": "._config",
    "SAMPLERS": "._config",
    "SelectionSettings": "._config",
    "StudyConfig": "._config",
    "check_memory": "._config",
    "check_space_against_data": "._config",
    "load_study_config": "._config",
    "parse_study_config": "._config",
    "Choice": "._space",
    "Fixed": "._space",
    "FloatRange": "._space",
    "Grid": "._space",
    "IntRange": "._space",
    "PARAMETERS": "._space",
    "ParamDecl": "._space",
    "ParamSpec": "._space",
    "SpaceError": "._space",
    "budget_epochs": "._space",
    "discrete_values": "._space",
    "estimate_trial_bytes": "._space",
    "grid_search_space": "._space",
    "largest_configurations": "._space",
    "parse_space": "._space",
    "resolve_params": "._space",
    "space_to_json": "._space",
    "space_values": "._space",
    "suggest_params": "._space",
    "StoredStudy": "._stored",
    "find_study": "._stored",
}
__all__ = [
    "MAX_STUDY_FILE_BYTES",
    "MAX_TRIALS",
    "PARAMETERS",
    "PRUNERS",
    "PRUNERS_DECIDING_BY_TRIAL_NUMBER",
    "SAMPLERS",
    "Choice",
    "ConfigError",
    "Fixed",
    "FloatRange",
    "Grid",
    "IntRange",
    "ParamDecl",
    "ParamSpec",
    "RunSettings",
    "SelectionSettings",
    "SpaceError",
    "StoredStudy",
    "StudyConfig",
    "budget_epochs",
    "check_memory",
    "check_space_against_data",
    "discrete_values",
    "estimate_trial_bytes",
    "find_study",
    "grid_search_space",
    "largest_configurations",
    "load_study_config",
    "parse_space",
    "parse_study_config",
    "resolve_params",
    "space_to_json",
    "space_values",
    "suggest_params",
]
__getattr__, __dir__ = face(__name__, _NAMES)
