"""What start-up loads and when: serving cached reads needs no FastAPI, pydantic, Azure Storage or
prometheus-client; FastAPI is built once, for the first request that needs it, and answers as
before; a prefetch pays one Key Vault challenge per vault. (Speed is the bench's: bench/_footprint.)
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

import akv_sidecar.http.app as app_module
from akv_emulator import Emulator
from akv_sidecar.http.app import Routes, build_api
from akv_sidecar.ops.metrics import METRICS_CONTENT_TYPE, READ_ROUTE
from akv_sidecar.testing import RunningSidecar, run_sidecar

from .._waiting import wait_for
from .conftest import Vault, client

# Loaded only for what needs them: routes other than probes and hits, SAS, scrapes, TLS, events.
DEFERRED = (
    "fastapi",
    "pydantic",
    "azure.storage.blob",
    "azure.storage.filedatalake",
    "prometheus_client",
    "akv_sidecar.http.routes",
    "akv_sidecar.http.vending",
    "akv_sidecar.http.opsroutes",
    "akv_sidecar.ops.events",
    "akv_sidecar.ops.exposition",
    "akv_sidecar.server.tls",
)

_SERVE_AND_LIST_MODULES = """
import json, sys, urllib.request
from akv_sidecar.config.loading import load_config
from akv_sidecar.testing import run_sidecar

with run_sidecar(load_config(sys.argv[1])) as sidecar:
    for path in ("/healthz", "/readyz", "/v1/vaults/kv1/secrets/s1", "/v1/vaults/kv1/secrets/s1"):
        request = urllib.request.Request(sidecar.url + path, headers=sidecar.headers)
        assert urllib.request.urlopen(request, timeout=10).status == 200, path
    print("MODULES", json.dumps(sorted(sys.modules)))
"""


def _routes(sidecar: RunningSidecar) -> Routes:
    routes = sidecar.server.config.app.app.app  # fast path -> guard -> routes
    assert isinstance(routes, Routes)
    return routes


def _loaded(deferred: tuple[str, ...], modules: list[str]) -> list[str]:
    return [name for name in deferred if name in modules]


def _python(code: str, *args: str, env: dict[str, str] | None = None) -> list[str]:
    done = subprocess.run(
        [sys.executable, "-c", code, *args],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    # The audit lines share stdout; the list is the line the code marks.
    line = next(line for line in done.stdout.splitlines() if line.startswith("MODULES "))
    modules: list[str] = json.loads(line.removeprefix("MODULES "))
    return modules


def test_a_sidecar_serving_probes_and_hits_loads_none_of_the_deferred_modules(
    kv: Vault,
    make_config: Callable[..., dict[str, Any]],
    identity_env: dict[str, str],
    tmp_path: Path,
) -> None:
    """Started, ready, and serving hits in a fresh process: FastAPI and the rest never load."""
    kv.seed("s1", "s2")
    path = tmp_path / "sidecar.yaml"
    path.write_text(yaml.safe_dump(make_config("s1", "s2")))
    modules = _python(_SERVE_AND_LIST_MODULES, str(path), env={**os.environ, **identity_env})
    assert "akv_sidecar.server.sidecar" in modules  # the probe did run a sidecar
    assert _loaded(DEFERRED, modules) == []


def test_the_package_and_the_bare_apps_server_import_neither_the_app_nor_azure() -> None:
    """``from akv_sidecar import Config`` and uvicorn_config cost no FastAPI, Azure or aiohttp, so
    the bench's bare app (the floor) measures uvicorn alone."""
    code = (
        "import json, sys\n"
        "from akv_sidecar import Config\n"
        "from akv_sidecar.server.server import Server, uvicorn_config\n"
        "import bench.bare_app\n"
        "print('MODULES', json.dumps(sorted(sys.modules)))\n"
    )
    modules = _python(code)
    heavy = ("fastapi", "pydantic", "azure", "aiohttp", "akv_sidecar.http.app")
    assert _loaded(heavy, modules) == []


