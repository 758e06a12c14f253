"""A Call starts with nothing chosen: no route, the `(none)` label, no upstream time."""

from __future__ import annotations

import gc

import pytest

from proxy.upstream.call import NO_MODEL_LABEL, Call
from tests.helpers import make_call


def test_a_new_call_has_chosen_nothing():
    call = make_call()
    assert (call.route, call.label, call.upstream_s, call.drop_usage) == (
        None,
        NO_MODEL_LABEL,
        None,
        False,
    )
    assert NO_MODEL_LABEL == "(none)"


def test_a_call_takes_no_attribute_it_does_not_declare_and_holds_no_cycle():
    call = make_call()
    with pytest.raises(AttributeError):
        call.extra = 1  # type: ignore[attr-defined]
    assert not any(ref is call for ref in gc.get_referents(*gc.get_referents(call)))
    assert isinstance(call, Call)
