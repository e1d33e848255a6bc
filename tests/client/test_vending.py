"""Vended credentials against a scripted sidecar: `get_sas` and `get_token` on the wire, their value
objects and errors, and AzureADLS's `sidecar_sas` / `sidecar_token` modes (one request shared by
threads, renewal with a third of the life left, what a failed renewal does).

Like test_standalone.py it imports nothing from akv_sidecar or akv_emulator and no conftest
fixture, so it runs on Python 3.10 too.
"""

from __future__ import annotations

import asyncio
import logging
import pickle
import secrets
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from akv_client import (
    AccessToken,
    AzureADLS,
    Forbidden,
    InvalidRequest,
    RateLimited,
    SecretNotFound,
    SidecarClient,
    SidecarError,
    SidecarTokenCredential,
    SidecarUnavailable,
    Unauthorized,
    UpstreamError,
    VendedSas,
)
from akv_client._deadline import Lease
from akv_client._secret import parse_time
from tests._leaks import assert_not_leaked, logged_text, watch_logs
from tests.client.scripted_server import Reply, ScriptedServer

SAS = "sv=2024-05-04&sr=c&sp=rl&sig=" + secrets.token_hex(12)
SAS_2 = "sv=2024-05-04&sr=c&sp=rl&sig=" + secrets.token_hex(12)
TOKEN = "eyJ0eXAi." + secrets.token_hex(16)
VENDED = [SAS, SAS_2, TOKEN]
STORAGE = "https://storage.azure.com/.default"


