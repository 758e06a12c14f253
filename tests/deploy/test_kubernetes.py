"""deploy/kubernetes/: every manifest valid against the Kubernetes schemas (offline, with
kubernetes-validate's bundled schemas, strict: unknown fields fail), and the pieces
agreeing with each other and with the gateway's settings as the ConfigMap sets them."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest

from proxy.settings import Settings
from proxy.settings.reference import OTHER_VARIABLES, documented
from tests.deploy.files import DEPLOY, manifests

KUBERNETES_VERSION = "1.30"  # the oldest release these manifests are meant for
MARGIN_S = 5  # between gunicorn's last kill and the kubelet's SIGKILL
VARIABLES = {v.name: v for _, _, entries in documented() for _, v, _ in entries}
KNOWN = set(VARIABLES) | {v.name for v in OTHER_VARIABLES}


def _one(kind: str, name: str | None = None) -> dict[str, Any]:
    found = [doc for _, doc in manifests() if doc["kind"] == kind]
    if name is not None:
        found = [doc for doc in found if doc["metadata"]["name"] == name]
    assert len(found) == 1, f"expected one {kind}, found {len(found)}"
    return found[0]


def _settings() -> Settings:
    """The gateway's settings as a pod sees them: the ConfigMap, then the Secret."""
    environ = {**_one("ConfigMap")["data"], **_one("Secret")["stringData"]}
    return Settings.from_env(environ)


def _gateway() -> dict[str, Any]:
    (container,) = _one("Deployment")["spec"]["template"]["spec"]["containers"]
    return container


def test_every_kind_the_issue_names_is_there():
    kinds = sorted(doc["kind"] for _, doc in manifests())
    assert kinds == sorted(
        [
            "ConfigMap",
            "Deployment",
            "HorizontalPodAutoscaler",
            "Job",
            "PodDisruptionBudget",
            "Secret",
            "Service",
        ]
    )


@pytest.mark.parametrize(
    ("path", "document"),
    manifests(),
    ids=[f"{p.name}:{d['kind']}" for p, d in manifests()],
)
def test_the_manifest_is_valid_against_the_kubernetes_schema(path: Path, document):
    kubernetes_validate.validate(document, KUBERNETES_VERSION, strict=True)


def test_the_validator_refuses_what_kubernetes_would():
    deployment = _one("Deployment")
    broken = {**deployment, "spec": {**deployment["spec"], "replicas": "two"}}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, KUBERNETES_VERSION, strict=True)
    typo = {**deployment, "spec": {**deployment["spec"], "replica": 2}}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(typo, KUBERNETES_VERSION, strict=True)


def test_termination_grace_covers_pre_stop_and_the_gateways_grace_period():
    pod = _one("Deployment")["spec"]["template"]["spec"]
    command = _gateway()["lifecycle"]["preStop"]["exec"]["command"]
    assert command[0] == "sleep"
    pre_stop = float(command[1])
    # gunicorn kills a worker after PROXY_GRACEFUL_TIMEOUT rounded up (proxy.serving).
    grace = math.ceil(_settings().server.graceful_timeout)
    assert pre_stop + grace + MARGIN_S <= pod["terminationGracePeriodSeconds"]
    assert pre_stop >= 2  # endpoints controllers and kube-proxy need a moment


def test_probes_readiness_on_readyz_liveness_on_healthz_on_the_gateways_port():
    gateway = _gateway()
    (port,) = gateway["ports"]
    assert port["containerPort"] == _settings().server.port
    assert gateway["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": port["name"]}
    assert gateway["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": port["name"]}


def test_non_root_with_a_read_only_root_and_volumes_where_the_gateway_writes():
    pod = _one("Deployment")["spec"]["template"]["spec"]
    gateway = _gateway()
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] != 0
    assert gateway["securityContext"]["readOnlyRootFilesystem"] is True
    assert gateway["securityContext"]["allowPrivilegeEscalation"] is False
    empty_dirs = {v["name"] for v in pod["volumes"] if "emptyDir" in v}
    mounts = [m["mountPath"] for m in gateway["volumeMounts"] if m["name"] in empty_dirs]
    data = _one("ConfigMap")["data"]
    for writable in (data["PROMETHEUS_MULTIPROC_DIR"], data["TMPDIR"]):
        assert any(Path(writable).is_relative_to(m) for m in mounts), writable


def test_resources_are_requested_and_limited():
    for container in (_gateway(), *_one("Job")["spec"]["template"]["spec"]["containers"]):
        resources = container["resources"]
        assert set(resources["requests"]) == {"cpu", "memory"}
        assert set(resources["limits"]) == {"cpu", "memory"}
    workers = _settings().server.workers
    assert workers == int(_gateway()["resources"]["limits"]["cpu"]), "a worker per CPU"


def test_the_service_hpa_and_pdb_select_the_deployments_pods():
    deployment = _one("Deployment")
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert deployment["spec"]["selector"]["matchLabels"].items() <= labels.items()
    assert _one("Service")["spec"]["selector"].items() <= labels.items()
    assert _one("PodDisruptionBudget")["spec"]["selector"]["matchLabels"].items() <= labels.items()
    assert _one("Service")["spec"]["ports"][0]["targetPort"] == "http"
    hpa = _one("HorizontalPodAutoscaler")
    assert hpa["apiVersion"] == "autoscaling/v2"
    assert hpa["spec"]["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": deployment["metadata"]["name"],
    }
    (metric,) = hpa["spec"]["metrics"]
    assert metric["resource"]["name"] == "cpu"
    assert hpa["spec"]["minReplicas"] > _one("PodDisruptionBudget")["spec"]["minAvailable"]


def test_the_configmap_holds_no_secret_and_the_secret_only_secrets():
    config = _one("ConfigMap")["data"]
    secret = _one("Secret")["stringData"]
    assert set(config) <= KNOWN, "a ConfigMap key that the gateway does not read"
    assert set(secret) <= KNOWN, "a Secret key that the gateway does not read"
    assert [name for name in config if name in VARIABLES and VARIABLES[name].secret] == []
    assert all(VARIABLES[name].secret for name in secret)


def test_the_example_secret_is_an_obvious_fake_and_makes_built_in_store_mode():
    import base64

    secret = _one("Secret")["stringData"]
    for name, value in secret.items():
        text = base64.b64decode(value).decode() if name == "PROXY_ENCRYPTION_KEY" else value
        assert "change-me." in text, name
    settings = _settings()
    assert settings.uses_store and settings.redis.url


def test_the_pods_read_the_configmap_and_secret_that_exist():
    names = {("ConfigMap", _one("ConfigMap")["metadata"]["name"])}
    names.add(("Secret", _one("Secret")["metadata"]["name"]))
    for kind in ("Deployment", "Job"):
        (container,) = _one(kind)["spec"]["template"]["spec"]["containers"]
        refs = {
            ("ConfigMap" if "configMapRef" in ref else "Secret", next(iter(ref.values()))["name"])
            for ref in container["envFrom"]
        }
        assert refs == names, kind


def test_the_migrate_job_runs_db_migrate_read_only_as_non_root():
    job = _one("Job")
    (container,) = job["spec"]["template"]["spec"]["containers"]
    assert container["args"] == ["tenant-proxy", "db", "migrate"]
    assert container["image"] == _gateway()["image"]
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert job["spec"]["template"]["spec"]["securityContext"]["runAsNonRoot"] is True


def test_the_directory_holds_only_manifests():
    assert sorted(p.name for p in (DEPLOY / "kubernetes").iterdir()) == sorted(
        {p.name for p, _ in manifests()}
    )
