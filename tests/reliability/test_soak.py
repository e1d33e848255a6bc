"""A bounded soak: cached reads and probes run while Key Vault and local clients misbehave in turn
(a Retry-After: inf storm, a slowloris of up to 200 sockets, the existing outage, 429 and latency
faults), for about 30 s; afterwards the sidecar picks up a rotation by itself."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any

import httpx

from akv_emulator import Emulator
from akv_sidecar.testing import RunningSidecar
from bench.adversary import closed_by_server, retry_after_storm, slowloris
from tests.reliability.conftest import SECRETS, VAULT, wait_until

PHASE_SECONDS = 5.0
HEADER_TIMEOUT = 1.0
SLOW_SOCKETS = 180


class Load:
    """Cached reads and probes in two threads, tallying every answer until stopped."""

    def __init__(self, sidecar: RunningSidecar) -> None:
        self._sidecar = sidecar
        self._stop = threading.Event()
        self.reads: Counter[int | str] = Counter()
        self.probes: Counter[int | str] = Counter()
        self._threads = [
            threading.Thread(target=self._read, daemon=True),
            threading.Thread(target=self._probe, daemon=True),
        ]

    def _loop(self, tally: Counter[int | str], paths: list[str], pause: float) -> None:
        with httpx.Client(base_url=self._sidecar.url, headers=self._sidecar.headers) as http:
            while not self._stop.is_set():
                for path in paths:
                    try:
                        tally[http.get(path, timeout=5).status_code] += 1
                    except httpx.HTTPError as error:
                        tally[type(error).__name__] += 1
                self._stop.wait(pause)

    def _read(self) -> None:
        paths = [f"/v1/vaults/{VAULT}/secrets/{name}" for name in SECRETS]
        self._loop(self.reads, paths, 0.005)

    def _probe(self) -> None:
        self._loop(self.probes, ["/healthz", "/readyz"], 0.25)

    def __enter__(self) -> Load:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(10)


def persistent_slowloris(port: int, seconds: float) -> tuple[int, int]:
    """Rounds of slow sockets, each held past the header deadline, for ``seconds``: (sockets
    opened, sockets the sidecar had not closed when the round ended)."""
    opened, held = 0, 0
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        with slowloris(port, SLOW_SOCKETS) as slow:
            time.sleep(HEADER_TIMEOUT + 1.0)
            opened += len(slow)
            held += sum(not closed_by_server(sock) for sock in slow)
    return opened, held


def test_soak_through_hostile_faults_and_slowloris(
    start_sidecar: Callable[..., AbstractContextManager[RunningSidecar]],
    emulator: Emulator,
    seeded: dict[str, str],
) -> None:
    """0 failed cached reads, no 500, probes answered throughout; a rotation lands afterwards."""
    faults: list[tuple[str, Callable[[], Any]]] = [
        ("Retry-After: inf storm", lambda: retry_after_storm(emulator, "inf")),
        ("outage", lambda: emulator.inject(outage="503")),
        ("429 storm", lambda: emulator.inject(throttle=(0, 60.0), retry_after="1")),
        ("latency beyond the timeout", lambda: emulator.inject(latency=3.0)),
    ]
    limits = {"max_connections": 100, "header_timeout": f"{HEADER_TIMEOUT:g}s"}
    with start_sidecar(limits=limits, cache={"max_stale": "1h"}) as sidecar, Load(sidecar) as load:
        for _, inject in faults:
            inject()
            time.sleep(PHASE_SECONDS)
            emulator.clear_faults()
        slow = [persistent_slowloris(sidecar.port, 2 * PHASE_SECONDS)]
        retry_after_storm(emulator, "inf")
        slow.append(persistent_slowloris(sidecar.port, PHASE_SECONDS))
        emulator.clear_faults()
        emulator.set_secret(VAULT, SECRETS[0], "rotated-after-soak-5d1e")
        url = f"{sidecar.url}/v1/vaults/{VAULT}/secrets/{SECRETS[0]}"
        wait_until(
            lambda: (
                httpx.get(url, headers=sidecar.headers).json()["value"] == "rotated-after-soak-5d1e"
            )
        )
    assert sum(load.reads.values()) > 1000, load.reads
    assert set(load.reads) == {200}, load.reads
    assert set(load.probes) == {200}, load.probes
    assert all(opened >= SLOW_SOCKETS and held == 0 for opened, held in slow), slow
