"""Seeding from YAML files and mappings, with errors naming the key and the file."""

from __future__ import annotations

from pathlib import Path

import pytest

from akv_emulator import Emulator, SeedError
from akv_emulator._seed import SeedSecret, load_seed
from akv_emulator._store import SecretVersion


def test_yaml_seed_with_plain_and_detailed_secrets(tmp_path: Path) -> None:
    """A bare `secrets:` section seeds the single vault with values and attributes."""
    seed = tmp_path / "seed.yaml"
    seed.write_text(
        "secrets:\n"
        "  plain: hello\n"
        "  number: 12345\n"
        "  detailed:\n"
        "    value: v\n"
        "    content_type: text/plain\n"
        "    enabled: false\n"
        "    tags: {team: data}\n"
        "    exp: 2030-01-01T00:00:00Z\n",
        encoding="utf-8",
    )
    with Emulator(vaults=("demo",), seed=seed) as emu:
        assert emu.get_value("demo", "plain") == "hello"
        assert emu.get_value("demo", "number") == "12345"
        assert emu.get_value("demo", "detailed") == "v"
    assert load_seed(seed, ["demo"])["demo"][2] == SeedSecret(
        "detailed", "v", "text/plain", False, {"team": "data"}, 1_893_456_000, None
    )


def test_seed_per_vault(tmp_path: Path) -> None:
    """With several vaults the seed is keyed by vault name."""
    seed = {"one": {"secrets": {"a": "1"}}, "two": {"secrets": {"a": "2"}}}
    with Emulator(vaults=("one", "two"), seed=seed) as emu:
        assert emu.get_value("one", "a") == "1"
        assert emu.get_value("two", "a") == "2"
        assert emu.vault_url("one") != emu.vault_url("two")


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("secrets:\n  a:\n    value: v\n    colour: red\n", "secrets.a.colour"),
        ("secret:\n  a: v\n", "secret"),
        ("secrets:\n  bad_name: v\n", "secrets.bad_name"),
        ("secrets:\n  a:\n    content_type: x\n", "secrets.a.value"),
        ("secrets:\n  a:\n    value: v\n    exp: soon\n", "secrets.a.exp"),
    ],
)
def test_bad_seed_names_key_and_file(tmp_path: Path, text: str, key: str) -> None:
    """A malformed seed file raises SeedError naming the offending key and the file."""
    seed = tmp_path / "bad.yaml"
    seed.write_text(text, encoding="utf-8")
    with pytest.raises(SeedError) as caught:
        Emulator(seed=seed).start()
    assert str(seed) in str(caught.value)
    assert repr(key) in str(caught.value)


def test_missing_seed_file(tmp_path: Path) -> None:
    """A seed path that does not exist is a SeedError naming the file."""
    with pytest.raises(SeedError, match=r"missing\.yaml"):
        Emulator(seed=tmp_path / "missing.yaml").start()


def test_a_yaml_error_names_the_place_never_the_line(tmp_path: Path) -> None:
    """A seed file that is not YAML gives line and column, not the line's text (a value)."""
    seed = tmp_path / "broken.yaml"
    seed.write_text("secrets:\n  storage-key: TOPSECRETVALUE: oops\n", encoding="utf-8")
    with pytest.raises(SeedError) as caught:
        Emulator(seed=seed).start()
    assert str(caught.value) == f"{seed}: not valid YAML at line 2, column 30"
    assert caught.value.__cause__ is None
    assert caught.value.__suppress_context__


def test_seeded_values_stay_out_of_reprs() -> None:
    """The seed and stored versions keep their values out of repr (pytest prints reprs)."""
    assert "TOPSECRETVALUE" not in repr(SeedSecret("plain", "TOPSECRETVALUE"))
    assert "TOPSECRETVALUE" not in repr(SecretVersion("plain", "ab" * 16, "TOPSECRETVALUE", 0, 0))
