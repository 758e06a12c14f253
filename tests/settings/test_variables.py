"""A setting's variables live in its field's metadata."""

from __future__ import annotations

from proxy.settings.variables import ENV, NO_VARIABLE, Variable, env, variables_of


def test_env_builds_metadata_with_every_variable_of_the_field():
    extra = Variable("OLD_NAME", "the old spelling")
    metadata = env("NEW_NAME", "what it does", secret=True, url=True, more=(extra,))
    first, second = variables_of(metadata)
    assert (first.name, first.doc, first.secret) == ("NEW_NAME", "what it does", True)
    assert second is extra
    assert metadata["url"] is True


def test_fields_without_variables():
    assert variables_of({}) == ()
    assert variables_of(NO_VARIABLE) == () and ENV in NO_VARIABLE
