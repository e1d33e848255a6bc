"""deploy/kubernetes and the akv-sidecar-hadoop providers: every Spark pod template puts the jar
on Spark's classpath (copied from the sidecar's image by an init container) and the provider
settings in a core-site.xml on HADOOP_CONF_DIR; the settings name keys and classes the compiled
jars hold, no secret, and an account the sidecar signs for."""

from __future__ import annotations

import copy
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import pytest
import yaml

from akv_client import AzureADLS, SidecarClient

from ._hadoop import AKV_PACKAGE, core_site, problems, provider_jar, utf8_constants
from ._kustomize import Manifest, load_documents, render
from .test_kubernetes import JAR_COPIER, SHARED_TEMPLATE, TEMPLATES, TEST_TOKEN

REPO = Path(__file__).resolve().parents[2]
FOLDER = REPO / "deploy" / "kubernetes"
ALL_TEMPLATES = (*TEMPLATES, SHARED_TEMPLATE)
SPARK_JARS = "/opt/spark/jars"


@pytest.fixture(scope="module")
def rendered() -> list[Manifest]:
    return render(FOLDER, {"token": TEST_TOKEN})


def spec_of(name: str) -> dict[str, Any]:
    spec: dict[str, Any] = load_documents(FOLDER / name)[0]["spec"]
    return spec


def container(spec: dict[str, Any], name: str) -> dict[str, Any]:
    found: dict[str, Any] = next(
        c for c in spec.get("initContainers", []) + spec["containers"] if c["name"] == name
    )
    return found


def env_of(item: dict[str, Any]) -> dict[str, str]:
    return {entry["name"]: entry["value"] for entry in item.get("env", [])}


def the_core_site(rendered: list[Manifest]) -> dict[str, str]:
    (config_map,) = [o for o in rendered if o["metadata"]["name"] == "akv-sidecar-hadoop-conf"]
    return core_site(config_map["data"]["core-site.xml"])


def sidecar_image(rendered: list[Manifest]) -> str:
    (deployment,) = [o for o in rendered if o["kind"] == "Deployment"]
    image: str = deployment["spec"]["template"]["spec"]["containers"][0]["image"]
    return image


@pytest.mark.parametrize("name", ALL_TEMPLATES)
def test_the_jar_is_copied_from_the_sidecar_image_into_sparks_jars(
    name: str, rendered: list[Manifest]
) -> None:
    """An init container of the sidecar's image copies the jar to an emptyDir, which the Spark
    container mounts, file by file, among Spark's own jars; the copier holds no token."""
    spec = spec_of(name)
    copier = container(spec, JAR_COPIER)
    assert copier["image"] == sidecar_image(rendered)
    python, *args, target = copier["command"]
    assert (python, args) == ("python", ["-m", "akv_client", "hadoop-jar"])
    volumes = {volume["name"]: volume for volume in spec["volumes"]}
    (mount,) = copier["volumeMounts"]
    assert mount["mountPath"] == target
    assert "emptyDir" in volumes[mount["name"]]
    assert copier["securityContext"]["readOnlyRootFilesystem"] is True
    assert copier["securityContext"]["capabilities"]["drop"] == ["ALL"]
    assert set(copier["resources"]["limits"]) == {"cpu", "memory"}
    spark = spec["containers"][0]
    jar_mounts = [m for m in spark["volumeMounts"] if m["name"] == mount["name"]]
    assert jar_mounts == [
        {
            "name": mount["name"],
            "mountPath": f"{SPARK_JARS}/{provider_jar().name}",
            "subPath": provider_jar().name,
            "readOnly": True,
        }
    ]


