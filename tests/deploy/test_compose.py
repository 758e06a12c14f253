"""deploy/docker-compose.yml: two gateway replicas in built-in-store mode on MariaDB and
Redis, a one-shot migration they wait for, nginx in front, healthchecks, secrets from
an uncommitted env file, read-only containers. Checked by parsing (and by
`docker compose config` and `nginx -t` when those are installed)."""

from __future__ import annotations

import math
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from proxy.database_url import MySQLURL, parse_database_url
from proxy.settings import Settings
from proxy.settings.reference import documented
from tests.deploy.files import DEPLOY, ROOT, compose, interpolate, read_env_file

GATEWAYS = ("gateway-1", "gateway-2")
EXAMPLE = read_env_file(DEPLOY / ".env.example")
SECRETS = {v.name for _, _, entries in documented() for _, v, _ in entries if v.secret}


def _environment(service: dict) -> dict[str, str]:
    """What the container sees: the env file (the example's values), then `environment`."""
    env = dict(EXAMPLE) if ".env" in service.get("env_file", []) else {}
    for name, value in (service.get("environment") or {}).items():
        env[name] = interpolate(str(value), EXAMPLE)
    return env


def test_the_services():
    assert set(compose()["services"]) == {*GATEWAYS, "nginx", "migrate", "mariadb", "redis"}


@pytest.mark.parametrize("name", GATEWAYS)
def test_a_gateway_runs_built_in_store_mode_on_mariadb_and_redis(name):
    service = compose()["services"][name]
    settings = Settings.from_env(_environment(service))
    assert settings.uses_store
    url = parse_database_url(settings.store.database_url or "")
    assert isinstance(url, MySQLURL) and (url.host, url.database) == ("mariadb", "tenants")
    assert url.password == EXAMPLE["MARIADB_PASSWORD"]
    assert settings.redis.url == f"redis://:{EXAMPLE['REDIS_PASSWORD']}@redis:6379/0"
    assert settings.auth.admin_key and settings.tenancy.encryption_keys


@pytest.mark.parametrize("name", GATEWAYS)
def test_a_gateway_starts_after_the_migration_and_redis(name):
    depends = compose()["services"][name]["depends_on"]
    assert depends["migrate"] == {"condition": "service_completed_successfully"}
    assert depends["redis"] == {"condition": "service_healthy"}


@pytest.mark.parametrize("name", GATEWAYS)
def test_a_gateway_has_a_read_only_root_with_tmpfs_where_it_writes(name):
    service = compose()["services"][name]
    assert service["read_only"] is True
    mounts = [entry.split(":")[0] for entry in service["tmpfs"]]
    env = _environment(service)
    for path in (env["PROMETHEUS_MULTIPROC_DIR"], env["TMPDIR"]):
        assert any(Path(path).is_relative_to(m) for m in mounts), path


@pytest.mark.parametrize("name", GATEWAYS)
def test_docker_stop_waits_longer_than_the_grace_period(name):
    service = compose()["services"][name]
    grace = Settings.from_env(_environment(service)).server.graceful_timeout
    stop = int(re.fullmatch(r"(\d+)s", service["stop_grace_period"]).group(1))
    assert stop >= math.ceil(grace) + 5


def test_migrate_is_a_one_shot_db_migrate_after_mariadb_is_healthy():
    migrate = compose()["services"]["migrate"]
    assert migrate["command"] == ["tenant-proxy", "db", "migrate"]
    assert migrate["depends_on"] == {"mariadb": {"condition": "service_healthy"}}
    assert migrate["restart"] == "no"
    url = parse_database_url(_environment(migrate)["DATABASE_URL"])
    assert isinstance(url, MySQLURL) and url.host == "mariadb"


def test_every_service_has_a_healthcheck_and_the_one_shot_says_why_not():
    for name, service in compose()["services"].items():
        check = service["healthcheck"]
        if name == "migrate":
            assert check == {"disable": True}  # it exits; completion is its signal
            continue
        assert check["test"][0] in ("CMD", "CMD-SHELL") and check["interval"], name
    gateway_check = " ".join(compose()["services"]["gateway-1"]["healthcheck"]["test"])
    assert "/readyz" in gateway_check


def test_nginx_fronts_both_replicas_once_they_are_healthy():
    nginx = compose()["services"]["nginx"]
    assert nginx["depends_on"] == {g: {"condition": "service_healthy"} for g in GATEWAYS}
    assert "./nginx.conf:/etc/nginx/nginx.conf:ro" in nginx["volumes"]
    conf = (DEPLOY / "nginx.conf").read_text()
    upstream = re.search(r"upstream gateways \{(.*?)\}", conf, re.S).group(1)
    assert re.findall(r"server (\S+):8080", upstream) == list(GATEWAYS)
    assert "proxy_buffering off;" in conf  # streams go out chunk by chunk


def test_secrets_come_from_the_uncommitted_env_file():
    for name, service in compose()["services"].items():
        if name == "nginx":
            continue
        assert service["env_file"] == [".env"], name
        for variable, value in (service.get("environment") or {}).items():
            if variable in SECRETS:  # assembled from the env file, never written here
                assert "${" in str(value), f"{name}: {variable} is written in the compose file"
    ignored = subprocess.run(
        ["git", "check-ignore", "-q", "deploy/.env"], cwd=ROOT, check=False
    ).returncode
    assert ignored == 0, "deploy/.env must be git-ignored"


def test_the_example_env_file_defines_every_variable_compose_needs_with_fake_values():
    text = (DEPLOY / "docker-compose.yml").read_text()
    required = set(re.findall(r"\$\{(\w+):\?", text))
    assert required <= set(EXAMPLE)
    for name, value in EXAMPLE.items():
        if name == "PROXY_ENCRYPTION_KEY":
            import base64

            assert base64.b64decode(value).startswith(b"change-me.")
        else:
            assert value.startswith("change-me."), name


@pytest.mark.skipif(shutil.which("nginx") is None, reason="nginx is not installed")
def test_nginx_accepts_the_config(tmp_path):
    conf = (DEPLOY / "nginx.conf").read_text()
    conf = re.sub(r"gateway-\d", "127.0.0.1", conf).replace("/var/run/", f"{tmp_path}/")
    (tmp_path / "nginx.conf").write_text(conf)
    done = subprocess.run(
        [
            "nginx",
            "-t",
            "-p",
            str(tmp_path),
            "-c",
            str(tmp_path / "nginx.conf"),
            "-e",
            str(tmp_path / "error.log"),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr


def _has_docker_compose() -> bool:
    if shutil.which("docker") is None:
        return False
    probe = subprocess.run(["docker", "compose", "version"], capture_output=True, check=False)
    return probe.returncode == 0


@pytest.mark.skipif(not _has_docker_compose(), reason="docker compose is not installed")
def test_docker_compose_accepts_the_file(tmp_path):
    copy = tmp_path / "deploy"
    shutil.copytree(DEPLOY, copy)
    shutil.copy(DEPLOY / ".env.example", copy / ".env")
    done = subprocess.run(
        ["docker", "compose", "-f", str(copy / "docker-compose.yml"), "config", "--quiet"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
