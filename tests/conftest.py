"""Shared fixtures. Ray starts at most once per session and only for tests that ask for it."""

from __future__ import annotations

import os

import pytest
from _trial_hold import ENV, TrialHold

# One BLAS thread everywhere in tests: reproducible numbers, no oversubscription on 2 cores.
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")


@pytest.fixture(scope="session")
def hold_folder(tmp_path_factory) -> TrialHold:
    """The session's trial-hold folder (``tests/_trial_hold.py``); use ``hold`` in a test."""
    return TrialHold(tmp_path_factory.mktemp("hold"))


@pytest.fixture(scope="session")
def ray_local(hold_folder):
    """A real local Ray instance (2 CPUs, no dashboard), shut down after the session.

    Its workers can be held by a test (``hold``): they inherit ``HPSEARCH_TEST_HOLD`` from the
    environment ``ray.init`` starts the instance with; this process's own is left as it was.
    """
    import ray

    if ray.is_initialized():
        ray.shutdown()
    before = os.environ.get(ENV)
    os.environ[ENV] = str(hold_folder.folder)
    try:
        ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False)
    finally:
        if before is None:
            del os.environ[ENV]
        else:
            os.environ[ENV] = before
    yield ray
    ray.shutdown()


@pytest.fixture
def hold(hold_folder):
    """Hold trials of this test's studies (local Ray, or a CLI subprocess given ``hold.env``).

    Nothing is held at the start; everything is released at the end, whatever happened, so a
    failed test leaves no trial waiting.
    """
    hold_folder.reset()
    yield hold_folder
    hold_folder.reset()
