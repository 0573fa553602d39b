"""The study file: its schema, the search space, the samplers and pruners, stored studies.

What belongs here: everything that turns a TOML study file (or a ``StudyConfig`` built in code)
into a frozen, validated description of a study, and that finds a stored study with the file it
ran with. No Ray, no training; errors name the file, the key and what was expected.

Behind this face: ``_rules`` (the vocabulary of allowed values: ``Interval``, ``Options``, ...),
``_schema`` (the study file's tables as data), ``_space`` (the hyperparameters and their specs),
``_algorithms`` (samplers and pruners with their traits), ``_config`` (``StudyConfig``),
``_parse`` (TOML in, ``StudyConfig`` out), ``_checks`` (the space against the data), ``_stored``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from hpsearch._lazy import face

if TYPE_CHECKING:
    from ._algorithms import (
        PRUNER_KINDS,
        PRUNERS,
        PRUNERS_DECIDING_BY_TRIAL_NUMBER,
        SAMPLER_KINDS,
        SAMPLERS,
        PrunerKind,
        SamplerKind,
    )
    from ._checks import (
        check_memory,
        check_space_against_data,
        estimate_trial_bytes,
    )
    from ._config import (
        RunSettings,
        SelectionSettings,
        StudyConfig,
    )
    from ._errors import ConfigError
    from ._objectives import (
        ACCURACY,
        COSTS,
        Cost,
        Objective,
    )
    from ._parse import (
        load_study_config,
        parse_study_config,
    )
    from ._rules import (
        AnyOf,
        Boolean,
        Constraint,
        Interval,
        ListOf,
        Options,
        Text,
        refusal,
    )
    from ._schema import (
        MAX_STUDY_FILE_BYTES,
        MAX_TRIALS,
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
        grid_combinations,
        grid_search_space,
        hidden_dims,
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
    "PRUNERS": "._algorithms",
    "PRUNERS_DECIDING_BY_TRIAL_NUMBER": "._algorithms",
    "PRUNER_KINDS": "._algorithms",
    "PrunerKind": "._algorithms",
    "SAMPLERS": "._algorithms",
    "SAMPLER_KINDS": "._algorithms",
    "SamplerKind": "._algorithms",
    "check_memory": "._checks",
    "check_space_against_data": "._checks",
    "estimate_trial_bytes": "._checks",
    "RunSettings": "._config",
    "SelectionSettings": "._config",
    "StudyConfig": "._config",
    "ConfigError": "._errors",
    "ACCURACY": "._objectives",
    "COSTS": "._objectives",
    "Cost": "._objectives",
    "Objective": "._objectives",
    "load_study_config": "._parse",
    "parse_study_config": "._parse",
    "AnyOf": "._rules",
    "Boolean": "._rules",
    "Constraint": "._rules",
    "Interval": "._rules",
    "ListOf": "._rules",
    "Options": "._rules",
    "Text": "._rules",
    "refusal": "._rules",
    "MAX_STUDY_FILE_BYTES": "._schema",
    "MAX_TRIALS": "._schema",
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
    "grid_combinations": "._space",
    "grid_search_space": "._space",
    "hidden_dims": "._space",
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
    "ACCURACY",
    "COSTS",
    "MAX_STUDY_FILE_BYTES",
    "MAX_TRIALS",
    "PARAMETERS",
    "PRUNERS",
    "PRUNERS_DECIDING_BY_TRIAL_NUMBER",
    "PRUNER_KINDS",
    "SAMPLERS",
    "SAMPLER_KINDS",
    "AnyOf",
    "Boolean",
    "Choice",
    "ConfigError",
    "Constraint",
    "Cost",
    "Fixed",
    "FloatRange",
    "Grid",
    "IntRange",
    "Interval",
    "ListOf",
    "Objective",
    "Options",
    "ParamDecl",
    "ParamSpec",
    "PrunerKind",
    "RunSettings",
    "SamplerKind",
    "SelectionSettings",
    "SpaceError",
    "StoredStudy",
    "StudyConfig",
    "Text",
    "budget_epochs",
    "check_memory",
    "check_space_against_data",
    "discrete_values",
    "estimate_trial_bytes",
    "find_study",
    "grid_combinations",
    "grid_search_space",
    "hidden_dims",
    "largest_configurations",
    "load_study_config",
    "parse_space",
    "parse_study_config",
    "refusal",
    "resolve_params",
    "space_to_json",
    "space_values",
    "suggest_params",
]
__getattr__, __dir__ = face(__name__, _NAMES)