def test_fastapi_is_built_once_for_concurrent_first_requests(
    kv: Vault, make_config: Callable[..., dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ten requests that need the routes at once share one build, and all are answered."""
    kv.seed("s1")
    builds: list[int] = []
    real = app_module.build_api

    def counted(sidecar: Any) -> Any:
        builds.append(threading.get_ident())
        return real(sidecar)

    monkeypatch.setattr(app_module, "build_api", counted)
    with run_sidecar(make_config("s1")) as sidecar:
        assert _routes(sidecar)._api is None  # ready without it
        statuses: list[int] = []

        def status() -> None:
            with client(sidecar) as http:
                statuses.append(http.get("/v1/status").status_code)

        threads = [threading.Thread(target=status) for _ in range(10)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
        assert statuses == [200] * 10
    assert len(builds) == 1


def test_reads_of_secrets_not_cached_need_no_fastapi(
    kv: Vault, make_config: Callable[..., dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A miss, a secret Key Vault lacks and a bad token are answered as the API says (200 with
    X-Cache, 404, 401 as JSON errors) and build no FastAPI app; a ?version= read does."""
    values = kv.seed("s1", "s2")
    builds: list[int] = []
    real = app_module.build_api
    monkeypatch.setattr(app_module, "build_api", lambda sidecar: builds.append(1) or real(sidecar))
    with run_sidecar(make_config("s1")) as sidecar, client(sidecar) as http:
        miss = http.get("/v1/vaults/kv1/secrets/s2")
        assert (miss.status_code, miss.json()["value"]) == (200, values["s2"])
        assert (miss.headers["x-cache"], miss.headers["content-type"]) == (
            "miss",
            "application/json",
        )
        missing = http.get("/v1/vaults/kv1/secrets/nope")
        assert missing.status_code == 404
        assert "error" in missing.json()
        refused = http.get("/v1/vaults/kv1/secrets/s1", headers={"Authorization": "Bearer x"})
        assert refused.status_code in (401, 403)
        assert "error" in refused.json()
        assert builds == []
        version = miss.json()["version"]
        pinned = http.get("/v1/vaults/kv1/secrets/s2", params={"version": version})
        assert pinned.status_code == 200
        assert builds == [1]


def test_reads_answered_before_fastapi_count_under_the_read_route(
    kv: Vault, make_config: Callable[..., dict[str, Any]]
) -> None:
    """A miss and a 404 answered without FastAPI are counted under the read route's template,
    as FastAPI's route counts them, not as unmatched."""
    kv.seed("s1", "s2")
    with run_sidecar(make_config("s1")) as sidecar, client(sidecar) as http:
        assert http.get("/v1/vaults/kv1/secrets/s2").status_code == 200
        assert http.get("/v1/vaults/kv1/secrets/nope").status_code == 404
        assert _routes(sidecar)._api is None
        requests = sidecar.sidecar.metrics.requests
        wait_for(lambda: requests.total() == 2, what="both requests counted")  # after the answer
        counted = dict(requests)
    assert counted == {(READ_ROUTE, "200"): 1, (READ_ROUTE, "404"): 1}


def test_a_build_that_failed_is_tried_again_by_the_next_request(
    kv: Vault, make_config: Callable[..., dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A first build that raises answers that request 500; the next request builds and is served
    (no request waits for good on a build that failed)."""
    kv.seed("s1")
    real, attempts = app_module.build_api, []

    def flaky(sidecar: Any) -> Any:
        attempts.append(1)
        if len(attempts) <= 2:  # the thread's try and the one on the loop
            raise RuntimeError("made up")
        return real(sidecar)

    monkeypatch.setattr(app_module, "build_api", flaky)
    with run_sidecar(make_config("s1")) as sidecar, client(sidecar) as http:
        assert http.get("/v1/status").status_code == 500
        assert http.get("/v1/status").status_code == 200
    assert len(attempts) == 3


def test_the_openapi_document_first_requested_is_the_full_one(
    kv: Vault, make_config: Callable[..., dict[str, Any]]
) -> None:
    """/openapi.json, asked for first, documents every route (probes included) as a freshly built
    FastAPI app does; and it is not built before it is asked for."""
    kv.seed("s1")
    with run_sidecar(make_config("s1")) as sidecar:
        routes = _routes(sidecar)
        assert routes._api is None
        document = httpx.get(f"{sidecar.url}/openapi.json").json()
        expected = build_api(sidecar.sidecar).openapi()
    assert document == expected
    for path in ("/healthz", "/readyz", "/v1/vaults/{vault}/secrets/{name}", "/v1/status"):
        assert path in document["paths"]


def test_probes_answered_before_fastapi_match_fastapis_answers(
    kv: Vault, make_config: Callable[..., dict[str, Any]]
) -> None:
    """/healthz and /readyz from memory give the status and JSON FastAPI's routes give."""
    kv.seed("s1")
    with run_sidecar(make_config("s1", "gone")) as sidecar:  # "gone" fails: /readyz lists it
        with client(sidecar) as http:
            light = {path: http.get(path) for path in ("/healthz", "/readyz")}
        assert _routes(sidecar)._api is None
        for path, answer in light.items():
            full = asyncio.run(_asgi_get(build_api(sidecar.sidecar), path))
            assert (answer.status_code, answer.json()) == (full.status_code, full.json()), path
            assert answer.headers["content-type"] == full.headers["content-type"]
    assert light["/readyz"].json()["failed"][0]["name"] == "gone"


async def _asgi_get(app: Any, path: str) -> httpx.Response:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://sidecar") as http:
        return await http.get(path)


def test_a_prefetch_pays_one_challenge_per_vault(
    kv: Vault, make_config: Callable[..., dict[str, Any]], emulator: Emulator
) -> None:
    """The first call to a vault goes alone until it has a token; the other 19 of a prefetch
    wider than upstream.concurrency then go with it, unchallenged."""
    names = [f"s{index}" for index in range(20)]
    kv.seed(*names)
    with run_sidecar(make_config(*names)) as sidecar:
        assert sidecar.sidecar.cache.ready
    assert kv.gets() == 20
    assert emulator.calls(vault="kv1", op="challenge") == 1


def test_the_metrics_content_type_is_prometheus_clients() -> None:
    """The spelled-out content type (no prometheus-client at start) is the library's own."""
    import prometheus_client

    assert METRICS_CONTENT_TYPE == prometheus_client.CONTENT_TYPE_LATEST
