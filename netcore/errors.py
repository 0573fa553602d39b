"""Errors raised by netcore beyond the built-in ``ValueError`` for bad arguments."""

from __future__ import annotations

__all__ = ["TrainingDiverged"]


class TrainingDiverged(RuntimeError):
    """The training loss became NaN or infinite.

    Attributes:
        iteration: The 1-based training iteration whose loss was not finite.
        loss: The offending loss value.
    """

    def __init__(self, iteration: int, loss: float = float("nan")) -> None:
        super().__init__(f"diverged at iteration {iteration} (loss {loss})")
        self.iteration = iteration
        self.loss = loss

    def __reduce__(self):  # keep both attributes when pickled across processes (Ray)
        return (type(self), (self.iteration, self.loss))
