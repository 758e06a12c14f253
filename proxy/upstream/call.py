"""Call: one /v1 request as it moves through the stages of the request path.

The edge makes one per request and fills in what it reads (path, body, route);
the exchange notes when it sent and what it asked for; the relay notes how long
the upstream took. It references nothing that references it, so a request is freed
by refcounting alone (serving workers collect cycles rarely: proxy.worker.tune_gc).
"""

from __future__ import annotations

from collections.abc import Mapping

from proxy.body import RequestBody
from proxy.providers.translation import Translation
from proxy.route import Route
from proxy.usage_record import UsageRecord

NO_MODEL_LABEL = "(none)"  # the metrics label of a request that named no model


class Call:
    """What the proxy learns about one request as it goes.

    `path`, `query` and `body` are set by the edge before any stage after it runs;
    `sent_wall`/`sent` (wall clock and perf_counter) by the one send, before the
    relay reads them.
    """

    __slots__ = (
        "record",
        "started",
        "headers",
        "path",
        "query",
        "body",
        "route",
        "label",
        "drop_usage",
        "translation",
        "sent_wall",
        "sent",
        "upstream_s",
    )

    path: str  # the /v1/... path forwarded
    query: str  # the raw query string, "" for none
    body: RequestBody
    sent_wall: float
    sent: float

    def __init__(self, record: UsageRecord, started: float, headers: Mapping[str, str]) -> None:
        self.record = record
        self.started = started  # perf_counter() when the request arrived
        self.headers = headers  # the client's
        self.route: Route | None = None  # the route that answers, once chosen
        self.label = NO_MODEL_LABEL  # the metrics label: a configured model name, or one of two
        self.drop_usage = False  # the proxy asked for the usage chunk: keep it from the client
        # The answering route's format translation (SPEC 13); None: passed through as is.
        self.translation: Translation | None = None
        self.upstream_s: float | None = None  # time waiting on the upstream, once answered
