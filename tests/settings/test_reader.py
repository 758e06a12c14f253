"""EnvReader: each cast, its default, and an error that names the variable."""

from __future__ import annotations

import pytest

from proxy.settings.reader import EnvReader, SettingsError


def test_raw_strips_and_treats_blank_as_unset():
    r = EnvReader({"A": "  x  ", "B": "   ", "C": ""})
    assert (r.raw("A"), r.raw("B"), r.raw("C"), r.raw("D")) == ("x", None, None, None)


def test_verbatim_keeps_the_value_as_given():
    r = EnvReader({"A": " x ", "B": ""})
    assert (r.verbatim("A"), r.verbatim("B"), r.verbatim("C")) == (" x ", None, None)


def test_numbers_within_bounds():
    r = EnvReader({"N": "7", "S": "0.5"})
    assert r.integer("N", 1, low=1, high=10) == 7 and r.integer("UNSET", 3) == 3
    assert r.seconds("S", 1.0) == 0.5 and r.seconds("UNSET", 2.0) == 2.0


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("x", "is not a whole number"),
        ("0", "must be between 1 and 10"),
        ("11", "must be between 1 and 10"),
    ],
)
def test_a_bad_integer_is_named(value, message):
    with pytest.raises(SettingsError, match=f"N={value!r} {message}"):
        EnvReader({"N": value}).integer("N", 1, low=1, high=10)


@pytest.mark.parametrize("value", ["soon", "0", "-1", "inf", "nan"])
def test_seconds_must_be_a_positive_finite_number(value):
    with pytest.raises(SettingsError, match="^S="):
        EnvReader({"S": value}).seconds("S", 1.0)


def test_flags_choices_and_lists():
    r = EnvReader({"F": "Yes", "G": "off", "C": "jwt", "L": "warning", "CSV": " a, ,b "})
    assert r.flag("F", False) is True and r.flag("G", True) is False
    assert r.choice("C", ("token", "jwt"), default="token") == "jwt"
    assert r.choice("L", ("INFO", "WARNING"), default="INFO", upper=True) == "WARNING"
    assert r.csv("CSV") == ("a", "b") and r.csv("UNSET") == ()
    with pytest.raises(SettingsError, match="F='maybe' must be 1/0"):
        EnvReader({"F": "maybe"}).flag("F", True)
    with pytest.raises(SettingsError, match="C='x' must be one of: token, jwt"):
        EnvReader({"C": "x"}).choice("C", ("token", "jwt"), default="token")


def test_an_http_url_needs_a_scheme_and_a_host_and_is_never_echoed():
    assert EnvReader({"U": "https://h:1/p"}).http_url("U") == "https://h:1/p"
    for bad in ("h/p?token=s3cret", "ftp://h/s3cret", "http:///s3cret"):
        with pytest.raises(SettingsError, match="U must be an http") as caught:
            EnvReader({"U": bad}).http_url("U")
        assert "s3cret" not in str(caught.value)


def test_the_snapshot_is_read_only_and_detached():
    env = {"A": "1"}
    snapshot = EnvReader(env).snapshot()
    env["A"] = "2"
    assert snapshot["A"] == "1"
    with pytest.raises(TypeError):
        snapshot["A"] = "3"  # type: ignore[index]
