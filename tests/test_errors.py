"""The error tree: every ProxyError lives in proxy.errors, is drawn in its docstring,
ends in `Error`, and declares what the edge reads (`kind`, `retry_after`)."""

from __future__ import annotations

import importlib
import pkgutil

import orjson

import proxy
from proxy import errors
from proxy.errors import (
    ClientGoneError,
    ProxyError,
    UpstreamConnectError,
    UpstreamDisconnectError,
    UpstreamForbiddenError,
    UpstreamTimeoutError,
)


def _all_proxy_errors() -> list[type[ProxyError]]:
    for module in pkgutil.walk_packages(proxy.__path__, "proxy."):
        if module.name != "proxy.__main__":
            importlib.import_module(module.name)
    found, todo = [], [ProxyError]
    while todo:
        for sub in todo.pop().__subclasses__():
            todo.append(sub)
            if sub.__module__.startswith("proxy."):  # not the tests' own
                found.append(sub)
    return found


def test_every_proxy_error_is_defined_and_drawn_in_proxy_errors():
    classes = _all_proxy_errors()
    assert len(classes) > 20
    doc = errors.__doc__ or ""
    for cls in classes:
        assert cls.__module__ == "proxy.errors", cls
        assert cls.__name__.endswith("Error"), cls
        assert cls.__name__ in doc, cls


def test_kind_and_retry_after_are_declared_with_defaults():
    assert ProxyError.kind is None and ProxyError.retry_after is None
    assert "kind" in ProxyError.__annotations__ and "retry_after" in ProxyError.__annotations__
    kinds = {
        cls.kind
        for cls in (
            UpstreamTimeoutError,
            UpstreamConnectError,
            UpstreamDisconnectError,
            UpstreamForbiddenError,
        )
    }
    assert kinds == {"timeout", "connect", "disconnect", "forbidden"}


def test_body_is_the_openai_error_shape():
    error = ClientGoneError("gone", param="x")
    assert error.status == 499
    assert orjson.loads(error.body()) == {
        "error": {
            "message": "gone",
            "type": "invalid_request_error",
            "code": "client_disconnected",
            "param": "x",
        }
    }
