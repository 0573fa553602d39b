"""The arbiter actor on a real local Ray (2 CPUs): one per cluster, rebuilt from asks."""

from __future__ import annotations

import time

import pytest

from hpsearch.service._arbiter import Ask
from hpsearch.service._arbiter_actor import (
    ARBITER_NAME,
    ARBITER_NAMESPACE,
    ArbiterClient,
    arbiter_table,
    get_arbiter,
)


@pytest.fixture
def ray(ray_local):
    """Ray, and no arbiter before or after the test (it is detached: it would outlive it)."""
    _kill_arbiter(ray_local)
    yield ray_local
    _kill_arbiter(ray_local)


def _kill_arbiter(ray) -> None:
    handle = get_arbiter(create=False)
    if handle is not None:
        ray.kill(handle)
        _until(lambda: get_arbiter(create=False) is None, "the killed arbiter's name is free")


def _until(check, what: str, timeout_s: float = 30.0):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if value := check():
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting until {what}")


def test_get_or_create_gives_one_detached_arbiter_without_a_cpu(ray):
    assert get_arbiter(create=False) is None
    first, second = get_arbiter(), get_arbiter()
    assert first._actor_id == second._actor_id
    assert ray.get(first.table.remote(), timeout=60) == []  # started, and empty
    named = ray.util.list_named_actors(all_namespaces=True)
    assert {"name": ARBITER_NAME, "namespace": ARBITER_NAMESPACE} in named
    # It holds no trial slot (the view of free CPUs lags a little).
    _until(lambda: ray.available_resources().get("CPU") == 2, "both CPUs are free")


def test_drivers_creating_it_at_once_end_with_one(ray):
    @ray.remote(num_cpus=0)
    def create() -> str:
        return get_arbiter()._actor_id.hex()

    ids = ray.get([create.remote() for _ in range(4)], timeout=120)
    assert len(set(ids)) == 1
    assert get_arbiter(create=False)._actor_id.hex() == ids[0]


def test_two_drivers_share_the_cluster(ray):
    a, b = ArbiterClient(timeout_s=60), ArbiterClient(timeout_s=60)
    assert a.ask(Ask("a", "s", demand=4)).slots == 2  # alone: the cluster's 2 CPUs
    assert b.ask(Ask("b", "t", demand=4)).slots == 1
    grant = a.ask(Ask("a", "s", demand=4))
    assert (grant.slots, grant.cpus, grant.share, grant.stale) == (1, 2.0, 0.5, False)
    rows = arbiter_table(timeout_s=30)
    assert [r.ask.study for r in rows] == ["s", "t"]
    b.close()  # b finished: a has it all again
    assert [r.ask.driver for r in arbiter_table(timeout_s=30)] == ["a"]
    assert a.ask(Ask("a", "s", demand=4)).slots == 2


@pytest.mark.parametrize("restarted", [False, True], ids=["killed", "restarted"])
def test_a_lost_arbiter_leaves_the_last_grant_and_is_rebuilt_from_asks(ray, restarted):
    a, b = ArbiterClient(timeout_s=60), ArbiterClient(timeout_s=60)
    a.ask(Ask("a", "s", demand=4))
    b.ask(Ask("b", "t", demand=4))
    last = a.ask(Ask("a", "s", demand=4))
    assert last.slots == 1

    # Killed for good (the clients create a new one), or restarted by Ray, empty.
    ray.kill(get_arbiter(create=False), no_restart=not restarted)
    a.timeout_s = b.timeout_s = 5.0
    stale = a.ask(Ask("a", "s", demand=4, running=1))
    if stale.stale:  # a restarted one may already answer, from a's ask alone
        assert stale.slots == last.slots and stale.preempt == 0

    # The next asks create a new arbiter; it learns both drivers again from their asks.
    def rebuilt():
        grants = [a.ask(Ask("a", "s", demand=4, running=1)), b.ask(Ask("b", "t", demand=4))]
        return None if any(g.stale for g in grants) else grants

    _until(rebuilt, "a new arbiter answers", timeout_s=60)
    grants = rebuilt()
    assert sorted(g.slots for g in grants) == [1, 1]
    assert sorted(r.ask.driver for r in arbiter_table(timeout_s=30)) == ["a", "b"]


def test_a_driver_that_never_reached_an_arbiter_runs_as_if_alone(monkeypatch):
    import hpsearch.service._arbiter_actor as actor

    def unreachable(**_):
        raise ConnectionError("no cluster")

    monkeypatch.setattr(actor, "get_arbiter", unreachable)
    grant = ArbiterClient().ask(Ask("a", "s", max_cpus=3, demand=5))
    assert grant.stale and grant.slots == 3 and grant.preempt == 0
