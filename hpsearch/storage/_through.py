"""The study-level half of the single-writer storage: every call goes straight to the backend.

Study attributes are written rarely (a study's configuration once, a stop request from another
process) and readers elsewhere must see them at once, so nothing of them is kept in memory. Kept
apart from ``SingleWriterStorage`` so that class holds only what it changes: trials.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from optuna.storages import BaseStorage

if TYPE_CHECKING:
    from optuna.study import FrozenStudy

__all__ = ["StudiesThroughToBackend"]


class StudiesThroughToBackend(BaseStorage):
    """A ``BaseStorage`` whose study names, attributes and sessions are ``backend``'s own.

    Args:
        backend: the storage that keeps the study.
    """

    def __init__(self, backend: BaseStorage) -> None:
        self._backend = backend

    @property
    def backend(self) -> BaseStorage:
        """The storage that keeps the study."""
        return self._backend

    def set_study_user_attr(self, study_id: int, key: str, value: Any) -> None:
        self._backend.set_study_user_attr(study_id, key, value)

    def set_study_system_attr(self, study_id: int, key: str, value: Any) -> None:
        self._backend.set_study_system_attr(study_id, key, value)

    def get_study_name_from_id(self, study_id: int) -> str:
        return self._backend.get_study_name_from_id(study_id)

    def get_study_user_attrs(self, study_id: int) -> dict[str, Any]:
        return self._backend.get_study_user_attrs(study_id)

    def get_study_system_attrs(self, study_id: int) -> dict[str, Any]:
        return self._backend.get_study_system_attrs(study_id)

    def get_all_studies(self) -> list[FrozenStudy]:
        return self._backend.get_all_studies()

    def remove_session(self) -> None:
        self._backend.remove_session()
