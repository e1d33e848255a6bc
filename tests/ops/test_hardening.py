"""Hardening against the running service: forwarding headers, size limits, 429 limits, rotation
(connection limits and deadlines: test_connections)."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import TYPE_CHECKING

import httpx

from .._waiting import wait_for
from .conftest import SEEDED, StartSidecar, bearer

if TYPE_CHECKING:
    from akv_emulator import Emulator


FORWARDING = (
    {"X-Forwarded-For": "203.0.113.9"},
    {"Forwarded": "for=203.0.113.9;proto=https"},
    {"X-Real-IP": "203.0.113.9"},
)


def test_forwarded_requests_are_refused_by_default(start: StartSidecar) -> None:
    """X-Forwarded-For, Forwarded and X-Real-IP each get 400 ForwardedRequest, also on a would-be
    cache hit; forwarded_for: allow lets each in."""
    url = "/v1/vaults/kv1/secrets/bronze"
    with start() as sidecar:
        refused = [
            httpx.get(f"{sidecar.url}{url}", headers={**bearer(sidecar.token), **relayed})
            for relayed in FORWARDING
        ]
    for response in refused:
        assert (response.status_code, response.json()["error"]["code"]) == (400, "ForwardedRequest")
        assert SEEDED["bronze"] not in response.text
    with start(limits={"forwarded_for": "allow"}) as sidecar:
        allowed = [
            httpx.get(f"{sidecar.url}{url}", headers={**bearer(sidecar.token), **relayed})
            for relayed in FORWARDING
        ]
    assert [response.status_code for response in allowed] == [200, 200, 200]


def test_header_and_body_size_limits(start: StartSidecar) -> None:
    """Oversized headers (bytes or count) get 431 and an oversized body 413, with JSON errors,
    on cache hits too; serving goes on."""
    limits = {"max_header_bytes": 4096, "max_headers": 8, "max_body_bytes": 1024}
    with (
        start(limits=limits) as sidecar,
        httpx.Client(base_url=sidecar.url, headers=bearer(sidecar.token)) as c,
    ):
        c.get("/v1/vaults/kv1/secrets/bronze")  # cached and rendered: the fast path's hit
        big_header = c.get("/v1/vaults/kv1/secrets/bronze", headers={"X-Padding": "p" * 5000})
        many = {f"X-Extra-{index}": "x" for index in range(8)}
        many_headers = c.get("/v1/vaults/kv1/secrets/bronze", headers=many)
        body = {"secrets": [{"vault": "kv1", "name": "bronze"}] * 40}
        big_body = c.post("/v1/secrets:batch", json=body)
        fine = c.get("/v1/vaults/kv1/secrets/bronze")
    assert (big_header.status_code, big_header.json()["error"]["code"]) == (431, "HeadersTooLarge")
    assert (many_headers.status_code, many_headers.json()["error"]["code"]) == (
        431,
        "HeadersTooLarge",
    )
    assert (big_body.status_code, big_body.json()["error"]["code"]) == (413, "PayloadTooLarge")
    assert fine.status_code == 200


def test_concurrency_limit_answers_429(start: StartSidecar, kv: Emulator) -> None:
    """With max_concurrency 2 and two reads hanging on Key Vault, a third request that would wait
    gets 429 with Retry-After; cache hits and probes, which never wait, are still served."""
    with start(limits={"max_concurrency": 2}, upstream={"timeout": "8s"}) as sidecar:
        kv.inject(vault="kv1", hang=True)
        url = f"{sidecar.url}/v1/vaults/kv1/secrets"
        results: list[int] = []

        def hanging_read(name: str) -> None:
            response = httpx.get(f"{url}/{name}", headers=bearer(sidecar.token), timeout=15)
            results.append(response.status_code)

        threads = [threading.Thread(target=hanging_read, args=(f"absent-{i}",)) for i in range(2)]
        for thread in threads:
            thread.start()
        try:
            guard = sidecar.server.config.app.app  # the fast path's inner app
            wait_for(lambda: guard.in_flight == 2, timeout=8, what="two reads in flight")
            # An invalid name would be answered at once (400): it is refused before that.
            refused = httpx.get(f"{url}/not_a_valid_name", headers=bearer(sidecar.token))
            hit = httpx.get(f"{url}/bronze", headers=bearer(sidecar.token))
            probes = [
                httpx.get(f"{sidecar.url}{path}", headers=bearer(sidecar.token))
                for path in ("/healthz", "/readyz", "/metrics")
            ]
        finally:
            kv.clear_faults()
            for thread in threads:
                thread.join(10)
    assert refused.status_code == 429, f"the hanging reads got {results}"
    assert refused.json()["error"]["code"] == "TooManyRequests"
    assert refused.headers["retry-after"] == "1"
    assert hit.status_code == 200
    assert [probe.status_code for probe in probes] == [200, 200, 200]  # none waits on the vault
    assert len(results) == 2


def test_token_rotation_by_replacing_the_file(start: StartSidecar, tmp_path: Path) -> None:
    """Replacing a caller's token file makes the new token work at once and the old one fail,
    without a restart; only hashes of tokens are kept in memory."""
    with start() as sidecar:  # its token file is tmp_path / "token"
        url = f"{sidecar.url}/v1/vaults/kv1/secrets/bronze"
        old = sidecar.token
        assert httpx.get(url, headers=bearer(old)).status_code == 200
        new = "rotated-token-" + "7" * 32
        staged = tmp_path / "token.new"
        staged.write_text(new)
        staged.replace(tmp_path / "token")
        assert httpx.get(url, headers=bearer(new)).status_code == 200
        refused = httpx.get(url, headers=bearer(old))
        assert refused.status_code == 403
        assert sidecar.sidecar is not None
        auth = sidecar.sidecar.auth
        assert new not in repr(vars(auth))
        assert old not in repr(vars(auth))
