"""What a stored study says: tables, the best trial, the test-once evaluation, reruns.

What belongs here: everything that reads a stored study after (or during) its search. Only the
functions that need pandas import it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from hpsearch._lazy import face

if TYPE_CHECKING:
    from ._after import (
        AfterSearch,
        after_search,
        evaluate,
        export,
        report,
    )
    from ._evaluate import (
        Evaluation,
        EvaluationError,
        SettingsEvaluation,
        boundary_mesh,
        evaluate_best,
        evaluate_settings,
        extra_seed,
        load_ensemble,
        load_evaluation,
        load_settings_evaluation,
    )
    from ._rerun import (
        Rerun,
        RerunError,
        rerun_trial,
    )
    from ._tables import (
        MAX_SETTINGS,
        STATES,
        TRIAL_FOLD_VALUES,
        Selection,
        Setting,
        best_trial,
        comparison_settings,
        export_tables,
        fold_values,
        gap_table,
        grid_table,
        intermediate_frame,
        is_comparison,
        param_columns,
        selection,
        summary_facts,
        trials_frame,
        varied_params,
    )

_NAMES = {
    "AfterSearch": "._after",
    "after_search": "._after",
    "evaluate": "._after",
    "export": "._after",
    "report": "._after",
    "Evaluation": "._evaluate",
    "EvaluationError": "._evaluate",
    "SettingsEvaluation": "._evaluate",
    "boundary_mesh": "._evaluate",
    "evaluate_best": "._evaluate",
    "evaluate_settings": "._evaluate",
    "extra_seed": "._evaluate",
    "load_ensemble": "._evaluate",
    "load_evaluation": "._evaluate",
    "load_settings_evaluation": "._evaluate",
    "Rerun": "._rerun",
    "RerunError": "._rerun",
    "rerun_trial": "._rerun",
    "MAX_SETTINGS": "._tables",
    "STATES": "._tables",
    "Selection": "._tables",
    "Setting": "._tables",
    "TRIAL_FOLD_VALUES": "._tables",
    "best_trial": "._tables",
    "comparison_settings": "._tables",
    "export_tables": "._tables",
    "fold_values": "._tables",
    "gap_table": "._tables",
    "grid_table": "._tables",
    "intermediate_frame": "._tables",
    "is_comparison": "._tables",
    "param_columns": "._tables",
    "selection": "._tables",
    "summary_facts": "._tables",
    "trials_frame": "._tables",
    "varied_params": "._tables",
}
__all__ = [
    "MAX_SETTINGS",
    "STATES",
    "TRIAL_FOLD_VALUES",
    "AfterSearch",
    "Evaluation",
    "EvaluationError",
    "Rerun",
    "RerunError",
    "Selection",
    "Setting",
    "SettingsEvaluation",
    "after_search",
    "best_trial",
    "boundary_mesh",
    "comparison_settings",
    "evaluate",
    "evaluate_best",
    "evaluate_settings",
    "export",
    "export_tables",
    "extra_seed",
    "fold_values",
    "gap_table",
    "grid_table",
    "intermediate_frame",
    "is_comparison",
    "load_ensemble",
    "load_evaluation",
    "load_settings_evaluation",
    "param_columns",
    "report",
    "rerun_trial",
    "selection",
    "summary_facts",
    "trials_frame",
    "varied_params",
]
__getattr__, __dir__ = face(__name__, _NAMES)
