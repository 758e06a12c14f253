"""The built-in-store gateway fixtures of tests/admin, for the ledger's tests here."""

from tests.admin.conftest import database_url, make_store_proxy, store_env  # noqa: F401