@pytest.fixture(autouse=True)
def no_vended_value_in_output(
    caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> Iterator[None]:
    """After each test: no SAS or token in any log record or printed line."""
    watch_logs(caplog)
    yield
    printed = capsys.readouterr()
    assert_not_leaked(printed.out + printed.err + logged_text(caplog), VENDED)


def iso(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def in_seconds(seconds: float) -> str:
    return iso(datetime.now(timezone.utc) + timedelta(seconds=seconds))


def sas_reply(sas: str = SAS, life: float = 3600.0, **fields: Any) -> Reply:
    body = {"account": "acct1", "container": "bronze", "path": None, "permissions": "rl"}
    return Reply(200, body | {"sas_token": sas, "expires_on": in_seconds(life)} | fields)


def token_reply(token: str = TOKEN, life: float = 3600.0) -> Reply:
    return Reply(200, {"access_token": token, "expires_on": in_seconds(life), "scope": STORAGE})


def error(status: int, code: str) -> Reply:
    return Reply(status, {"error": {"code": code, "message": f"scripted {code}"}})


def vending(client: SidecarClient, mode: str = "sidecar_sas", **kwargs: Any) -> AzureADLS:
    return AzureADLS("acct1", "bronze", auth_mode=mode, sidecar=client, name="bronze", **kwargs)


def test_get_sas_sends_the_contract_and_masks_the_sas() -> None:
    """get_sas POSTs account, container, path, permissions and ttl; the SAS never shows."""
    expires = iso(datetime(2031, 5, 6, 7, 8, 9, tzinfo=timezone.utc))
    reply = sas_reply(path="raw/2024", permissions="rl", expires_on=expires)
    with ScriptedServer([reply]) as server, SidecarClient(server.url, "tok") as client:
        sas = client.get_sas("acct1", "bronze", "raw/2024", permissions="rl", ttl=900)
        client.get_sas("acct1", "bronze")
    first, second = server.seen
    assert (first.method, first.path) == ("POST", "/v1/storage/sas")
    assert first.headers["Authorization"] == "Bearer tok"
    assert first.body == {
        "account": "acct1", "container": "bronze", "path": "raw/2024", "permissions": "rl",
        "ttl": 900,
    }  # fmt: skip
    assert second.body == {"account": "acct1", "container": "bronze", "permissions": "rl"}
    assert isinstance(sas, VendedSas)
    assert (sas.account, sas.container, sas.path, sas.permissions) == (
        "acct1", "bronze", "raw/2024", "rl",
    )  # fmt: skip
    assert sas.sas_token == SAS
    assert sas.expires_on == datetime(2031, 5, 6, 7, 8, 9, tzinfo=timezone.utc)
    for text in (repr(sas), str(sas), f"{[sas]}"):
        assert SAS not in text
        assert "'***'" in text
        assert "acct1" in text


def test_get_token_sends_the_scope_and_masks_the_token() -> None:
    """get_token POSTs the scope (Storage by default); the token never shows, not even pickled
    into an error."""
    with ScriptedServer([token_reply()]) as server, SidecarClient(server.url, "tok") as client:
        token = client.get_token()
        client.get_token("https://management.azure.com/.default")
    assert [(seen.method, seen.path) for seen in server.seen] == [("POST", "/v1/tokens")] * 2
    assert [seen.body for seen in server.seen] == [
        {"scope": STORAGE},
        {"scope": "https://management.azure.com/.default"},
    ]
    assert isinstance(token, AccessToken)
    assert token.token == TOKEN
    assert token.scope == STORAGE
    assert token.expires_on.tzinfo is not None
    assert TOKEN not in repr(token) + str(token)


@pytest.mark.parametrize(
    ("reply", "cls", "words"),
    [
        (error(400, "InvalidPermissions"), InvalidRequest, "racwdl"),
        (error(401, "Unauthenticated"), Unauthorized, "AKV_SIDECAR_TOKEN"),
        (error(403, "Forbidden"), Forbidden, "allow list permits this storage account"),
        (error(404, "AccountNotConfigured"), SecretNotFound, "configured to vend"),
        (error(404, "NotFound"), SecretNotFound, "no such route"),
        (error(429, "CallerOverBudget"), RateLimited, "budget"),
        (error(502, "UpstreamError"), UpstreamError, "account key it reads from Key Vault"),
        (error(503, "Unavailable"), SidecarUnavailable, "AKV_SIDECAR_URL"),
    ],
)
def test_vending_errors_map_to_the_tree(reply: Reply, cls: type[SidecarError], words: str) -> None:
    """Each error answer becomes its exception, naming the container and what to check."""
    with (
        ScriptedServer([reply]) as server,
        SidecarClient(server.url, retries=0) as client,
        pytest.raises(cls) as info,
    ):
        client.get_sas("acct1", "bronze")
    assert type(info.value) is cls
    message = str(info.value)
    assert "storage container 'acct1/bronze'" in message
    assert words in message
    assert info.value.code == reply.body["error"]["code"]
    copy = pickle.loads(pickle.dumps(info.value))  # noqa: S301 - our own bytes
    assert (type(copy), str(copy)) == (cls, message)


def test_a_malformed_answer_is_an_error_that_repeats_none_of_it() -> None:
    """A 200 that is not a credential is a SidecarError whose message holds none of the body."""
    broken = Reply(200, {"access_token": TOKEN, "scope": STORAGE, "expires_on": "soon"})
    with (
        ScriptedServer([broken]) as server,
        SidecarClient(server.url) as client,
        pytest.raises(SidecarError) as info,
    ):
        client.get_token()
    assert "an access token for scope" in str(info.value)
    assert info.value.__cause__ is None
    assert TOKEN not in str(info.value) + repr(info.value)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2025-01-31T12:00:00Z", datetime(2025, 1, 31, 12, tzinfo=timezone.utc)),
        ("2025-01-31T12:00:00.5Z", datetime(2025, 1, 31, 12, 0, 0, 500000, tzinfo=timezone.utc)),
        (
            "2025-01-31T14:00:00.1234567+02:00",
            datetime(2025, 1, 31, 12, 0, 0, 123456, timezone.utc),
        ),
        ("2025-01-31T12:00:00", datetime(2025, 1, 31, 12, tzinfo=timezone.utc)),
    ],
)
def test_timestamps_parse_on_every_python(text: str, expected: datetime) -> None:
    """ISO 8601 with Z, any fraction or an offset becomes an aware UTC datetime (3.10 too)."""
    assert parse_time(text) == expected
    assert parse_time(text).utcoffset() == timedelta(0)


def test_a_lease_is_due_with_a_third_of_its_life_left() -> None:
    """Renewal is due at two thirds of the life seen at receipt; postpone never passes expiry."""
    now = [1000.0]
    wall = 1_700_000_000.0
    lease = Lease(
        datetime.fromtimestamp(wall + 90, timezone.utc), wall=lambda: wall, clock=lambda: now[0]
    )
    assert lease.lifetime == pytest.approx(90)
    now[0] += 59.9
    assert not lease.renew_due
    now[0] += 0.2
    assert lease.renew_due
    lease.postpone(10)
    assert not lease.renew_due
    assert not lease.expired
    lease.postpone(3600)
    assert lease.renew_at == lease.expires_at
    now[0] += 30
    assert lease.expired


