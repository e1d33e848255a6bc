"""Configuration: YAML, durations, environment overrides and errors that name key and file."""

from __future__ import annotations

from pathlib import Path

import pytest

from akv_sidecar import ConfigError, load_config
from akv_sidecar.config.fields import duration

TOKEN = {"auth": {"tokens": [{"name": "jobs", "token_env": "JOBS_TOKEN"}]}}


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "sidecar.yaml"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("30s", 30),
        ("5m", 300),
        ("24h", 86400),
        ("100ms", 0.1),
        (45, 45),
        ("2.5", 2.5),
        ("1d", 86400),
    ],
)
def test_durations(text: object, seconds: float) -> None:
    """Durations accept 30s, 5m, 24h, ms, days and plain numbers of seconds."""
    assert duration(0, 10**6)(text) == pytest.approx(seconds)


def test_defaults_and_example_file(tmp_path: Path) -> None:
    """The issue's example file loads; defaults fill what it leaves out; relative paths resolve."""
    path = write(
        tmp_path,
        """
listen: {host: 127.0.0.1, port: 8787}
auth:
  tokens:
    - name: spark-jobs
      token_file: ./token
      allow: ["*"]
vaults:
  - name: mykv
    ca_file: ./ca.pem
    secrets: [bronze-key, silver-key]
credential: {kind: default}
cache: {refresh_interval: 5m, max_stale: 24h, on_demand: true}
upstream: {concurrency: 16, timeout: 10s}
""",
    )
    config = load_config(path, environ={})
    assert config.cache.refresh_interval == 300
    assert config.cache.max_stale == 86400
    assert config.upstream.timeout == 10
    assert config.cache.negative_ttl == 30
    assert config.vaults[0].vault_url == "https://mykv.vault.azure.net"
    assert config.vaults[0].ca_file == str(tmp_path / "ca.pem")
    assert config.auth.tokens[0].token_file == str(tmp_path / "token")
    assert config.listen.host == "127.0.0.1"


def test_unknown_key_names_key_path_file_and_known_keys(tmp_path: Path) -> None:
    """An unknown key is an error naming its path, the file and the section's known keys."""
    path = write(tmp_path, "cache:\n  refesh_interval: 5m\n")
    with pytest.raises(ConfigError) as caught:
        load_config(path, environ={})
    message = str(caught.value)
    assert message.startswith(
        f"Unknown key 'cache.refesh_interval' in {path}. Known keys in 'cache':"
    )
    assert "max_stale, max_versions, negative_ttl, on_demand, refresh_interval" in message


@pytest.mark.parametrize(
    ("data", "needle"),
    [
        ({"cache": {"refresh_interval": "soon"}}, "'cache.refresh_interval'"),
        ({"listen": {"port": 70000}}, "from 0 to 65535"),
        ({"credential": {"kind": "password"}}, "one of: default, managed_identity"),
        ({"vaults": [{"name": "my_kv"}]}, "'vaults[0].name'"),
        ({"vaults": [{"name": "mykv", "secrets": ["bad name"]}]}, "secret name"),
        ({"vaults": [{"name": "mykv", "url": "http://127.0.0.1:1"}]}, "https://"),
        ({"cache": {"on_demand": "maybe"}}, "true or false"),
        ({"vaults": {"name": "mykv"}}, "list of mappings"),
    ],
)
def test_wrong_values_say_what_is_allowed(data: dict[str, object], needle: str) -> None:
    """A wrong value names the key and says what is allowed."""
    with pytest.raises(ConfigError, match="Invalid value for") as caught:
        load_config(data={**TOKEN, **data}, environ={})
    assert needle in str(caught.value)


@pytest.mark.parametrize(
    ("data", "needle"),
    [
        ({}, "No caller token"),
        ({"auth": {"tokens": [{"name": "a"}]}}, "exactly one of token_file or token_env"),
        ({"auth": {"tokens": [{"token_env": "X"}]}}, "Missing key 'auth.tokens[0].name'"),
        ({**TOKEN, "credential": {"kind": "client_secret"}}, "tenant_id and client_id"),
    ],
)
def test_cross_key_rules(data: dict[str, object], needle: str) -> None:
    """Rules spanning keys: a token is required, token source, credential needs."""
    with pytest.raises(ConfigError) as caught:
        load_config(data=data, environ={})
    assert needle in str(caught.value)


def test_environment_overrides(tmp_path: Path) -> None:
    """AKV_SIDECAR_<SECTION>__<KEY> overrides the file, list items by index; others are ignored."""
    path = write(tmp_path, "auth: {tokens: [{name: a, token_env: T}]}\nvaults: [{name: mykv}]\n")
    config = load_config(
        path,
        environ={
            "AKV_SIDECAR_CACHE__REFRESH_INTERVAL": "10s",
            "AKV_SIDECAR_LISTEN__PORT": "9000",
            "AKV_SIDECAR_CACHE__ON_DEMAND": "false",
            "AKV_SIDECAR_VAULTS__0__SECRETS": "a, b",
            "AKV_SIDECAR_URL": "http://127.0.0.1:8787",  # the client's variable, not ours
        },
    )
    assert config.cache.refresh_interval == 10
    assert config.listen.port == 9000
    assert config.cache.on_demand is False
    assert config.vaults[0].secrets == ("a", "b")


def test_environment_errors_name_the_variable() -> None:
    """A bad override names the environment variable rather than the file."""
    with pytest.raises(ConfigError, match="environment variable AKV_SIDECAR_CACHE__MAX_STALE"):
        load_config(data=TOKEN, environ={"AKV_SIDECAR_CACHE__MAX_STALE": "forever"})
    with pytest.raises(ConfigError, match=r"Unknown key 'cache\.bogus' in environment variable"):
        load_config(data=TOKEN, environ={"AKV_SIDECAR_CACHE__BOGUS": "1"})


def test_yaml_errors_name_file_and_line(tmp_path: Path) -> None:
    """Broken YAML is reported with the file and the line, and a non-mapping top is refused."""
    path = write(tmp_path, "cache:\n  refresh_interval: [\n")
    with pytest.raises(ConfigError, match=r"is not valid YAML at line \d+"):
        load_config(path, environ={})
    with pytest.raises(ConfigError, match="mapping of settings"):
        load_config(write(tmp_path, "- a\n- b\n"), environ={})
    with pytest.raises(ConfigError, match="Cannot read the config file"):
        load_config(tmp_path / "missing.yaml", environ={})
