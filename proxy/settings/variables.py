"""What each environment variable is, written next to the setting it feeds.

A settings field carries its variables in its dataclass metadata:

    port: int = field(default=8080, metadata=env("PROXY_PORT", "The port to listen on."))

`proxy.settings.reference` renders every section's variables into
docs/configuration.md, and tests/settings/test_reference.py fails when a variable
read by `Settings.from_env` has no entry here, or the committed page is stale. So the
reference cannot drift from the code: document a new variable where you add it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

ENV = "env"  # the metadata key holding a field's tuple of `Variable`s


@dataclass(frozen=True, slots=True)
class Variable:
    """One environment variable: its name, what it does, how its value reads."""

    name: str
    doc: str
    default: str | None = None  # shown instead of the field's default (e.g. "the CPU count")
    kind: str | None = None  # shown instead of the type the field's annotation implies
    secret: bool = False  # a credential: an env file or a Kubernetes Secret, never a ConfigMap
    aliases: tuple[str, ...] = ()


def env(
    name: str,
    doc: str,
    *,
    default: str | None = None,
    kind: str | None = None,
    secret: bool = False,
    aliases: tuple[str, ...] = (),
    url: bool = False,
    more: tuple[Variable, ...] = (),
) -> Mapping[str, Any]:
    """Field metadata for a setting read from `name` (and `more`, for a field that two
    variables feed). `url=True`: the value is a dependency's URL, shown without its
    credentials in the section's repr."""
    variables = (Variable(name, doc, default, kind, secret, aliases), *more)
    return {ENV: variables, "url": url}


# A field no variable feeds (state the sections derive, e.g. the environment snapshot).
NO_VARIABLE: Mapping[str, Any] = {ENV: ()}


def variables_of(metadata: Mapping[str, Any]) -> tuple[Variable, ...]:
    found: tuple[Variable, ...] = metadata.get(ENV, ())
    return found
