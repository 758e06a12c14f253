"""The event-type names are SPEC section 9's, exactly: receivers filter on them."""

from __future__ import annotations

from proxy import event_types


def test_the_names_are_the_contracts():
    names = {
        value for name, value in vars(event_types).items() if name.isupper() and name[0] != "_"
    }
    assert names == {
        "request_processed",
        "config_cache_hit",
        "config_cache_miss",
        "config_load_failed",
        "server_start",
        "server_stop",
    }
