"""proxy.keys: every AppKey distinct, and what a started app holds under each is what its
annotation names, in each mode."""

from __future__ import annotations

import ast
import collections.abc
import inspect
import typing
from typing import Any

from aiohttp import web

from proxy import keys
from proxy.app import create_app
from proxy.settings import Settings
from tests.helpers import GatewayTestServer
from tests.upstream.test_guard import StubResolver

ALL = {name: key for name, key in vars(keys).items() if isinstance(key, web.AppKey)}
ONLY_MULTI_TENANT = {"REDIS", "REDIS_GATE", "TENANT_RESOLVER", "INVALIDATION", "CHANGES"}
ONLY_STORE = {"STORE", "USAGE", "LEDGER"}  # built-in-store mode (DATABASE_URL, no CONFIG_API_URL)
ONLY_WHEN_GIVEN = {"TELEMETRY", "DNS_RESOLVER"}  # TELEMETRY_WEBHOOK_URL; create_app's resolver


def _annotated_types() -> dict[str, Any]:
    """Each key's value type, resolved from the imports keys.py makes for type checking."""
    tree = ast.parse(inspect.getsource(keys))
    [guarded] = [n for n in tree.body if isinstance(n, ast.If)]  # if TYPE_CHECKING:
    namespace: dict[str, Any] = {"web": web}
    exec(compile(ast.Module(guarded.body, []), "keys", "exec"), namespace)
    return {
        name: typing.get_args(eval(annotation, namespace))[0]
        for name, annotation in keys.__annotations__.items()
    }


def _conforms(value: object, kind: Any) -> bool:
    origin = typing.get_origin(kind)
    if origin is collections.abc.Callable:
        return callable(value)
    if origin is list:
        [item] = typing.get_args(kind)
        return isinstance(value, list) and all(_conforms(v, item) for v in value)
    if getattr(kind, "_is_protocol", False):
        members = {n for n in (*vars(kind), *kind.__annotations__) if not n.startswith("_")}
        return all(hasattr(value, member) for member in members)
    return isinstance(value, kind)


def test_every_key_is_distinct_and_annotated():
    assert set(ALL) == set(keys.__annotations__)
    names = {repr(key).split(",")[0].removeprefix("<AppKey(proxy.keys.") for key in ALL.values()}
    assert names == {name.lower() for name in ALL}  # one name each, as in error messages
    assert len({id(key) for key in ALL.values()}) == len(ALL)
    assert all(kind is not None for kind in _annotated_types().values())


async def test_a_started_multi_tenant_app_holds_every_key_as_annotated(make_mt_proxy, receiver):
    client = await make_mt_proxy(dns_resolver=StubResolver({}), TELEMETRY_WEBHOOK_URL=receiver.url)
    app = client.server.app
    types = _annotated_types()
    assert {name for name, key in ALL.items() if key not in app} == ONLY_STORE
    for name in set(ALL) - ONLY_STORE:
        assert _conforms(app[ALL[name]], types[name]), (name, app[ALL[name]])


async def test_a_started_store_mode_app_holds_every_key_as_annotated(
    aiohttp_client, mt_env, receiver, tmp_path
):
    env = {k: v for k, v in mt_env.items() if k != "CONFIG_API_URL"}
    env |= {
        "DATABASE_URL": f"sqlite:///{tmp_path}/tenants.db",
        "TELEMETRY_WEBHOOK_URL": receiver.url,
    }
    app = await create_app(Settings.from_env(env), dns_resolver=StubResolver({}))
    client = await aiohttp_client(GatewayTestServer(app))
    app = client.server.app
    types = _annotated_types()
    for name, key in ALL.items():
        assert key in app, name
        assert _conforms(app[key], types[name]), (name, app[key])


async def test_a_started_static_app_holds_the_keys_of_its_mode_only(make_proxy):
    client = await make_proxy({"default": {"provider": "mock"}})
    app = client.server.app
    types = _annotated_types()
    absent = ONLY_MULTI_TENANT | ONLY_STORE | ONLY_WHEN_GIVEN
    assert {name for name, key in ALL.items() if key not in app} == absent
    for name in set(ALL) - absent:
        assert _conforms(app[ALL[name]], types[name]), name
