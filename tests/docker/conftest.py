"""Each test's outcome on its item (``item.rep_call``), so a fixture's finalizer can tell a failed
test from a passed one (tests/docker/test_compose_engine.py prints the containers' logs then)."""

from __future__ import annotations

import pytest


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    setattr(item, f"rep_{report.when}", report)
