"""deploy/kubernetes: strict offline schema validation, and the wiring between the manifests."""

from __future__ import annotations

import copy
import posixpath
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from akv_sidecar import load_config
from akv_sidecar.server.listeners import check_exposure

from ._dockerfile import Dockerfile
from ._kustomize import Manifest, load_documents, referenced_files, render

REPO = Path(__file__).resolve().parents[2]
FOLDER = REPO / "deploy" / "kubernetes"
# Native sidecars (init containers with restartPolicy: Always) are on by default from 1.29; managed
# clusters offer 1.30+. Validate against that floor and the newest schemas shipped.
VERSIONS = ("1.30.0", kubernetes_validate.latest_version())
TEMPLATES = ("driver-pod-template.yaml", "executor-pod-template.yaml")
SHARED_TEMPLATE = "executor-shared-pod-template.yaml"
TEST_TOKEN = "test-token-for-rendering-only\n"
JAR_COPIER = "akv-sidecar-hadoop-jar"


@pytest.fixture(scope="module")
def rendered() -> list[Manifest]:
    return render(FOLDER, {"token": TEST_TOKEN})


def every_manifest() -> list[Any]:
    objects = render(FOLDER, {"token": TEST_TOKEN})
    named = [(f"{item['kind']}/{item['metadata']['name']}", item) for item in objects]
    templates = [(name, template(name)) for name in (*TEMPLATES, SHARED_TEMPLATE)]
    return [pytest.param(manifest, id=name) for name, manifest in named + templates]


def find(objects: list[Manifest], kind: str, name: str) -> Manifest:
    matches = [o for o in objects if o["kind"] == kind and o["metadata"]["name"] == name]
    assert len(matches) == 1, f"{kind}/{name}"
    return matches[0]


def template(name: str) -> Manifest:
    return load_documents(FOLDER / name)[0]


def sidecar(pod_spec: dict[str, Any]) -> dict[str, Any]:
    containers = pod_spec.get("initContainers", []) + pod_spec["containers"]
    return next(c for c in containers if c["name"] == "akv-sidecar")


def main_container(pod_spec: dict[str, Any]) -> dict[str, Any]:
    container: dict[str, Any] = pod_spec["containers"][0]
    return container


def env_of(container: dict[str, Any]) -> dict[str, str]:
    return {item["name"]: item["value"] for item in container.get("env", [])}


def sidecar_config(rendered: list[Manifest]) -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(
        find(rendered, "ConfigMap", "akv-sidecar-config")["data"]["config.yaml"]
    )
    return data


def deployment_pod(rendered: list[Manifest]) -> dict[str, Any]:
    pod: dict[str, Any] = find(rendered, "Deployment", "akv-sidecar")["spec"]["template"]
    return pod


def shared_pod_spec(rendered: list[Manifest]) -> dict[str, Any]:
    spec: dict[str, Any] = deployment_pod(rendered)["spec"]
    return spec


def all_pod_specs(rendered: list[Manifest]) -> dict[str, dict[str, Any]]:
    specs = {name: template(name)["spec"] for name in (*TEMPLATES, SHARED_TEMPLATE)}
    specs["Deployment/akv-sidecar"] = shared_pod_spec(rendered)
    return specs


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("manifest", every_manifest())
def test_manifest_validates_strictly(manifest: Manifest, version: str) -> None:
    """Each manifest, generated objects included, passes the strict Kubernetes schema offline."""
    assert kubernetes_validate.validate(manifest, version, strict=True)


def test_strict_validation_rejects_unknown_fields_and_old_clusters() -> None:
    """The same validation fails on a misspelt field, and on 1.27, which has no native sidecars."""
    misspelt = copy.deepcopy(template(TEMPLATES[0]))
    misspelt["spec"]["initContainers"][0]["startUpProbe"] = {}
    with pytest.raises(kubernetes_validate.ValidationError, match="startUpProbe"):
        kubernetes_validate.validate(misspelt, VERSIONS[0], strict=True)
    with pytest.raises(kubernetes_validate.ValidationError, match="restartPolicy"):
        kubernetes_validate.validate(template(TEMPLATES[0]), "1.27.0", strict=True)


def test_kustomization_names_every_file_and_every_name_exists() -> None:
    """Each manifest in deploy/kubernetes is in the kustomization, and each reference exists."""
    referenced = set(referenced_files(FOLDER))
    present = {path.name for path in FOLDER.glob("*.yaml")} - {"kustomization.yaml"}
    present |= {path.name for path in FOLDER.glob("*.xml")}
    assert present <= referenced
    # The token is the one file users create (git ignores it); every other reference is shipped.
    assert referenced - present == {"token"}
    assert "/token" in (FOLDER / ".gitignore").read_text(encoding="utf-8").splitlines()


