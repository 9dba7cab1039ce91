"""The hub's clock (:mod:`exchange.clock`): real time outside a simulation; inside one (the
demo's history only), a clock that starts in the past, moves forward only, never passes the
real time, and is seen by the code that entered it and what that code hands to a pool with its
context, never by another thread."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from contextvars import copy_context
from datetime import UTC, datetime, timedelta, timezone

import pytest

from exchange import clock


def _close(a: datetime, b: datetime, within: timedelta = timedelta(seconds=5)) -> bool:
    return abs(a - b) < within


def test_outside_a_simulation_the_clock_is_the_real_time_in_utc() -> None:
    now = clock.now()
    assert now.utcoffset() == timedelta(0)
    assert _close(now, datetime.now(UTC))


def test_a_simulation_reads_its_own_time_and_ends_with_the_block() -> None:
    start = datetime.now(UTC) - timedelta(days=28)
    with clock.simulated(start) as simulated:
        assert _close(clock.now(), start)
        later = simulated.set(start + timedelta(days=3, hours=2))
        assert clock.now() >= later
        assert _close(clock.now(), later)
        simulated.advance(timedelta(hours=1))
        assert _close(clock.now(), later + timedelta(hours=1))
    assert _close(clock.now(), datetime.now(UTC))


def test_the_simulated_clock_runs_forward_between_moves() -> None:
    with clock.simulated(datetime.now(UTC) - timedelta(days=1)):
        first = clock.now()
        assert all(clock.now() >= first for _ in range(100))


def test_it_moves_forward_only_and_never_past_the_real_time() -> None:
    start = datetime.now(UTC) - timedelta(days=2)
    with clock.simulated(start) as simulated:
        simulated.set(start + timedelta(hours=5))
        with pytest.raises(ValueError, match="forward only"):
            simulated.set(start + timedelta(hours=4))
        with pytest.raises(ValueError, match="does not pass the real time"):
            simulated.set(datetime.now(UTC) + timedelta(minutes=1))
        assert _close(clock.now(), start + timedelta(hours=5))  # a refused move changes nothing


def test_it_starts_in_the_past_with_an_aware_time_and_does_not_nest() -> None:
    with (
        pytest.raises(ValueError, match="in the past"),
        clock.simulated(datetime.now(UTC) + timedelta(hours=1)),
    ):
        pass
    with pytest.raises(ValueError, match="aware"), clock.simulated(datetime(2026, 1, 1)):
        pass
    with (
        clock.simulated(datetime.now(UTC) - timedelta(days=1)),
        pytest.raises(RuntimeError, match="already running"),
        clock.simulated(datetime.now(UTC) - timedelta(days=2)),
    ):
        pass


def test_an_aware_time_in_another_zone_is_the_same_instant() -> None:
    china = timezone(timedelta(hours=8))
    start = datetime.now(china) - timedelta(days=1)
    with clock.simulated(start):
        assert _close(clock.now(), start)
        assert clock.now().utcoffset() == timedelta(0)


def test_another_thread_sees_the_real_time_and_a_handed_context_the_simulated_one() -> None:
    start = datetime.now(UTC) - timedelta(days=10)
    seen: list[datetime] = []
    with clock.simulated(start):
        other = threading.Thread(target=lambda: seen.append(clock.now()))
        other.start()
        other.join()
        with ThreadPoolExecutor(1) as pool:
            handed = pool.submit(copy_context().run, clock.now).result()
            bare = pool.submit(clock.now).result()
    assert _close(seen[0], datetime.now(UTC))  # a request served meanwhile: real time
    assert _close(handed, start)
    assert _close(bare, datetime.now(UTC))
