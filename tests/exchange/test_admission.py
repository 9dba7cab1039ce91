"""Admission control in one process: a slow ASGI app behind the hub's middleware stack admits up
to its bound, queues a few, refuses the rest at once with 503 ``overloaded`` (problem+json,
``Retry-After``, the security headers and the request id), never refuses the probes, and counts
what it refused in ``/metrics``."""

from __future__ import annotations

import asyncio
import logging
import secrets
import threading
import time
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from starlette.types import Receive, Scope, Send

from exchange.api.admission import (
    RETRY_AFTER_S,
    Admission,
    AdmissionGate,
    AdmissionLimits,
)
from exchange.api.headers import SecurityHeaders
from exchange.api.problems import PROBLEM_JSON, RequestContext
from exchange.app import create_app
from exchange.db import make_engine, migrate
from exchange.security.identity import Role
from exchange.settings import Settings


class SlowApp:
    """An ASGI app whose every answer waits until the test opens ``gate``; counts the calls
    that reached it and the most that ran at once."""

    def __init__(self) -> None:
        self.gate = asyncio.Event()
        self.running = 0
        self.most = 0
        self.reached = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.reached += 1
        self.running += 1
        self.most = max(self.most, self.running)
        try:
            await self.gate.wait()
        finally:
            self.running -= 1
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"done"})


def stack(app: SlowApp, limits: AdmissionLimits, gate: AdmissionGate | None = None) -> Any:
    """The hub's order: security headers, then the request context, then admission."""
    gate = gate or AdmissionGate(limits)
    return SecurityHeaders(RequestContext(Admission(app, gate=gate), max_body_bytes=1024))


def served(asgi: Any) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=asgi), base_url="http://hub")


async def settle(condition: Callable[[], bool]) -> None:
    """Let the event loop run until ``condition`` holds (the requests reached their places)."""
    for _ in range(1000):
        if condition():
            return
        await asyncio.sleep(0.001)
    raise AssertionError("the requests never reached the expected state")


def assert_overloaded(answer: httpx.Response) -> None:
    assert answer.status_code == 503
    assert answer.headers["content-type"] == PROBLEM_JSON
    assert answer.headers["retry-after"] == str(RETRY_AFTER_S)
    assert answer.headers["x-content-type-options"] == "nosniff"
    assert answer.headers["cache-control"] == "no-store"
    problem = answer.json()
    assert problem["code"] == "overloaded"
    assert problem["type"] == "https://tongban.example/problems/overloaded"
    assert problem["status"] == 503
    assert problem["retry_after"] == RETRY_AFTER_S
    assert problem["request_id"] == answer.headers["x-request-id"]


def run(test: Callable[[], Coroutine[Any, Any, None]]) -> None:
    """Run ``test`` in a new event loop; one that hangs (a request let through that should
    have been refused waits for the gate forever) fails after 20 s instead."""
    failed: list[BaseException] = []

    def in_its_own_loop() -> None:
        try:
            asyncio.run(asyncio.wait_for(test(), 20))
        except BaseException as exc:  # noqa: BLE001 - handed back to the test's thread
            failed.append(exc)

    # A thread of its own: the test's thread may already run an event loop (Playwright's sync
    # API keeps one in the main thread of a worker that ran the browser tests).
    thread = threading.Thread(target=in_its_own_loop)
    thread.start()
    thread.join()
    if failed:
        raise failed[0]


def test_admits_up_to_the_bound_queues_a_few_and_refuses_the_rest_at_once() -> None:
    async def scenario() -> None:
        app = SlowApp()
        async with served(stack(app, AdmissionLimits(2, 2, 10_000))) as http:
            waiting = [asyncio.create_task(http.get(f"/work/{i}")) for i in range(4)]
            await settle(lambda: app.running == 2)
            started = time.perf_counter()
            refused = await asyncio.gather(*(http.get("/work/more") for _ in range(3)))
            refused_in = time.perf_counter() - started
            for answer in refused:
                assert_overloaded(answer)
            assert refused_in < 1.0  # at once, not after the queue wait of 10 s
            assert app.reached == 2  # the queued two wait; the refused never reached the app
            app.gate.set()
            admitted = await asyncio.gather(*waiting)
        assert [a.status_code for a in admitted] == [200] * 4
        assert app.reached == 4
        assert app.most == 2

    run(scenario)


