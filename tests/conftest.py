"""Shared fixtures. Ray starts at most once per session and only for tests that ask for it."""

from __future__ import annotations

import os

import pytest

# One BLAS thread everywhere in tests: reproducible numbers, no oversubscription on 2 cores.
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")


@pytest.fixture(scope="session")
def ray_local():
    """A real local Ray instance (2 CPUs, no dashboard), shut down after the session."""
    import ray

    if ray.is_initialized():
        ray.shutdown()
    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield ray
    ray.shutdown()
