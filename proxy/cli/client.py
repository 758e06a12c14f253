"""The management API as the CLI calls it: options, a synchronous client, its errors.

`AdminClient` speaks JSON over `urllib.request` (standard library: nothing to install,
imported only when a command calls the API). It never follows a redirect, so the
admin key goes only to the URL the user named. Every failure is a `CommandError`
whose text is one line for stderr: the API's own message (`APIError`), or what went
wrong on the way (`UnreachableError`: refused, timed out, cut).
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeAlias

if TYPE_CHECKING:
    Commands: TypeAlias = argparse._SubParsersAction[argparse.ArgumentParser]

DEFAULT_URL = "http://127.0.0.1:8080"
DEFAULT_TIMEOUT = 30.0


class CommandError(Exception):
    """A failure the command reports in one line on stderr (exit 1)."""


class UsageError(Exception):
    """Arguments or environment the command cannot work with (exit 2)."""


class APIError(CommandError):
    def __init__(self, status: int, message: str, code: str | None = None) -> None:
        super().__init__(f"{message} (HTTP {status}{', ' + code if code else ''})")
        self.status, self.message, self.code = status, message, code


class UnreachableError(CommandError):
    pass


def api_options() -> argparse.ArgumentParser:
    """The options every management command takes, anywhere after its command words."""
    options = argparse.ArgumentParser(add_help=False)
    group = options.add_argument_group("management API")
    group.add_argument(
        "--url", metavar="URL", help=f"the gateway (default: $PROXY_URL, else {DEFAULT_URL})"
    )
    group.add_argument(
        "--json", action="store_true", help="print the API's JSON answer (nothing for a 204)"
    )
    group.add_argument(
        "--timeout",
        type=_seconds,
        default=DEFAULT_TIMEOUT,
        metavar="SECONDS",
        help=f"per request (default: {DEFAULT_TIMEOUT:g})",
    )
    return options


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"must be more than 0: {text!r}")
    return value


def connect(args: argparse.Namespace, environ: Mapping[str, str]) -> AdminClient:
    """The client for `--url` (or $PROXY_URL) with the key in $PROXY_ADMIN_KEY."""
    from urllib.parse import urlsplit

    url = (args.url or environ.get("PROXY_URL") or DEFAULT_URL).rstrip("/")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UsageError(f"--url must be an http:// or https:// URL, not {url!r}")
    key = environ.get("PROXY_ADMIN_KEY", "").strip()
    if not key:
        raise UsageError("PROXY_ADMIN_KEY is not set: the management API needs the admin key")
    return AdminClient(url, key, timeout=args.timeout)


def segment(value: str) -> str:
    """One path segment, percent-encoded: an argument never adds a `/` to the path."""
    from urllib.parse import quote

    return quote(value, safe="")


class AdminClient:
    # A plain class: dataclasses would cost `tenant-proxy --help` 10 ms of imports.
    __slots__ = ("base_url", "admin_key", "timeout")

    def __init__(self, base_url: str, admin_key: str, *, timeout: float = DEFAULT_TIMEOUT) -> None:
        self.base_url = base_url.rstrip("/")
        self.admin_key = admin_key
        self.timeout = timeout

    def get(self, path: str, query: Mapping[str, str | int] | None = None) -> Any:
        return self.send("GET", path, query=query)

    def post(self, path: str, body: Mapping[str, Any]) -> Any:
        return self.send("POST", path, body=body)

    def patch(self, path: str, body: Mapping[str, Any]) -> Any:
        return self.send("PATCH", path, body=body)

    def delete(self, path: str) -> Any:
        return self.send("DELETE", path)

    def send(
        self,
        method: str,
        path: str,
        *,
        query: Mapping[str, str | int] | None = None,
        body: Mapping[str, Any] | None = None,
    ) -> Any:
        """The answer's JSON (None for an empty answer, as a 204's); APIError for 4xx/5xx."""
        from urllib.parse import urlencode

        from proxy.cli.transport import TransportError, exchange

        url = self.base_url + path + ("?" + urlencode(query) if query else "")
        data = None if body is None else json.dumps(body).encode()
        try:
            status, raw = exchange(method, url, self._headers(body), data, self.timeout)
        except TransportError as e:
            raise self._unreachable(e.reason) from None
        if not 200 <= status < 300:
            raise _api_error(status, raw)
        if not raw.strip():
            return None
        try:
            return json.loads(raw)
        except ValueError:
            raise CommandError(f"{self._where()} answered HTTP {status} without JSON") from None

    def _headers(self, body: Mapping[str, Any] | None) -> dict[str, str]:
        headers = {
            "Authorization": f"Bearer {self.admin_key}",
            "Accept": "application/json",
            "User-Agent": "tenant-proxy-cli",
        }
        if body is not None:
            headers["Content-Type"] = "application/json"
        return headers

    def _unreachable(self, reason: BaseException | str) -> UnreachableError:
        where = self._where()
        if isinstance(reason, TimeoutError):
            return UnreachableError(f"{where} did not answer within {self.timeout:g} s (--timeout)")
        if isinstance(reason, ConnectionRefusedError):
            what = "connection refused"
        elif isinstance(reason, OSError):
            what = reason.strerror or str(reason) or type(reason).__name__
        elif isinstance(reason, BaseException):  # http.client: the server hung up
            return UnreachableError(f"{where} closed the connection without an answer")
        else:
            what = reason
        return UnreachableError(
            f"cannot reach {where}: {what} (is the gateway running? --url or PROXY_URL names it)"
        )

    def _where(self) -> str:
        from proxy.redaction import display_url

        return f"the management API at {display_url(self.base_url)}"


def _api_error(status: int, raw: bytes) -> APIError:
    """The API's `{"error": {"message", "code", ...}}`, or the status alone."""
    try:
        error = json.loads(raw)["error"]
        return APIError(status, str(error["message"]), error.get("code"))
    except (ValueError, KeyError, TypeError):
        from http import HTTPStatus

        try:
            phrase = HTTPStatus(status).phrase
        except ValueError:
            phrase = "error"
        if 300 <= status < 400:
            phrase += ", a redirect (not followed: --url must name the gateway itself)"
        return APIError(status, f"the gateway answered {phrase}")
