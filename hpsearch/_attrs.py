"""Names of the attributes the engine stores on Optuna studies and trials.

The engine (engine.py, driver.py) writes them; results, evaluation and reports read them. Keeping
the names in one place means a typo is an AttributeError, not a silently missing column.
"""

# --- study.user_attrs -------------------------------------------------------------------------
STUDY_CONFIG_TEXT = "config_toml"  # the study file's text, as run
STUDY_CONFIG_PATH = "config_path"  # where it was read from
STUDY_METRIC = "metric"  # "val_accuracy"
STUDY_DATASET = "dataset"  # dataset name
STUDY_FINGERPRINT = "dataset_fingerprint"
STUDY_BUDGET_EPOCHS = "budget_epochs"  # full per-trial budget in epochs (max over the space)
STUDY_SPACE = "space"  # JSON-able description of the search space (name -> spec dict)
STUDY_SAMPLER = "sampler"
STUDY_PRUNER = "pruner"
STUDY_TARGET = "target_trials"  # the latest run's target (a run's --n-trials overrides the file)
STUDY_VERSIONS = "versions"  # {"hpsearch": ..., "numpy": ..., "optuna": ..., "ray": ...}
STUDY_CPU_SECONDS = "cpu_seconds"  # {"trials": ..., "evaluation": ...} (results/_accounting.py)
STUDY_LAG = "reproducible_lag"  # a reproducible study's lag (search/_scheduling.py: Lagged)

# --- trial.user_attrs -------------------------------------------------------------------------
TRIAL_SEED = "seed"  # int, derived from the study seed and the trial number
TRIAL_NODE = "node"  # Ray node id (hex) that ran the trial
TRIAL_NODE_IP = "node_ip"
TRIAL_DURATION = "duration_s"  # wall seconds spent in the worker
TRIAL_STARTED_AT = "started_at"  # when the worker began training: seconds since the Unix epoch
TRIAL_EPOCHS_RUN = "epochs_run"
TRIAL_FINGERPRINT = "dataset_fingerprint"
TRIAL_FAILURE = "failure_reason"  # str, only on FAIL trials
TRIAL_PRUNED_AT = "pruned_at_epoch"  # int, only on PRUNED trials: the epoch it stopped after
TRIAL_PRUNE_DECIDED_AT = "prune_decided_at"  # int: the epoch whose report the pruner stopped
TRIAL_HISTORY = "history"  # {"loss": [per-epoch mean], "train_acc": [...], "val_acc": [...]}
TRIAL_FOLD_VALUES = "fold_values"  # [per-fold validation accuracy], cross-validated studies
TRIAL_FIRST_FOLD_CURVE = "first_fold_curve"  # [val acc per epoch of fold 1], first-fold pruning
TRIAL_COSTS = "costs"  # {"n_params": ..., "train_cpu_s": ..., "epochs": ...} measured by the worker
TRIAL_RETRY_OF = "retry_of"  # number of the trial this one re-runs (interrupted / crashed)

# Failure reason given to trials left RUNNING by a driver that died or was interrupted.
REASON_INTERRUPTED = "interrupted"
# Failure reason of a trial failed from outside while it ran (dashboard, `hpsearch stop --trial`).
REASON_STOPPED_BY_USER = "stopped by user"
