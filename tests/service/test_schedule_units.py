"""The refresh schedule, the bounded worker pool and the certificate-failure translation."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
from azure.core.exceptions import ServiceRequestError

from akv_sidecar.cache.schedule import Schedule
from akv_sidecar.core.tasks import Tasks, for_each
from akv_sidecar.keyvault.client import _translate
from akv_sidecar.keyvault.outcomes import Failure
from akv_sidecar.testing import FakeClock


async def settle() -> None:
    """Let every ready task run (bounded)."""
    for _ in range(50):
        await asyncio.sleep(0)


@pytest.fixture
async def tasks() -> AsyncIterator[Tasks]:
    """A task owner cancelled and awaited after the test."""
    owner = Tasks()
    yield owner
    await owner.cancel_all()


def recorder(clock: FakeClock, seen: list[tuple[str, float]]) -> Callable[[str], Awaitable[None]]:
    """A handler noting (key, clock time) for every key handed to it."""

    async def handle(key: str) -> None:
        seen.append((key, clock.monotonic()))

    return handle


async def test_schedule_hands_out_keys_in_due_order_on_one_clock_sleeper(tasks: Tasks) -> None:
    """Three keys run at their due times, earliest first, with one sleeper on the clock."""
    clock = FakeClock()
    schedule: Schedule[str] = Schedule(clock, workers=4)
    seen: list[tuple[str, float]] = []
    for key, delay in (("c", 30.0), ("a", 10.0), ("b", 20.0)):
        schedule.at(key, delay)
    tasks.spawn(schedule.run(recorder(clock, seen), tasks.spawn))
    await settle()
    assert clock.sleeping == 1
    clock.advance(9.9)
    await settle()
    assert seen == []
    clock.advance(0.1)
    await settle()
    assert seen == [("a", 10.0)]
    clock.advance(20.0)
    await settle()
    assert seen == [("a", 10.0), ("b", 30.0), ("c", 30.0)]
    assert clock.sleeping == 0  # nothing due: the driver waits for a new key, not on the clock


async def test_an_earlier_due_time_wakes_the_driver_and_a_replaced_one_counts(tasks: Tasks) -> None:
    """A key due before the one the driver sleeps for runs on time; a replaced due time counts."""
    clock = FakeClock()
    schedule: Schedule[str] = Schedule(clock, workers=1)
    seen: list[tuple[str, float]] = []
    tasks.spawn(schedule.run(recorder(clock, seen), tasks.spawn))
    schedule.at("late", 100.0)
    await settle()
    schedule.at("early", 5.0)  # the driver sleeps until 100: it must wake for 5
    schedule.at("moved", 50.0)
    schedule.at("moved", 7.0)
    await settle()
    clock.advance(5.0)
    await settle()
    clock.advance(2.0)
    await settle()
    assert seen == [("early", 5.0), ("moved", 7.0)]
    clock.advance(93.0)
    await settle()
    assert seen == [("early", 5.0), ("moved", 7.0), ("late", 100.0)]


async def test_schedule_runs_at_most_workers_handlers_at_once(tasks: Tasks) -> None:
    """Ten keys due together go through two workers: never more than two handlers at once."""
    clock = FakeClock()
    schedule: Schedule[int] = Schedule(clock, workers=2)
    release = asyncio.Event()
    running, most, done = 0, 0, 0

    async def handle(key: int) -> None:
        nonlocal running, most, done
        running += 1
        most = max(most, running)
        await release.wait()
        running -= 1
        done += 1

    for key in range(10):
        schedule.at(key, 1.0)
    tasks.spawn(schedule.run(handle, tasks.spawn))
    clock.advance(1.0)
    await settle()
    assert running == 2
    release.set()
    await settle()
    assert (most, done) == (2, 10)


async def test_for_each_visits_every_item_once_with_bounded_workers() -> None:
    """for_each runs the work on each of 100 items once, never more than 4 at a time."""
    running, most = 0, 0
    seen: list[int] = []

    async def work(item: int) -> None:
        nonlocal running, most
        running += 1
        most = max(most, running)
        await asyncio.sleep(0)
        seen.append(item)
        running -= 1

    await for_each(range(100), work, workers=4)
    assert sorted(seen) == list(range(100))
    assert most == 4


def test_certificate_failures_are_told_apart_from_outages() -> None:
    """An untrusted certificate in the error's chain is UNTRUSTED; a refused connection is ERROR."""
    verify = ssl.SSLCertVerificationError(1, "[SSL: CERTIFICATE_VERIFY_FAILED]")
    verify.verify_message = "self-signed certificate in certificate chain"
    try:
        try:
            raise verify
        except ssl.SSLError as error:
            raise ServiceRequestError("Cannot connect to host", error=error) from error
    except ServiceRequestError as wrapped:
        untrusted = _translate(wrapped, 10.0)
    assert untrusted.kind is Failure.UNTRUSTED
    assert "self-signed certificate in certificate chain" in untrusted.detail
    assert "ca_file" in untrusted.detail
    try:
        try:
            raise ConnectionRefusedError(111, "Connection refused")
        except OSError as error:
            raise ServiceRequestError("Cannot connect to host", error=error) from error
    except ServiceRequestError as wrapped:
        outage = _translate(wrapped, 10.0)
    assert outage.kind is Failure.ERROR
    assert outage.detail == "Key Vault could not be reached (ServiceRequestError)"
