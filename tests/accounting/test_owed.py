"""What finished requests owe Redis adds up per tenant, and TPM corrections are capped
so a long Redis outage cannot grow memory without bound."""

from __future__ import annotations

from proxy.accounting.owed import MAX_CORRECTIONS, Owed


def test_settlements_add_up_and_keep_each_correction():
    owed = Owed()
    owed.owe(115, 40, (1, "ev1", 115, 20))
    owed.owe(115, 0, None)  # an upstream error: released, costs nothing, no TPM fix
    assert (owed.release, owed.cost, owed.count) == (230, 40, 2)
    assert owed.corrections == [1, "ev1", 115, 20]


def test_corrections_stop_at_the_cap_while_amounts_still_add_up():
    owed, more = Owed(), Owed()
    for n in range(MAX_CORRECTIONS + 5):
        owed.owe(1, 1, (n, f"ev{n}", 2, 1))
    assert len(owed.corrections) == 4 * MAX_CORRECTIONS
    more.owe(7, 3, (7, "x", 2, 1))
    owed.add(more)
    assert (owed.release, owed.cost, owed.count) == (
        MAX_CORRECTIONS + 12,
        MAX_CORRECTIONS + 8,
        MAX_CORRECTIONS + 6,
    )
    assert len(owed.corrections) == 4 * MAX_CORRECTIONS


def test_adding_what_was_not_sent_keeps_both():
    owed, unsent = Owed(), Owed()
    owed.owe(10, 5, None)
    unsent.owe(20, 9, (2, "ev2", 20, 9))
    owed.add(unsent)
    assert (owed.release, owed.cost, owed.count) == (30, 14, 2)
    assert owed.corrections == [2, "ev2", 20, 9]