@pytest.mark.parametrize("name", TEMPLATES)
def test_native_sidecar_gates_spark_on_readiness(name: str) -> None:
    """The sidecar is an init container that keeps running, whose startupProbe checks /readyz."""
    spec = template(name)["spec"]
    container = spec["initContainers"][0]
    assert container["name"] == "akv-sidecar"
    assert container["restartPolicy"] == "Always"
    dockerfile = Dockerfile.read(REPO / "Dockerfile")
    probe_script = dockerfile.final.one("HEALTHCHECK").exec_form()[1]
    assert container["startupProbe"]["exec"]["command"] == ["python", probe_script, "/readyz"]
    assert container["livenessProbe"]["exec"]["command"] == ["python", probe_script, "/healthz"]
    expected_main = {
        "driver-pod-template.yaml": "spark-kubernetes-driver",
        "executor-pod-template.yaml": "spark-kubernetes-executor",
    }
    assert main_container(spec)["name"] == expected_main[name]


def test_both_templates_carry_the_same_sidecar() -> None:
    """Driver and executor sidecars cannot drift apart."""
    driver, executor = (template(name)["spec"] for name in TEMPLATES)
    assert driver["initContainers"] == executor["initContainers"]
    assert driver["volumes"] == executor["volumes"]


def test_workload_identity_is_wired(rendered: list[Manifest]) -> None:
    """Pods that reach Key Vault carry the WI label and run as an annotated service account."""
    for name, spec in all_pod_specs(rendered).items():
        if name == SHARED_TEMPLATE:
            continue  # reads through the shared sidecar; needs no Azure identity
        owner = template(name) if name in TEMPLATES else deployment_pod(rendered)
        labels = owner["metadata"]["labels"]
        assert labels["azure.workload.identity/use"] == "true", name
        account = find(rendered, "ServiceAccount", spec["serviceAccountName"])
        client_id = account["metadata"]["annotations"]["azure.workload.identity/client-id"]
        assert len(client_id) == 36, name
    assert sidecar_config(rendered)["credential"]["kind"] == "workload_identity"


def test_the_driver_may_create_its_executors(rendered: list[Manifest]) -> None:
    """The spark service account is bound to a Role that can create and delete pods."""
    binding = find(rendered, "RoleBinding", "spark-driver")
    assert {"kind": "ServiceAccount", "name": "spark"} in binding["subjects"]
    role = find(rendered, "Role", binding["roleRef"]["name"])
    pod_rules = [rule for rule in role["rules"] if "pods" in rule["resources"]]
    assert {"create", "delete", "watch"} <= set(pod_rules[0]["verbs"])


def test_config_map_holds_a_config_the_sidecar_accepts(
    tmp_path: Path, rendered: list[Manifest]
) -> None:
    """The ConfigMap's config.yaml loads with the service's own config loader, unchanged."""
    path = tmp_path / "config.yaml"
    path.write_text(find(rendered, "ConfigMap", "akv-sidecar-config")["data"]["config.yaml"])
    config = load_config(path, environ={})
    assert config.listen.host == "127.0.0.1"
    assert config.credential.kind == "workload_identity"
    assert config.auth.tokens[0].token_file == "/var/run/secrets/akv-sidecar/token"


@pytest.mark.parametrize("where", [*TEMPLATES, "Deployment/akv-sidecar"])
def test_each_sidecar_starts_with_its_config_args_and_env(
    where: str, tmp_path: Path, rendered: list[Manifest]
) -> None:
    """The ConfigMap, the container's --host and its env together pass the service's own
    listener check (a non-loopback host without TLS must be allowed explicitly)."""
    spec = shared_pod_spec(rendered) if where.startswith("Deployment") else template(where)["spec"]
    container = sidecar(spec)
    path = tmp_path / "config.yaml"
    path.write_text(find(rendered, "ConfigMap", "akv-sidecar-config")["data"]["config.yaml"])
    listen = load_config(path, environ=env_of(container)).listen
    args = container["args"]
    host = args[args.index("--host") + 1] if "--host" in args else listen.host
    check_exposure(
        host, tls=listen.tls.enabled, allow_plaintext_remote=listen.allow_plaintext_remote
    )


