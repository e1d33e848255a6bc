"""The storage and tokens sections: what they accept, errors that name the key, and the account
key joining its vault's prefetch list."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from akv_emulator import Emulator
from akv_sidecar.config.loading import load_config
from akv_sidecar.core.errors import ConfigError
from akv_sidecar.server.sidecar import Sidecar

from .conftest import ACCOUNT, KEY_SECRET, account, vending_config


def built(emulator: Emulator, tmp_path: Path, **changes: Any) -> Sidecar:
    """A Sidecar (not started) for the vending config with ``changes`` to its sections."""
    config, _ = vending_config(emulator, tmp_path, [account()])
    for section, value in changes.items():
        config[section] = value
    return Sidecar(load_config(data=config, environ={}))


def test_account_key_joins_its_vaults_prefetch_list(emulator: Emulator, tmp_path: Path) -> None:
    """An account's key is one more secret of its vault (prefetched, refreshed), with defaults:
    no HNS, max_ttl 1 h, the public blob endpoint."""
    sidecar = built(emulator, tmp_path)
    (vault,) = sidecar.config.vaults
    assert KEY_SECRET in vault.secrets
    (configured,) = sidecar.config.storage.accounts
    assert (configured.name, configured.hns, configured.max_ttl) == (ACCOUNT, False, 3600.0)
    assert configured.endpoint is None
    assert sidecar.config.tokens.scopes == ("https://storage.azure.com/.default",)


@pytest.mark.parametrize(
    ("section", "value", "named"),
    [
        ("storage", {"accounts": [{**account(), "sas": "x"}]},
         "Unknown key 'storage.accounts[0].sas'"),
        ("storage", {"acounts": []}, "Unknown key 'storage.acounts'"),
        ("tokens", {"scope": ["x"]}, "Unknown key 'tokens.scope'"),
        ("storage", {"accounts": [{"name": ACCOUNT}]}, "Missing key 'storage.accounts[0].key'"),
        ("storage", {"accounts": [account(name="Bad_Name")]}, "'storage.accounts[0].name'"),
        ("storage", {"accounts": [account(max_ttl="8d")]}, "'storage.accounts[0].max_ttl'"),
        ("storage", {"accounts": [account(hns="maybe")]}, "'storage.accounts[0].hns'"),
        ("storage", {"accounts": [{**account(), "key": {"vault": "kv1"}}]},
         "Missing key 'storage.accounts[0].key.secret'"),
        ("tokens", {"scopes": ["https://storage.azure.com/.default", "two words"]},
         "'tokens.scopes[1]'"),
    ],
)  # fmt: skip
def test_bad_sections_name_the_key(
    emulator: Emulator, tmp_path: Path, section: str, value: Any, named: str
) -> None:
    """Unknown, missing and malformed keys are errors naming the key."""
    with pytest.raises(ConfigError, match=re.escape(named)):
        built(emulator, tmp_path, **{section: value})


@pytest.mark.parametrize(
    ("accounts", "named", "why"),
    [
        ([{**account(), "key": {"vault": "kv2", "secret": "k"}}],
         "storage.accounts[0].key.vault", "no vault named 'kv2'"),
        ([account(), account()], "storage.accounts[1].name", "configured twice"),
        ([account(endpoint="http://storage.example.com")], "storage.accounts[0].endpoint",
         "http:// only"),
    ],
)  # fmt: skip
def test_accounts_are_checked_against_the_rest(
    emulator: Emulator, tmp_path: Path, accounts: list[dict[str, Any]], named: str, why: str
) -> None:
    """An account whose vault is not configured, a repeated account and plain HTTP to another
    host are refused at start, naming the key."""
    with pytest.raises(ConfigError, match=rf"'{re.escape(named)}'.*{why}"):
        built(emulator, tmp_path, storage={"accounts": accounts})


@pytest.mark.parametrize(
    "endpoint",
    ["https://acct.blob.core.usgovcloudapi.net", "http://127.0.0.1:10000/a", "http://localhost:1"],
)
def test_https_and_loopback_http_endpoints_are_accepted(
    emulator: Emulator, tmp_path: Path, endpoint: str
) -> None:
    """Sovereign clouds over HTTPS and Azurite over loopback HTTP are valid endpoints."""
    sidecar = built(emulator, tmp_path, storage={"accounts": [account(endpoint=endpoint)]})
    assert sidecar.config.storage.accounts[0].endpoint == endpoint


def test_allow_permissions_takes_sas_letters(emulator: Emulator, tmp_path: Path) -> None:
    """auth.tokens[].allow_permissions is normalised to Azure's order; other letters are an error
    naming the key."""
    config, _ = vending_config(emulator, tmp_path, [account()])
    config["auth"]["tokens"][0]["allow_permissions"] = "lr"
    assert load_config(data=config, environ={}).auth.tokens[0].allow_permissions == "rl"
    config["auth"]["tokens"][0]["allow_permissions"] = "rz"
    with pytest.raises(ConfigError, match=r"'auth\.tokens\[0\]\.allow_permissions'"):
        load_config(data=config, environ={})


def test_a_vault_named_like_a_vending_kind_is_refused(tmp_path: Path) -> None:
    """A vault named 'storage' or 'token' would make its allow patterns grant credentials."""
    for name in ("storage", "Token"):
        config = {
            "auth": {"tokens": [{"name": "t", "token_env": "T"}]},
            "vaults": [{"name": name}],
        }
        with pytest.raises(ConfigError, match=f"vaults\\[0\\].name.*{name!r}"):
            load_config(data=config, environ={"T": "x" * 32})