def test_a_request_that_waits_its_bound_in_the_queue_is_refused() -> None:
    async def scenario() -> None:
        app = SlowApp()
        gate = AdmissionGate(AdmissionLimits(1, 4, 50))
        async with served(stack(app, gate.limits, gate)) as http:
            holding = asyncio.create_task(http.get("/work/long"))
            await settle(lambda: app.running == 1)
            started = time.perf_counter()
            answer = await http.get("/work/next")
            waited = time.perf_counter() - started
            assert_overloaded(answer)
            assert 0.05 <= waited < 2.0
            app.gate.set()
            assert (await holding).status_code == 200
            assert (await http.get("/work/after")).status_code == 200  # the slot was freed
        assert app.reached == 2
        assert gate.refused_by == {"queue_full": 0, "wait_estimate": 0, "waited_bound": 1}

    run(scenario)


def test_a_request_that_would_wait_past_its_bound_is_refused_without_waiting() -> None:
    async def scenario() -> None:
        gate = AdmissionGate(AdmissionLimits(2, 8, 100))
        assert await gate.enter()
        gate.leave(held_s=3.0)  # the requests have been taking long: 0.3 s on average now
        assert gate.service_s == pytest.approx(0.3)
        assert await gate.enter()
        assert await gate.enter()
        started = time.perf_counter()
        assert not await gate.enter()  # one ahead of two slots: about 0.15 s > 0.1 s
        assert time.perf_counter() - started < 0.05
        assert (gate.refused, gate.queue_depth) == (1, 0)
        assert gate.refused_by == {"queue_full": 0, "wait_estimate": 1, "waited_bound": 0}

    run(scenario)


def test_a_freed_slot_goes_to_the_oldest_waiting_request() -> None:
    async def scenario() -> None:
        gate = AdmissionGate(AdmissionLimits(1, 3, 10_000))
        order: list[int] = []
        assert await gate.enter()

        async def wait(n: int) -> None:
            assert await gate.enter()
            order.append(n)
            gate.leave()

        waiters = []
        for n in range(3):
            waiters.append(asyncio.create_task(wait(n)))
            await settle(lambda n=n: gate.queue_depth == n + 1)  # type: ignore[misc]
        gate.leave()
        await asyncio.gather(*waiters)
        assert order == [0, 1, 2]
        assert (gate.in_flight, gate.queue_depth, gate.refused) == (0, 0, 0)

    run(scenario)


def test_a_request_cancelled_while_it_waits_leaves_no_trace() -> None:
    async def scenario() -> None:
        gate = AdmissionGate(AdmissionLimits(1, 1, 10_000))
        assert await gate.enter()
        waiter = asyncio.create_task(gate.enter())
        await settle(lambda: gate.queue_depth == 1)
        waiter.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiter
        assert gate.queue_depth == 0
        gate.leave()
        assert (gate.in_flight, gate.refused) == (0, 0)

    run(scenario)


def test_probes_and_metrics_are_never_queued_or_refused() -> None:
    async def scenario() -> None:
        app = SlowApp()
        async with served(stack(app, AdmissionLimits(1, 0, 0))) as http:
            holding = asyncio.create_task(http.get("/work/long"))
            await settle(lambda: app.running == 1)
            assert_overloaded(await http.get("/work/next"))
            probes = [asyncio.create_task(http.get(p)) for p in ("/healthz", "/readyz", "/metrics")]
            await settle(lambda: app.running == 4)  # all three reached the app past the bound
            app.gate.set()
            assert [(await p).status_code for p in probes] == [200, 200, 200]
            assert (await holding).status_code == 200

    run(scenario)


def test_the_consoles_files_load_past_the_bound_but_a_post_under_them_does_not() -> None:
    async def scenario() -> None:
        app = SlowApp()
        async with served(stack(app, AdmissionLimits(1, 0, 0))) as http:
            holding = asyncio.create_task(http.get("/work/long"))
            await settle(lambda: app.running == 1)
            files = ("/console", "/console/js/app.js", "/console/i18n/zh.json", "/static/x.css")
            loads = [asyncio.create_task(http.get(p)) for p in files]
            await settle(lambda: app.running == 5)  # a page's files all reached the app
            assert_overloaded(await http.post("/console/anything"))  # only reads are files
            assert_overloaded(await http.get("/consoles"))  # a prefix of a word is not one
            app.gate.set()
            assert [(await f).status_code for f in loads] == [200] * len(files)
            assert (await holding).status_code == 200

    run(scenario)


