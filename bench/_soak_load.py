"""The soak's load generator, run as its own process: ``python -m bench._soak_load``.

Workers loop until the deadline over a fixed mix of requests and classify every answer. A read
counts as a read of a cached secret when the secret was prefetched, or when an earlier read of it
succeeded; only such reads must never fail. It prints one JSON summary line at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import time
from collections import Counter
from dataclasses import dataclass, field

import httpx

from bench._names import VAULT, secret_names

TOKEN_ENV = "AKV_SIDECAR_TOKEN"  # not on the command line, where ps would show it
# (kind, weight): most traffic is single cache-hit reads, as from Spark drivers.
MIX = (
    ("cached", 70),
    ("batch", 10),
    ("on_demand", 8),
    ("readyz", 5),
    ("status", 5),
    ("metrics", 2),
)


@dataclass
class Tally:
    counts: Counter[str] = field(default_factory=Counter)
    cached: set[str] = field(default_factory=set)
    latencies: list[float] = field(default_factory=list)

    def cached_read(self, name: str, ok: bool, seconds: float) -> None:
        if name in self.cached:
            self.counts["cached_reads"] += 1
            self.counts["cached_failures"] += not ok
            self.latencies.append(seconds)
        else:
            self.counts["uncached_reads"] += 1
            self.counts["uncached_failures"] += not ok
        if ok:
            self.cached.add(name)


async def _read(client: httpx.AsyncClient, tally: Tally, name: str) -> None:
    started = time.perf_counter()
    try:
        response = await client.get(f"/v1/vaults/{VAULT}/secrets/{name}")
        ok = response.status_code == 200
        tally.counts[f"status_{response.status_code}"] += 1
    except httpx.HTTPError as error:
        ok = False
        tally.counts[f"error_{type(error).__name__}"] += 1
    tally.cached_read(name, ok, time.perf_counter() - started)


async def _batch(client: httpx.AsyncClient, tally: Tally, names: list[str]) -> None:
    started = time.perf_counter()
    body = {"secrets": [{"vault": VAULT, "name": name} for name in names]}
    try:
        response = await client.post("/v1/secrets:batch", json=body)
        results = response.json()["results"] if response.status_code == 200 else []
    except (httpx.HTTPError, ValueError, KeyError) as error:
        tally.counts[f"error_{type(error).__name__}"] += 1
        results = []
    good = {r.get("name") for r in results if isinstance(r, dict) and "error" not in r}
    elapsed = time.perf_counter() - started
    for name in names:
        tally.cached_read(name, name in good, elapsed)


async def _probe(client: httpx.AsyncClient, tally: Tally, path: str) -> None:
    try:
        response = await client.get(path)
        tally.counts[f"{path} {response.status_code}"] += 1
    except httpx.HTTPError as error:
        tally.counts[f"{path} {type(error).__name__}"] += 1


async def _worker(
    client: httpx.AsyncClient, tally: Tally, args: argparse.Namespace, deadline: float
) -> None:
    rng = random.Random()
    kinds, weights = zip(*MIX, strict=True)
    prefetched = secret_names(args.prefetched)
    on_demand = secret_names(args.on_demand, start=args.prefetched)
    while time.monotonic() < deadline:
        kind = rng.choices(kinds, weights)[0]
        if kind == "cached":
            await _read(client, tally, rng.choice(prefetched))
        elif kind == "batch":
            await _batch(client, tally, rng.sample(prefetched, 5))
        elif kind == "on_demand":
            await _read(client, tally, rng.choice(on_demand))
        else:
            await _probe(client, tally, {"readyz": "/readyz", "status": "/v1/status",
                                         "metrics": "/metrics"}[kind])  # fmt: skip
        if args.pause:
            await asyncio.sleep(args.pause)


async def _main(args: argparse.Namespace) -> dict[str, object]:
    tally = Tally(cached=set(secret_names(args.prefetched)))
    deadline = time.monotonic() + args.seconds
    headers = {"Authorization": f"Bearer {os.environ[TOKEN_ENV]}"}
    limits = httpx.Limits(max_connections=args.workers)
    async with httpx.AsyncClient(
        base_url=args.url, headers=headers, timeout=args.timeout, limits=limits
    ) as client:
        await asyncio.gather(*(_worker(client, tally, args, deadline) for _ in range(args.workers)))
    latencies = sorted(tally.latencies) or [0.0]
    return {
        "counts": dict(tally.counts),
        "cached_read_p50_ms": round(latencies[len(latencies) // 2] * 1000, 2),
        "cached_read_p99_ms": round(latencies[int(len(latencies) * 0.99)] * 1000, 2),
        "cached_read_max_ms": round(latencies[-1] * 1000, 2),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench._soak_load")
    parser.add_argument("url")
    parser.add_argument("--seconds", type=float, default=120.0)
    parser.add_argument("--workers", type=int, default=8)
    parser.add_argument("--prefetched", type=int, default=50)
    parser.add_argument("--on-demand", type=int, default=10)
    parser.add_argument("--timeout", type=float, default=5.0)
    parser.add_argument(
        "--pause", type=float, default=0.0, help="seconds between a worker's requests"
    )
    print(json.dumps(asyncio.run(_main(parser.parse_args(argv)))), flush=True)


if __name__ == "__main__":
    main()
