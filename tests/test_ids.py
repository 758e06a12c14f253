"""proxy.ids: ids are unique per generator and across generators; client ids echoed only when safe."""

from __future__ import annotations

import pytest

from proxy.ids import IdGenerator


def test_request_and_event_ids_never_repeat_within_a_generator():
    ids = IdGenerator()
    made = [ids.request_id(None) for _ in range(5000)] + [ids.event_id() for _ in range(5000)]
    assert len(set(made)) == len(made)
    assert all(i.startswith("req_") for i in made[:5000])
    assert all(i.startswith("evt_") for i in made[5000:])


def test_two_generators_never_make_the_same_id():
    # Each worker has its own generator; both counters start at 1, so only the prefix separates them.
    a, b = IdGenerator(), IdGenerator()
    from_a = {a.request_id(None) for _ in range(100)} | {a.event_id() for _ in range(100)}
    from_b = {b.request_id(None) for _ in range(100)} | {b.event_id() for _ in range(100)}
    assert from_a.isdisjoint(from_b)


def test_generated_ids_are_themselves_safe_to_echo():
    ids = IdGenerator()
    made = ids.request_id(None)
    assert IdGenerator().request_id(made) == made  # a downstream proxy keeps our id


@pytest.mark.parametrize(
    "value",
    ["a", "x" * 128, "trace:AB-12.3_z", "0123456789", "A.B:C-D_E"],
)
def test_a_safe_client_id_is_echoed(value):
    assert IdGenerator().request_id(value) == value


@pytest.mark.parametrize(
    "value",
    [
        "",
        "x" * 129,
        "has space",
        "semi;colon",
        "slash/ed",
        "new\nline",
        "trailing-newline\n",  # re.match with `$` would let this through
        "caf\u00e9",  # non-ASCII letters are not [A-Za-z]
        "\uff21",  # fullwidth A
        'quote"d',
    ],
)
def test_an_unsafe_client_id_is_replaced(value):
    got = IdGenerator().request_id(value)
    assert got != value
    assert got.startswith("req_")
