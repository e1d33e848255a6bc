"""What the deployments' Hadoop settings are checked against: the compiled jars themselves.

The keys a setting may use are the string constants of the classes that read them (hadoop-azure's
`ConfigurationKeys`, every class of the akv-sidecar-hadoop jar), from the class files' constant
pools; the provider classes a setting may name are the jar's classes. So a misspelt key or class
in a pod template, core-site.xml or the Databricks conf fails here, not on a cluster.
"""

from __future__ import annotations

import struct
import xml.etree.ElementTree as ET
import zipfile
from functools import cache
from pathlib import Path

from akv_client import hadoop_jar
from tests.client.spark_setup import IVY_DIR, hadoop_version

ABFS_KEYS_CLASS = "org/apache/hadoop/fs/azurebfs/constants/ConfigurationKeys.class"
AKV_PREFIX = "fs.azure.akv-sidecar."
AKV_PACKAGE = "org.akvsidecar.hadoop."
# Which auth type each provider needs (jvm/README.md's table).
AUTH_TYPE = {
    AKV_PACKAGE + "SidecarSasTokenProvider": ("fs.azure.sas.token.provider.type", "SAS"),
    AKV_PACKAGE + "SidecarTokenProvider": ("fs.azure.account.oauth.provider.type", "Custom"),
    AKV_PACKAGE + "SidecarKeyProvider": ("fs.azure.account.keyprovider", "SharedKey"),
}
# ABFS keys whose value is a credential: none may be set by a deployment.
SECRET_KEYS = (
    "fs.azure.account.key",
    "fs.azure.sas.fixed.token",
    "fs.azure.account.oauth2.client.secret",
)
_SIZES = {3: 4, 4: 4, 5: 8, 6: 8, 7: 2, 8: 2, 9: 4, 10: 4, 11: 4, 12: 4, 15: 3, 16: 2, 17: 4, 18: 4}
_SIZES |= {19: 2, 20: 2}


def utf8_constants(class_file: bytes) -> set[str]:
    """The Utf8 entries of a class file's constant pool (JVMS 4.4): its string literals too."""
    (count,) = struct.unpack_from(">H", class_file, 8)
    found, offset, index = set(), 10, 1
    while index < count:
        tag = class_file[offset]
        if tag == 1:
            (length,) = struct.unpack_from(">H", class_file, offset + 1)
            found.add(class_file[offset + 3 : offset + 3 + length].decode("utf-8", "replace"))
            offset += 3 + length
        else:
            offset += 1 + _SIZES[tag]
        index += 2 if tag in (5, 6) else 1
    return found


def provider_jar() -> Path:
    jar = hadoop_jar()
    assert jar is not None, "no akv-sidecar-hadoop jar: run `make jvm` (make test does)"
    return Path(jar)


@cache
def jar_classes() -> frozenset[str]:
    """The classes of the akv-sidecar-hadoop jar, dotted."""
    with zipfile.ZipFile(provider_jar()) as jar:
        names = [n for n in jar.namelist() if n.endswith(".class")]
    return frozenset(n.removesuffix(".class").replace("/", ".") for n in names)


@cache
def known_keys() -> frozenset[str]:
    """Every fs.azure.* key hadoop-azure's ConfigurationKeys or the akv jar's classes name."""
    azure = IVY_DIR / "jars" / f"org.apache.hadoop_hadoop-azure-{hadoop_version()}.jar"
    assert azure.is_file(), f"no {azure.name} in .cache/ivy: run `make test` (it fetches it)"
    with zipfile.ZipFile(azure) as jar:
        constants = utf8_constants(jar.read(ABFS_KEYS_CLASS))
    with zipfile.ZipFile(provider_jar()) as jar:
        for name in jar.namelist():
            if name.endswith(".class"):
                constants |= utf8_constants(jar.read(name))
    return frozenset(c for c in constants if c.startswith("fs.azure.") and not c.endswith("."))


def base_key(key: str) -> str | None:
    """The key as the jars name it: `key` itself, or `key` less an account suffix."""
    keys = known_keys()
    parts = key.split(".")
    for end in range(len(parts), 2, -1):  # fs.azure.<at least one more part>
        if ".".join(parts[:end]) in keys:
            return ".".join(parts[:end])
    return None


def problems(settings: dict[str, str]) -> list[str]:
    """What is wrong with a deployment's Hadoop settings: unknown keys, classes missing from the
    jar, a provider without its auth type, any credential. Empty when all is well."""
    found = []
    for key, value in settings.items():
        base = base_key(key)
        if base is None:
            found.append(f"{key}: no class of hadoop-azure or akv-sidecar-hadoop reads it")
        elif base in SECRET_KEYS:
            found.append(f"{key}: holds a credential")
        if value.startswith(AKV_PACKAGE):
            if value not in jar_classes():
                found.append(f"{key}={value}: no such class in {provider_jar().name}")
                continue
            provider_key, auth_type = AUTH_TYPE[value]
            suffix = key.removeprefix(provider_key)
            if not key.startswith(provider_key):
                found.append(f"{key}={value}: the provider belongs in {provider_key}")
            elif settings.get(f"fs.azure.account.auth.type{suffix}") != auth_type:
                found.append(f"{key}: needs fs.azure.account.auth.type{suffix}={auth_type}")
    return found


def core_site(text: str) -> dict[str, str]:
    """The properties of a Hadoop *-site.xml."""
    root = ET.fromstring(text)  # noqa: S314 - the repository's own file
    return {p.findtext("name", "").strip(): p.findtext("value", "").strip() for p in root}
