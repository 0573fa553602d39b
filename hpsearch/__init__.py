"""hpsearch: hyperparameter search for small neural nets on Ray, driven by Optuna."""

__version__ = "0.1.0"

__all__ = ["__version__"]
