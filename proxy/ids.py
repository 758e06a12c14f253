"""Request and event ids: unique across workers and replicas, cheap to make.

An id is a random per-process prefix (96 bits) plus a counter, so making one is
a string format, not a call into the OS's random source per request.
"""

from __future__ import annotations

import itertools
import re
import secrets

_CLIENT_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")


class IdGenerator:
    def __init__(self) -> None:
        prefix = secrets.token_hex(12)
        self._request_prefix = "req_" + prefix
        self._event_prefix = "evt_" + prefix
        self._counter = itertools.count(1)

    def request_id(self, client_value: str | None) -> str:
        """The client's `x-request-id` when it is safe to echo, else a new id."""
        if client_value is not None and _CLIENT_ID.fullmatch(client_value):
            return client_value
        return self._request_prefix + format(next(self._counter), "x")

    def event_id(self) -> str:
        return f"{self._event_prefix}{next(self._counter):x}"