def test_sidecar_sas_is_cached_then_renewed_with_a_third_left() -> None:
    """One SAS serves every option set until a third of its life is left; then a new one."""
    with (
        ScriptedServer([sas_reply(SAS, life=1.5), sas_reply(SAS_2)]) as server,
        SidecarClient(server.url) as client,
    ):
        conn = vending(client, sas_permissions="racwdl", sas_ttl=900)
        assert conn.secret_ref is None
        assert conn.storage_options() == {"account_name": "acct1", "sas_token": SAS}
        assert conn.pandas_storage_options() == {"account_name": "acct1", "sas_token": SAS}
        assert conn.get_storage_key() == SAS
        assert len(server.seen) == 1
        time.sleep(1.1)  # past two thirds of 1.5 s
        assert conn.storage_options()["sas_token"] == SAS_2
        assert conn.get_storage_key() == SAS_2
    assert len(server.seen) == 2
    assert server.seen[0].body == {
        "account": "acct1", "container": "bronze", "permissions": "racwdl", "ttl": 900,
    }  # fmt: skip


def test_threads_share_one_vending_request() -> None:
    """Eight threads asking a new connection for its SAS make one request and all get it."""
    slow = sas_reply()
    slow = Reply(slow.status, slow.body, trickle=0.002)  # about half a second: the threads overlap
    with ScriptedServer([slow]) as server, SidecarClient(server.url) as client:
        conn = vending(client)
        with ThreadPoolExecutor(max_workers=8) as pool:
            tokens = list(pool.map(lambda _: conn.get_storage_key(timeout=10), range(8)))
    assert tokens == [SAS] * 8
    assert len(server.seen) == 1


def test_a_failed_renewal_keeps_the_sas_until_it_expires(caplog: pytest.LogCaptureFixture) -> None:
    """Sidecar down at renewal: the still-valid SAS is kept (with a warning); once expired, the
    error is raised."""
    with (
        ScriptedServer([sas_reply(life=1.2), error(503, "Unavailable")]) as server,
        SidecarClient(server.url, retries=0) as client,
    ):
        conn = vending(client)
        assert conn.get_storage_key() == SAS
        time.sleep(0.9)  # renewal due at 0.8 s
        with caplog.at_level(logging.WARNING, logger="akv_client"):
            assert conn.get_storage_key() == SAS
        assert "Renewing a SAS for ADLS connection 'bronze' failed" in caplog.text
        assert len(server.seen) == 2
        time.sleep(0.4)
        with pytest.raises(SidecarUnavailable, match="storage container 'acct1/bronze'"):
            conn.get_storage_key()


def test_a_refused_renewal_drops_the_sas() -> None:
    """A 403 at renewal is raised at once and the SAS is forgotten: the next use asks again."""
    with (
        ScriptedServer([sas_reply(life=0.6), error(403, "Forbidden")]) as server,
        SidecarClient(server.url) as client,
    ):
        conn = vending(client)
        assert conn.get_storage_key() == SAS
        time.sleep(0.45)
        with pytest.raises(Forbidden):
            conn.get_storage_key()
        with pytest.raises(Forbidden):
            conn.get_storage_key()
    assert len(server.seen) == 3


def test_a_credential_expired_on_arrival_is_refused() -> None:
    """A SAS already past its expiry by this machine's clock is an error telling to check clocks."""
    with (
        ScriptedServer([sas_reply(life=-60)]) as server,
        SidecarClient(server.url) as client,
        pytest.raises(SidecarError, match="check the clocks"),
    ):
        vending(client).get_storage_key()


def test_invalidate_drops_the_vended_sas() -> None:
    """invalidate() (e.g. after Azure answered 403) makes the next use vend a new SAS."""
    with (
        ScriptedServer([sas_reply(SAS), sas_reply(SAS_2)]) as server,
        SidecarClient(server.url) as client,
    ):
        conn = vending(client)
        assert conn.get_storage_key() == SAS
        conn.invalidate()
        assert conn.get_storage_key() == SAS_2