def test_config_and_token_reach_every_container(rendered: list[Manifest]) -> None:
    """Volumes name existing objects; mounts put the config and token where config and env say."""
    config = sidecar_config(rendered)
    token_file = config["auth"]["tokens"][0]["token_file"]
    port = config["listen"]["port"]
    for name, spec in all_pod_specs(rendered).items():
        volumes = {volume["name"]: volume for volume in spec["volumes"]}
        for volume in volumes.values():
            if "configMap" in volume:
                find(rendered, "ConfigMap", volume["configMap"]["name"])
            if "secret" in volume:
                secret = find(rendered, "Secret", volume["secret"]["secretName"])
                assert set(secret["data"]) == {posixpath.basename(token_file)}
                assert volume["secret"]["defaultMode"] == 0o440, name
        containers = spec.get("initContainers", []) + spec["containers"]
        for container in containers:
            if container["name"] == JAR_COPIER:
                continue  # copies a jar; needs no token (test_kubernetes_providers.py)
            mounts = {mount["mountPath"]: mount for mount in container.get("volumeMounts", [])}
            token_mount = mounts[posixpath.dirname(token_file)]
            assert token_mount["readOnly"] is True
            assert "secret" in volumes[token_mount["name"]], name
        if name == "Deployment/akv-sidecar":
            continue
        env = env_of(main_container(spec))
        assert env["AKV_SIDECAR_TOKEN_FILE"] == token_file, name
        assert env["AKV_SIDECAR_URL"].endswith(f":{port}"), name


@pytest.mark.parametrize("where", [*TEMPLATES, "Deployment/akv-sidecar"])
def test_sidecar_is_hardened_and_bounded(where: str, rendered: list[Manifest]) -> None:
    """Non-root as the image's uid, read-only root, no escalation, no capabilities, limits set."""
    spec = shared_pod_spec(rendered) if where.startswith("Deployment") else template(where)["spec"]
    container = sidecar(spec)
    uid = int(Dockerfile.read(REPO / "Dockerfile").final.one("USER").argument.split(":")[0])
    security = container["securityContext"]
    assert security["runAsNonRoot"] is True
    assert security["runAsUser"] == uid
    assert security["readOnlyRootFilesystem"] is True
    assert security["allowPrivilegeEscalation"] is False
    assert security["capabilities"]["drop"] == ["ALL"]
    assert spec["securityContext"]["runAsNonRoot"] is True
    for bound in ("requests", "limits"):
        assert set(container["resources"][bound]) == {"cpu", "memory"}
    assert {"startupProbe", "livenessProbe"} <= set(container)
    # /tmp is the one writable path (HOME in the image); it must be a volume, not the root fs.
    volumes = {volume["name"]: volume for volume in spec["volumes"]}
    mounts = {mount["mountPath"]: mount for mount in container["volumeMounts"]}
    assert "emptyDir" in volumes[mounts["/tmp"]["name"]]
    assert container["args"][:2] == ["--config", "/etc/akv-sidecar/config.yaml"]
    assert mounts["/etc/akv-sidecar"]["readOnly"] is True


def test_shared_service_and_network_policy_agree(rendered: list[Manifest]) -> None:
    """Service and NetworkPolicy select the Deployment's pods; only labelled clients get in."""
    deployment = find(rendered, "Deployment", "akv-sidecar")
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    container = sidecar(shared_pod_spec(rendered))
    port = container["ports"][0]
    assert container["args"][-2:] == ["--host", "0.0.0.0"]  # noqa: S104 - served on the pod IP
    assert container["startupProbe"]["httpGet"] == {"path": "/readyz", "port": port["name"]}

    service = find(rendered, "Service", "akv-sidecar")
    assert service["spec"]["selector"].items() <= pod_labels.items()
    assert service["spec"]["ports"][0]["targetPort"] == port["name"]

    policy = find(rendered, "NetworkPolicy", "akv-sidecar")["spec"]
    assert policy["podSelector"]["matchLabels"].items() <= pod_labels.items()
    assert set(policy["policyTypes"]) == {"Ingress", "Egress"}
    (ingress,) = policy["ingress"]
    assert ingress["ports"] == [{"protocol": "TCP", "port": port["containerPort"]}]
    client_label = ingress["from"][0]["podSelector"]["matchLabels"]
    for name in (*TEMPLATES, SHARED_TEMPLATE):
        assert client_label.items() <= template(name)["metadata"]["labels"].items(), name
    egress_ports = {p["port"] for rule in policy["egress"] for p in rule["ports"]}
    assert egress_ports == {53, 443}

    url = env_of(main_container(template(SHARED_TEMPLATE)["spec"]))["AKV_SIDECAR_URL"]
    namespace, port_number = service["metadata"]["namespace"], service["spec"]["ports"][0]["port"]
    assert url == f"http://akv-sidecar.{namespace}.svc.cluster.local:{port_number}"
