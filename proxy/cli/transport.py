"""One HTTP exchange over urllib (standard library), for `cli.client`.

Imported only when a command calls the API, so `tenant-proxy --help` never pays for
http.client, ssl and email. Redirects are never followed: the admin key goes only to
the URL the user named, and a 3xx is answered like any other status.
"""

from __future__ import annotations

import http.client
import urllib.error
import urllib.request
from collections.abc import Mapping
from typing import Any


class TransportError(Exception):
    """No answer: `reason` is the refusal, timeout or cut connection."""

    def __init__(self, reason: BaseException | str) -> None:
        super().__init__(str(reason))
        self.reason = reason


class _RefuseRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None  # urllib then raises HTTPError with the 3xx


def exchange(
    method: str, url: str, headers: Mapping[str, str], data: bytes | None, timeout: float
) -> tuple[int, bytes]:
    """(status, body) of any answer, 4xx and 5xx included; TransportError without one."""
    request = urllib.request.Request(url, data=data, headers=dict(headers), method=method)
    opener = urllib.request.build_opener(_RefuseRedirects())
    try:
        with opener.open(request, timeout=timeout) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as e:
        with e:
            return e.code, e.read()
    except urllib.error.URLError as e:
        raise TransportError(e.reason) from None
    except (OSError, http.client.HTTPException) as e:  # TimeoutError is an OSError
        raise TransportError(e) from None
