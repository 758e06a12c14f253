"""Reading the deploy/ files as Compose and Kubernetes would, for the tests."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).parents[2]
DEPLOY = ROOT / "deploy"
_VARIABLE = re.compile(r"\$\{(\w+)(?::([?-])([^}]*))?\}")


def read_env_file(path: Path) -> dict[str, str]:
    """KEY=value lines (Compose's env file format, no quoting used here)."""
    values = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            name, _, value = line.partition("=")
            values[name.strip()] = value.strip()
    return values


def interpolate(value: str, variables: dict[str, str]) -> str:
    """Compose's `${VAR}`, `${VAR:-default}`, `${VAR:?error}` and `$$`."""

    def one(match: re.Match[str]) -> str:
        name, operator, argument = match.groups()
        if variables.get(name):
            return variables[name]
        if operator == "-":
            return argument
        raise KeyError(f"{name} is not set ({argument})")

    return _VARIABLE.sub(one, value.replace("$$", "\0")).replace("\0", "$")


def compose() -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load((DEPLOY / "docker-compose.yml").read_text())
    return document


def manifests() -> list[tuple[Path, dict[str, Any]]]:
    """Every Kubernetes object under deploy/kubernetes/, with the file it came from."""
    found = []
    for path in sorted((DEPLOY / "kubernetes").glob("*.yaml")):
        for document in yaml.safe_load_all(path.read_text()):
            if document:
                found.append((path, document))
    return found
