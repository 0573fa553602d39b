"""What a stored study says: tables, the best trial, the test-once evaluation, reruns.

What belongs here: everything that reads a stored study after (or during) its search. What a
trial is (``best_trial``, its rank, its state) lives in ``_trials``, which imports no pandas: the
search driver imports it. Tables (``_tables``, ``_export``), statistics (``_statistics``),
comparison studies (``_comparisons``), the evaluation's computation (``_evaluate``) and its data
and files (``_evaluation``) each have their module; only those that need pandas import it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from hpsearch._lazy import face

if TYPE_CHECKING:
    from ._accounting import (
        charge,
        cpu_seconds,
    )
    from ._after import (
        AfterSearch,
        after_search,
        describe,
        evaluate,
        export,
        report,
    )
    from ._comparisons import (
        MAX_SETTINGS,
        Setting,
        comparison_settings,
        gap_table,
        is_comparison,
        varied_params,
    )
    from ._evaluate import (
        boundary_mesh,
        evaluate_best,
        evaluate_settings,
        extra_seed,
    )
    from ._evaluation import (
        Choice,
        ClassScores,
        Ensemble,
        EvaluatedTrial,
        Evaluation,
        EvaluationError,
        Retrained,
        Score,
        SearchEstimate,
        SeedSpread,
        SettingsEvaluation,
        load_ensemble,
        load_evaluation,
        load_settings_evaluation,
    )
    from ._export import (
        export_tables,
    )
    from ._rerun import (
        Rerun,
        RerunError,
        rerun_trial,
    )
    from ._selection import (
        SelectionError,
        choose,
        pareto_front,
        trial_cost,
    )
    from ._statistics import (
        Estimate,
        best_estimate,
    )
    from ._tables import (
        grid_table,
        intermediate_frame,
        param_columns,
        summary_facts,
        trials_frame,
    )
    from ._trials import (
        STATES,
        TRIAL_FOLD_VALUES,
        accuracy,
        best_trial,
        count_states,
        fold_values,
        rank_key,
        ranked_trials,
        state_word,
    )

_NAMES = {
    "charge": "._accounting",
    "cpu_seconds": "._accounting",
    "AfterSearch": "._after",
    "after_search": "._after",
    "describe": "._after",
    "evaluate": "._after",
    "export": "._after",
    "report": "._after",
    "MAX_SETTINGS": "._comparisons",
    "Setting": "._comparisons",
    "comparison_settings": "._comparisons",
    "gap_table": "._comparisons",
    "is_comparison": "._comparisons",
    "varied_params": "._comparisons",
    "boundary_mesh": "._evaluate",
    "evaluate_best": "._evaluate",
    "evaluate_settings": "._evaluate",
    "extra_seed": "._evaluate",
    "ClassScores": "._evaluation",
    "Ensemble": "._evaluation",
    "EvaluatedTrial": "._evaluation",
    "Evaluation": "._evaluation",
    "EvaluationError": "._evaluation",
    "Retrained": "._evaluation",
    "Score": "._evaluation",
    "SearchEstimate": "._evaluation",
    "SeedSpread": "._evaluation",
    "SettingsEvaluation": "._evaluation",
    "load_ensemble": "._evaluation",
    "load_evaluation": "._evaluation",
    "load_settings_evaluation": "._evaluation",
    "export_tables": "._export",
    "Rerun": "._rerun",
    "RerunError": "._rerun",
    "rerun_trial": "._rerun",
    "Choice": "._evaluation",
    "SelectionError": "._selection",
    "choose": "._selection",
    "pareto_front": "._selection",
    "trial_cost": "._selection",
    "Estimate": "._statistics",
    "best_estimate": "._statistics",
    "grid_table": "._tables",
    "intermediate_frame": "._tables",
    "param_columns": "._tables",
    "summary_facts": "._tables",
    "trials_frame": "._tables",
    "STATES": "._trials",
    "TRIAL_FOLD_VALUES": "._trials",
    "accuracy": "._trials",
    "best_trial": "._trials",
    "count_states": "._trials",
    "fold_values": "._trials",
    "rank_key": "._trials",
    "ranked_trials": "._trials",
    "state_word": "._trials",
}
__all__ = [
    "MAX_SETTINGS",
    "STATES",
    "TRIAL_FOLD_VALUES",
    "AfterSearch",
    "Choice",
    "ClassScores",
    "Ensemble",
    "Estimate",
    "EvaluatedTrial",
    "Evaluation",
    "EvaluationError",
    "Rerun",
    "RerunError",
    "Retrained",
    "Score",
    "SearchEstimate",
    "SeedSpread",
    "SelectionError",
    "Setting",
    "SettingsEvaluation",
    "accuracy",
    "after_search",
    "best_estimate",
    "best_trial",
    "boundary_mesh",
    "charge",
    "choose",
    "comparison_settings",
    "count_states",
    "cpu_seconds",
    "describe",
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
    "pareto_front",
    "rank_key",
    "ranked_trials",
    "report",
    "rerun_trial",
    "state_word",
    "summary_facts",
    "trial_cost",
    "trials_frame",
    "varied_params",
]
__getattr__, __dir__ = face(__name__, _NAMES)
