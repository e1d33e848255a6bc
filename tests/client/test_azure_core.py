"""`SidecarTokenCredential` inside azure-core's own async bearer-token policy: the pipeline that
adlfs (through azure-storage-blob's aio clients) authenticates with when given `credential=`."""

from __future__ import annotations

import asyncio
import secrets
from datetime import datetime, timedelta, timezone

from azure.core.pipeline import AsyncPipeline
from azure.core.pipeline.policies import AsyncBearerTokenCredentialPolicy
from azure.core.pipeline.transport import AioHttpTransport
from azure.core.rest import HttpRequest

from akv_client import AzureADLS, SidecarClient
from tests.client.scripted_server import Reply, ScriptedServer

STORAGE = "https://storage.azure.com/.default"


def test_azure_core_authenticates_with_the_vended_token() -> None:
    """azure-core asks the credential once, caches the token and sends it as a Bearer header on
    each storage request; the token shows in no repr."""
    token = "eyJ0eXAi." + secrets.token_hex(16)
    expires = (datetime.now(timezone.utc) + timedelta(hours=1)).isoformat()
    vended = Reply(200, {"access_token": token, "expires_on": expires, "scope": STORAGE})
    with (
        ScriptedServer([vended]) as sidecar,
        ScriptedServer([Reply(200, {"ok": True})]) as storage,
        SidecarClient(sidecar.url) as client,
    ):
        conn = AzureADLS("acct1", "bronze", auth_mode="sidecar_token", sidecar=client)
        credential = conn.pandas_storage_options()["credential"]

        async def two_requests() -> list[int]:
            policy = AsyncBearerTokenCredentialPolicy(credential, STORAGE)
            async with AsyncPipeline(AioHttpTransport(), policies=[policy]) as pipeline:
                statuses = []
                for _ in range(2):
                    request = HttpRequest("GET", f"{storage.url}/bronze?comp=list")
                    answer = await pipeline.run(request, enforce_https=False)
                    statuses.append(answer.http_response.status_code)
                return statuses

        assert asyncio.run(two_requests()) == [200, 200]
    assert [seen.headers["Authorization"] for seen in storage.seen] == [f"Bearer {token}"] * 2
    assert [(seen.path, seen.body) for seen in sidecar.seen] == [("/v1/tokens", {"scope": STORAGE})]
    assert token not in repr(credential) + repr(conn)