def test_the_copier_command_really_copies_the_jar_spark_mounts(tmp_path: Path) -> None:
    """The init container's command, run here, leaves the very file the subPath mount names."""
    copier = container(spec_of(TEMPLATES[0]), JAR_COPIER)
    _python, *args, _target = copier["command"]
    result = subprocess.run(
        [sys.executable, *args, str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    (spark_mount,) = [
        m for m in spec_of(TEMPLATES[0])["containers"][0]["volumeMounts"] if "subPath" in m
    ]
    copied = tmp_path / spark_mount["subPath"]
    assert result.stdout.strip() == str(copied)
    assert copied.read_bytes() == provider_jar().read_bytes()
    assert AKV_PACKAGE.replace(".", "/") + "SidecarSasTokenProvider.class" in _names(copied)


def _names(jar: Path) -> list[str]:
    with zipfile.ZipFile(jar) as archive:
        return archive.namelist()


@pytest.mark.parametrize("name", ALL_TEMPLATES)
def test_hadoop_conf_dir_is_the_mounted_core_site(name: str, rendered: list[Manifest]) -> None:
    """HADOOP_CONF_DIR is where the akv-sidecar-hadoop-conf ConfigMap is mounted, read-only;
    the URL and token file reach the JVM by the environment variables it reads."""
    spec = spec_of(name)
    spark = spec["containers"][0]
    env = env_of(spark)
    volumes = {volume["name"]: volume for volume in spec["volumes"]}
    mounts = {m["mountPath"]: m for m in spark["volumeMounts"]}
    mount = mounts[env["HADOOP_CONF_DIR"]]
    assert mount["readOnly"] is True
    assert volumes[mount["name"]]["configMap"]["name"] == "akv-sidecar-hadoop-conf"
    constants = _settings_constants()
    assert {"AKV_SIDECAR_URL", "AKV_SIDECAR_TOKEN_FILE"} <= constants
    assert {"AKV_SIDECAR_URL", "AKV_SIDECAR_TOKEN_FILE"} <= set(env)
    assert the_core_site(rendered)  # the ConfigMap exists and holds properties


def _settings_constants() -> set[str]:
    with zipfile.ZipFile(provider_jar()) as jar:
        return utf8_constants(jar.read("org/akvsidecar/hadoop/SidecarSettings.class"))


def test_core_site_holds_known_keys_and_classes_and_no_secret(rendered: list[Manifest]) -> None:
    """Each key is one hadoop-azure or the jar reads, each class is in the jar with its auth type,
    and no value is a credential."""
    settings = the_core_site(rendered)
    assert problems(settings) == []
    assert any(value.startswith(AKV_PACKAGE) for value in settings.values())


def test_the_checks_catch_a_misspelt_key_a_missing_class_and_a_key(
    rendered: list[Manifest],
) -> None:
    """The same checks fail on a wrong key, a class not in the jar, and an account key."""
    settings = the_core_site(rendered)
    bad = copy.deepcopy(settings)
    provider_key = next(k for k, v in settings.items() if v.startswith(AKV_PACKAGE))
    bad[provider_key] = AKV_PACKAGE + "SidecarSasProvider"
    bad["fs.azure.akv-sidecar.tokenfile"] = "/x"
    bad["fs.azure.account.key.mystorage.dfs.core.windows.net"] = "not-a-key"
    found = problems(bad)
    assert len(found) == 3, found


def test_core_site_is_what_the_client_sets_for_the_account(
    rendered: list[Manifest], tmp_path: Path
) -> None:
    """core-site.xml is AzureADLS's sidecar_sas_provider settings for the account config.yaml
    vends for, less the URL and token file, which the pods' environment gives."""
    config = yaml.safe_load(
        next(o for o in rendered if o["metadata"]["name"] == "akv-sidecar-config")["data"][
            "config.yaml"
        ]
    )
    (account,) = config["storage"]["accounts"]
    token_file = tmp_path / "token"
    token_file.write_text("rendering-only\n")
    with SidecarClient("http://127.0.0.1:8787", token_file=str(token_file)) as sidecar:
        conn = AzureADLS(
            account["name"], "any", auth_mode="sidecar_sas_provider", hns=account["hns"],
            sidecar=sidecar,
        )  # fmt: skip
        expected = conn.spark_conf()
    for key in ("url", "token.file"):
        del expected[f"fs.azure.akv-sidecar.{key}.{conn.host}"]
    assert the_core_site(rendered) == expected


@pytest.mark.spark
def test_a_spark_jvm_reads_core_site_from_hadoop_conf_dir(
    rendered: list[Manifest], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A Spark driver launched with HADOOP_CONF_DIR at the rendered core-site.xml, as the pod
    templates set it, has the provider settings in its Hadoop configuration: set by no conf."""
    from tests.client.spark_setup import new_jvm, session_builder

    (config_map,) = [o for o in rendered if o["metadata"]["name"] == "akv-sidecar-hadoop-conf"]
    (tmp_path / "core-site.xml").write_text(config_map["data"]["core-site.xml"])
    monkeypatch.setenv("HADOOP_CONF_DIR", str(tmp_path))
    new_jvm()  # HADOOP_CONF_DIR is read when the JVM is launched
    try:
        spark = session_builder([]).master("local[1]").getOrCreate()
        hadoop = spark.sparkContext._jsc.hadoopConfiguration()
        for key, value in the_core_site(rendered).items():
            assert hadoop.get(key) == value, key
            assert not spark.conf.get(key, None), key  # from the file, not the Spark conf
    finally:
        new_jvm()  # the next session starts without this HADOOP_CONF_DIR
