"""The image agrees with the deploy files: its user is the one they run as, and its
metrics directory is the one they mount writable."""

from __future__ import annotations

import re

from tests.deploy.files import ROOT, compose, manifests

DOCKERFILE = (ROOT / "Dockerfile").read_text()


def _env(name: str) -> str:
    return re.search(rf"\b{name}=(\S+)", DOCKERFILE).group(1)


def test_the_image_runs_as_the_user_the_manifests_name():
    uid = int(re.search(r"useradd .*--uid (\d+)", DOCKERFILE).group(1))
    assert re.search(r"^USER proxy$", DOCKERFILE, re.M)
    pods = [
        d["spec"]["template"]["spec"] for _, d in manifests() if d["kind"] in ("Deployment", "Job")
    ]
    assert {pod["securityContext"]["runAsUser"] for pod in pods} == {uid}


def test_the_images_metrics_directory_is_the_one_the_deploy_files_mount():
    metrics = _env("PROMETHEUS_MULTIPROC_DIR")
    (config,) = [d for _, d in manifests() if d["kind"] == "ConfigMap"]
    assert config["data"]["PROMETHEUS_MULTIPROC_DIR"] == metrics
    gateway = compose()["services"]["gateway-1"]
    assert gateway["environment"]["PROMETHEUS_MULTIPROC_DIR"] == metrics
    # Made in the image and owned by its user, so a writable container works unmounted.
    assert f"mkdir -p {metrics} && chown -R proxy:proxy" in DOCKERFILE