def test_sidecar_token_gives_a_bearer_token_and_an_adlfs_credential() -> None:
    """sidecar_token: object_store gets `bearer_token`; adlfs gets an async credential that asks
    the sidecar; Spark is refused with a ValueError naming the connection."""
    with (
        ScriptedServer([token_reply()]) as server,
        SidecarClient(server.url) as client,
    ):
        conn = vending(client, "sidecar_token")
        assert conn.storage_options() == {"account_name": "acct1", "bearer_token": TOKEN}
        assert conn.storage_options()["bearer_token"] == TOKEN
        assert len(server.seen) == 1
        assert conn.get_storage_key() is None
        pandas = conn.pandas_storage_options()
        credential = pandas["credential"]
        assert isinstance(credential, SidecarTokenCredential)

        async def use() -> Any:
            async with credential:
                return await credential.get_token(STORAGE)

        core_token = asyncio.run(use())
        assert core_token.token == TOKEN
        assert abs(core_token.expires_on - (time.time() + 3600)) < 60
        assert TOKEN not in repr(core_token) + repr(credential) + repr(pandas)
        assert server.seen[-1].body == {"scope": STORAGE}
        with pytest.raises(ValueError, match=r"'bronze'.*no Spark settings"):
            conn.spark_conf()


def test_sovereign_cloud_endpoints() -> None:
    """endpoint_suffix moves the URI host, delta-rs's endpoint and adlfs's account host."""
    conn = AzureADLS(
        "acct1", "bronze", "raw", "direct_key", account_key="k",
        endpoint_suffix="core.chinacloudapi.cn",
    )  # fmt: skip
    assert conn.uri("t") == "abfss://bronze@acct1.dfs.core.chinacloudapi.cn/raw/t"
    assert conn.object_store_uri("t") == "abfss://bronze/raw/t"
    assert conn.storage_options()["endpoint"] == "https://acct1.blob.core.chinacloudapi.cn"
    assert conn.pandas_storage_options()["account_host"] == "acct1.blob.core.chinacloudapi.cn"
    assert set(conn.spark_conf()) == {
        "fs.azure.account.auth.type.acct1.dfs.core.chinacloudapi.cn",
        "fs.azure.account.key.acct1.dfs.core.chinacloudapi.cn",
    }
    public = AzureADLS("acct1", "bronze", auth_mode="direct_key", account_key="k")
    assert "endpoint" not in public.storage_options()
    assert "account_host" not in public.pandas_storage_options()
    with pytest.raises(ValueError, match="'endpoint_suffix'"):
        AzureADLS("acct1", "bronze", auth_mode="direct_key", account_key="k", endpoint_suffix="x")


def test_managed_identity_picks_workload_identity_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """With AKS's three variables set, managed_identity uses the federated token (object_store
    keys); identity="msi" or a missing variable keeps the metadata endpoint."""
    for name in ("AZURE_FEDERATED_TOKEN_FILE", "AZURE_CLIENT_ID", "AZURE_TENANT_ID"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("AZURE_AUTHORITY_HOST", raising=False)
    assert AzureADLS("acct1", "bronze", auth_mode="managed_identity").storage_options() == {
        "account_name": "acct1"
    }
    monkeypatch.setenv("AZURE_FEDERATED_TOKEN_FILE", "/var/run/secrets/azure/tokens/t")
    monkeypatch.setenv("AZURE_CLIENT_ID", "env-client")
    monkeypatch.setenv("AZURE_TENANT_ID", "env-tenant")
    monkeypatch.setenv("AZURE_AUTHORITY_HOST", "https://login.chinacloudapi.cn/")
    auto = AzureADLS("acct1", "bronze", auth_mode="managed_identity")
    assert auto.storage_options() == {
        "account_name": "acct1", "tenant_id": "env-tenant", "client_id": "env-client",
        "federated_token_file": "/var/run/secrets/azure/tokens/t",
        "authority_host": "https://login.chinacloudapi.cn/",
    }  # fmt: skip
    msi = AzureADLS("acct1", "bronze", auth_mode="managed_identity", identity="msi")
    assert msi.storage_options() == {"account_name": "acct1"}
    given = AzureADLS("acct1", "bronze", auth_mode="managed_identity", client_id="mine")
    assert given.storage_options()["client_id"] == "mine"
    monkeypatch.delenv("AZURE_TENANT_ID")
    assert (
        "tenant_id"
        not in AzureADLS("acct1", "bronze", auth_mode="managed_identity").storage_options()
    )
    with pytest.raises(ValueError, match=r"'bronze'.*'tenant_id' \(or AZURE_TENANT_ID"):
        AzureADLS(
            "acct1", "bronze", auth_mode="managed_identity", identity="workload", name="bronze"
        )
    with pytest.raises(ValueError, match="'identity'"):
        AzureADLS("acct1", "bronze", auth_mode="managed_identity", identity="vm")
    with pytest.raises(ValueError, match="'identity' applies to auth_mode 'managed_identity'"):
        AzureADLS("acct1", "bronze", auth_mode="direct_key", account_key="k", identity="msi")
