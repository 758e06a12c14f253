"""Provider entries are immutable values; local replies default to an empty answer."""

from __future__ import annotations

import dataclasses

import pytest

from proxy.providers.openai import OPENAI
from proxy.providers.provider import LocalReply
from proxy.streaming.usage import Usage


def test_entries_cannot_change_under_a_running_worker():
    with pytest.raises(dataclasses.FrozenInstanceError):
        OPENAI.key_prefix = "Token "  # type: ignore[misc]


def test_a_local_reply_defaults_to_no_body_no_events_unknown_usage():
    reply = LocalReply(204, "application/json")
    assert (reply.body, reply.events, reply.usage) == (b"", [], Usage())
    assert not reply.usage.is_known