def test_refusals_are_logged_at_most_once_per_interval_without_the_path(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def scenario() -> None:
        app = SlowApp()
        async with served(stack(app, AdmissionLimits(1, 0, 0))) as http:
            holding = asyncio.create_task(http.get("/work/long"))
            await settle(lambda: app.running == 1)
            for _ in range(5):
                assert_overloaded(await http.get("/citizen/11010519491231002X"))
            app.gate.set()
            await holding

    with caplog.at_level(logging.WARNING, logger="tongban.http"):
        run(scenario)
    warnings = [r.getMessage() for r in caplog.records if r.name == "tongban.http"]
    assert len(warnings) == 1
    assert "refused 1 request" in warnings[0]
    assert "11010519491231002X" not in warnings[0]
    assert "/citizen" not in warnings[0]


# -- the hub's own app ------------------------------------------------------------------------


@pytest.fixture
def hub_settings(tmp_path: Path) -> Callable[..., Settings]:
    url = f"sqlite:///{tmp_path / 'hub.db'}"
    engine = make_engine(url)
    migrate(engine)
    engine.dispose()

    def settings(**chosen: Any) -> Settings:
        return Settings(
            database_url=url,
            mode="dev",
            adapters_file=None,
            scheduler="off",
            secret_file=tmp_path / "secret.key",
            **{"admission": "on", **chosen},
        )

    return settings


def hub_with_a_slow_route(settings: Settings) -> tuple[Any, asyncio.Event, dict[str, int]]:
    app = create_app(settings)
    release = asyncio.Event()
    state = {"running": 0}

    async def slow() -> dict[str, str]:
        state["running"] += 1
        await release.wait()
        state["running"] -= 1
        return {"status": "done"}

    app.add_api_route("/test/slow", slow, methods=["GET"])
    return app, release, state


def admission_samples(text: str) -> dict[str, float]:
    """Each admission sample by its name, and its reason where it has one."""
    return {
        " ".join(filter(None, [sample.name, sample.labels.get("reason")])): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name.startswith("tongban_admission_")
    }


def test_the_hub_counts_its_refusals_and_queue_in_metrics(
    hub_settings: Callable[..., Settings],
) -> None:
    settings = hub_settings(max_in_flight=1, max_queue=1, queue_wait_ms=10_000)
    app, release, state = hub_with_a_slow_route(settings)
    operator = app.state.hub.identity.issue_dev_token("ops-1", Role.OPERATOR, None)

    async def scenario() -> None:
        async with served(app) as http:
            holding = asyncio.create_task(http.get("/test/slow"))
            await settle(lambda: state["running"] == 1)
            queued = asyncio.create_task(http.get("/test/slow"))
            await settle(lambda: app.state.admission.queue_depth == 1)
            for path in ("/test/slow", "/catalogue/resources", "/catalogue/departments"):
                assert_overloaded(await http.get(path))
            assert (await http.get("/healthz")).status_code == 200
            assert (await http.get("/console")).status_code == 200  # a page always loads
            answer = await http.get("/metrics", headers={"Authorization": f"Bearer {operator}"})
            assert answer.status_code == 200
            assert admission_samples(answer.text) == {
                "tongban_admission_refused_total queue_full": 3.0,  # the queue's one place taken
                "tongban_admission_refused_total wait_estimate": 0.0,
                "tongban_admission_refused_total waited_bound": 0.0,
                "tongban_admission_queue_depth": 1.0,
                "tongban_admission_in_flight": 1.0,
            }
            release.set()
            assert [(await t).status_code for t in (holding, queued)] == [200, 200]

    run(scenario)
    app.state.hub.close()


def test_with_admission_off_the_hub_queues_everything_and_shows_no_admission_metrics(
    hub_settings: Callable[..., Settings],
) -> None:
    app, release, state = hub_with_a_slow_route(hub_settings(admission="off", max_in_flight=1))
    operator = app.state.hub.identity.issue_dev_token("ops-1", Role.OPERATOR, None)

    async def scenario() -> None:
        async with served(app) as http:
            slow = [asyncio.create_task(http.get("/test/slow")) for _ in range(4)]
            await settle(lambda: state["running"] == 4)
            answer = await http.get("/metrics", headers={"Authorization": f"Bearer {operator}"})
            assert admission_samples(answer.text) == {}
            release.set()
            assert [(await t).status_code for t in slow] == [200] * 4

    run(scenario)
    app.state.hub.close()


def test_admission_is_on_in_prod_and_off_in_dev_unless_set(tmp_path: Path) -> None:
    prod = {"secret_key": secrets.token_urlsafe(48), "public_url": "https://hub.example"}
    assert Settings(mode="prod", **prod).admission == "on"
    assert Settings(mode="prod", admission="off", **prod).admission == "off"
    dev = {"secret_file": tmp_path / "secret.key"}
    assert Settings(mode="dev", **dev).admission == "off"
    assert Settings(mode="dev", admission="on", **dev).admission == "on"
