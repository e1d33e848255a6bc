"""Unit tests of the request guard in front of a small ASGI app (in-process, over httpx)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx
import pytest
from starlette.types import Receive, Scope, Send

from akv_sidecar.config.schema import LimitsConfig
from akv_sidecar.http.guard import RequestGuard, RouteNames
from akv_sidecar.ops.metrics import Metrics

ROUTES = RouteNames(["/v1/vaults/{vault}/secrets/{name}", "/v1/secrets:batch", "/healthz"])


class EchoApp:
    """Answers 200 with the request body's size; can hold requests until released."""

    def __init__(self) -> None:
        self.release = asyncio.Event()
        self.release.set()
        self.entered = 0
        self.two_entered = asyncio.Event()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.entered += 1
        if self.entered == 2:
            self.two_entered.set()
        size, more = 0, True
        while more:
            message = await receive()
            size += len(message.get("body", b""))
            more = message.get("more_body", False)
        await self.release.wait()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": str(size).encode()})


def client(app: EchoApp, metrics: Metrics, **limits: object) -> httpx.AsyncClient:
    """An httpx client calling the guarded app in-process."""
    guard = RequestGuard(app, LimitsConfig(**limits), metrics, ROUTES)  # type: ignore[arg-type]
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=guard), base_url="http://sidecar")


async def test_forwarded_for_is_refused_by_default_and_allowed_when_configured() -> None:
    """X-Forwarded-For gets a 400 JSON error unless forwarded_for is allow."""
    app, metrics = EchoApp(), Metrics()
    async with client(app, metrics) as http:
        response = await http.get("/healthz", headers={"X-Forwarded-For": "10.0.0.1"})
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "ForwardedRequest"
    assert app.entered == 0
    async with client(app, metrics, forwarded_for="allow") as http:
        assert (
            await http.get("/healthz", headers={"X-Forwarded-For": "10.0.0.1"})
        ).status_code == 200


async def test_header_size_and_count_limits() -> None:
    """Headers over max_header_bytes or more than max_headers get 431; the app never runs."""
    app, metrics = EchoApp(), Metrics()
    async with client(app, metrics, max_header_bytes=2000, max_headers=20) as http:
        big_header = await http.get("/healthz", headers={"X-Big": "y" * 3000})
        many_headers = await http.get("/healthz", headers={f"X-{i}": "1" for i in range(25)})
        fine = await http.get("/healthz", headers={"X-Big": "y" * 1500})
    assert (big_header.status_code, big_header.json()["error"]["code"]) == (431, "HeadersTooLarge")
    assert many_headers.status_code == 431
    assert fine.status_code == 200
    assert app.entered == 1


async def test_body_limit_announced_or_streamed() -> None:
    """A body over max_body_bytes gets 413, by Content-Length or chunked; smaller ones pass."""
    app, metrics = EchoApp(), Metrics()

    async def chunks(count: int) -> AsyncIterator[bytes]:
        for _ in range(count):
            yield b"x" * 100

    async with client(app, metrics, max_body_bytes=1000) as http:
        announced = await http.post("/v1/secrets:batch", content=b"z" * 1001)
        streamed = await http.post("/v1/secrets:batch", content=chunks(11))
        small = await http.post("/v1/secrets:batch", content=chunks(10))
    assert (announced.status_code, announced.json()["error"]["code"]) == (413, "PayloadTooLarge")
    assert streamed.status_code == 413
    assert (small.status_code, small.text) == (200, "1000")
    assert app.entered == 1


async def test_concurrency_limit_answers_429_and_counts_by_route() -> None:
    """With 2 requests in flight a third gets 429 with Retry-After; requests counted per route."""
    app, metrics = EchoApp(), Metrics()
    app.release.clear()
    async with client(app, metrics, max_concurrency=2) as http:
        held = [asyncio.create_task(http.get(f"/v1/vaults/kv1/secrets/s{i}")) for i in range(2)]
        await asyncio.wait_for(app.two_entered.wait(), 5)
        refused = await http.get("/v1/vaults/kv1/secrets/s3")
        app.release.set()
        assert [r.status_code for r in await asyncio.gather(*held)] == [200, 200]
        unknown = await http.get("/nowhere")
    assert refused.status_code == 429
    assert refused.headers["retry-after"] == "1"
    assert metrics.requests == {
        ("/v1/vaults/{vault}/secrets/{name}", "200"): 2,
        ("/v1/vaults/{vault}/secrets/{name}", "429"): 1,
        ("unmatched", "200"): 1,
    }
    assert unknown.status_code == 200


@pytest.mark.parametrize(
    ("path", "route"),
    [
        ("/v1/vaults/kv1/secrets/a", "/v1/vaults/{vault}/secrets/{name}"),
        ("/v1/secrets:batch", "/v1/secrets:batch"),
        ("/v1/vaults/kv1/keys/a", "unmatched"),
        ("/", "unmatched"),
    ],
)
def test_route_names_map_paths_to_templates(path: str, route: str) -> None:
    """Paths map to their template; anything else is 'unmatched' (few label values)."""
    assert ROUTES(path) == route
