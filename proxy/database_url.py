"""`DATABASE_URL` (SPEC 7.1): which database the tenant store lives in.

`sqlite:///relative.db`, `sqlite:////absolute/path.db`, `mysql://user@host:3306/db`,
`mysql://user:pass@host:3306/db` (percent-encoded parts are decoded). Errors name the
variable and never show the password; `display()` is the URL as people may see it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import unquote, urlsplit


class DatabaseURLError(ValueError):
    """DATABASE_URL cannot be used; the message names the variable, never the password."""


@dataclass(frozen=True, slots=True)
class SQLiteURL:
    path: str

    def display(self) -> str:
        return f"sqlite:///{self.path}"


@dataclass(frozen=True, slots=True)
class MySQLURL:
    host: str
    port: int
    user: str
    password: str = field(repr=False)
    database: str

    def display(self) -> str:
        return f"mysql://{self.user}@{self.host}:{self.port}/{self.database}"


StoreURL = SQLiteURL | MySQLURL


def parse_database_url(raw: str, name: str = "DATABASE_URL") -> StoreURL:
    scheme, sep, _ = raw.partition("://")
    if not sep:
        raise DatabaseURLError(f"{name} must look like sqlite:///file.db or mysql://user@host/db")
    if scheme == "sqlite":
        return _sqlite(raw, name)
    if scheme == "mysql":
        return _mysql(raw, name)
    raise DatabaseURLError(f"{name}: scheme {scheme!r} is not supported (use sqlite or mysql)")


def _sqlite(raw: str, name: str) -> SQLiteURL:
    rest = raw[len("sqlite://") :]
    if not rest.startswith("/"):
        raise DatabaseURLError(
            f"{name}: a SQLite URL has no host: sqlite:///relative.db or sqlite:////abs/path.db"
        )
    path = unquote(rest[1:].partition("?")[0])
    if not path or path.endswith("/") or path == ":memory:":
        raise DatabaseURLError(f"{name}: the SQLite URL must name a database file")
    return SQLiteURL(path)


def _mysql(raw: str, name: str) -> MySQLURL:
    parts = urlsplit(raw)
    if parts.query or parts.fragment:
        raise DatabaseURLError(f"{name}: query parameters are not supported in a MySQL URL")
    try:
        port = parts.port or 3306
    except ValueError:
        raise DatabaseURLError(f"{name}: the port is not a number between 0 and 65535") from None
    if not parts.hostname:
        raise DatabaseURLError(f"{name}: a MySQL URL needs a host: mysql://user@host:3306/db")
    database = unquote(parts.path[1:]) if parts.path.startswith("/") else ""
    if not database or "/" in database:
        raise DatabaseURLError(f"{name}: a MySQL URL names one database: mysql://user@host/db")
    if not parts.username:
        raise DatabaseURLError(f"{name}: a MySQL URL needs a user: mysql://user@host/db")
    return MySQLURL(
        host=parts.hostname,
        port=port,
        user=unquote(parts.username),
        password=unquote(parts.password or ""),
        database=database,
    )
