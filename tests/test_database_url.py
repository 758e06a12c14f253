"""DATABASE_URL forms of SPEC 7.1; errors name the variable and never show a password."""

from __future__ import annotations

import pytest

from proxy.database_url import DatabaseURLError, MySQLURL, SQLiteURL, parse_database_url
from proxy.settings import Settings, SettingsError


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("sqlite:///relative.db", SQLiteURL("relative.db")),
        ("sqlite:///data/t.db", SQLiteURL("data/t.db")),
        ("sqlite:////absolute/path.db", SQLiteURL("/absolute/path.db")),
        ("sqlite:////with%20space.db", SQLiteURL("/with space.db")),
        ("mysql://root@127.0.0.1:3306/db", MySQLURL("127.0.0.1", 3306, "root", "", "db")),
        ("mysql://user:pass@host:3307/db", MySQLURL("host", 3307, "user", "pass", "db")),
        ("mysql://u:p%40ss%3Aw%2Fd@host/db", MySQLURL("host", 3306, "u", "p@ss:w/d", "db")),
        ("mysql://u@[::1]:3306/db", MySQLURL("::1", 3306, "u", "", "db")),
    ],
)
def test_forms(raw, expected):
    assert parse_database_url(raw) == expected


@pytest.mark.parametrize(
    "raw",
    [
        "tenants.db",
        "postgres://u:s3cret@h/db",
        "sqlite://host/x.db",
        "sqlite:///",
        "sqlite:///:memory:",
        "mysql://u:s3cret@/db",
        "mysql://u:s3cret@h:99999/db",
        "mysql://u:s3cret@h",
        "mysql://u:s3cret@h/a/b",
        "mysql://:s3cret@h/db",
        "mysql://u:s3cret@h/db?ssl=1",
    ],
)
def test_bad_urls_name_the_variable_not_the_password(raw):
    with pytest.raises(DatabaseURLError) as e:
        parse_database_url(raw)
    assert str(e.value).startswith("DATABASE_URL") and "s3cret" not in str(e.value)
    with pytest.raises(SettingsError) as e2:
        Settings.for_store_commands({"DATABASE_URL": raw})
    assert "s3cret" not in str(e2.value)


def test_display_and_repr_hide_the_password():
    url = parse_database_url("mysql://user:s3cret@host:3306/db")
    assert url.display() == "mysql://user@host:3306/db"
    assert "s3cret" not in repr(url)
    settings = Settings.for_store_commands(
        {"DATABASE_URL": "mysql://user:s3cret@host:3306/db", "STORE_TIMEOUT": "2"}
    )
    assert settings.store.timeout == 2.0 and "s3cret" not in repr(settings)


def test_store_commands_need_database_url():
    with pytest.raises(SettingsError, match="DATABASE_URL is not set"):
        Settings.for_store_commands({})
