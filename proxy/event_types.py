"""The telemetry event types (SPEC section 9), where every producer can name them.

The request path, the config resolver and the wiring produce events; telemetry/
encodes and sends them. The names live in this leaf so that no producer imports the
sink that consumes its events.
"""

from __future__ import annotations

REQUEST_PROCESSED = "request_processed"
CONFIG_CACHE_HIT = "config_cache_hit"
CONFIG_CACHE_MISS = "config_cache_miss"
CONFIG_LOAD_FAILED = "config_load_failed"
SERVER_START = "server_start"
SERVER_STOP = "server_stop"
