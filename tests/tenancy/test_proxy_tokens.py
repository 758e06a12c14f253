"""ProxyTokens: hot-path hits, single-flight misses, refusals, revocation races, store down."""

from __future__ import annotations

import asyncio

import pytest

from proxy.errors import InvalidTokenError, StoreUnavailableError
from proxy.store import TokenRow
from proxy.tasks import TaskSet
from proxy.tenancy.proxy_tokens import ProxyTokens, mint_token, token_digest


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


class TokenTable:
    """A store's token half: rows by digest, query count, scriptable outage and hold."""

    def __init__(self) -> None:
        self.rows: dict[str, TokenRow] = {}
        self.queries = 0
        self.down = False
        self.hold: asyncio.Event | None = None
        self.entered = asyncio.Event()

    def add(self, token: str, tenant: str, expires_at: float) -> None:
        digest = token_digest(token).hex()
        self.rows[digest] = TokenRow("tok_1", tenant, "", digest, 0.0, expires_at, None)

    def revoke(self, token: str) -> None:
        digest = token_digest(token).hex()
        row = self.rows[digest]
        self.rows[digest] = TokenRow(*[*vars_of(row)[:-1], 1.0])

    async def find_token(self, digest: str) -> TokenRow | None:
        self.queries += 1
        row = self.rows.get(digest)  # read before holding: a slow answer is an old answer
        self.entered.set()
        if self.hold is not None:
            await self.hold.wait()
        if self.down:
            raise StoreUnavailableError("down")
        return row


def vars_of(row: TokenRow) -> list:
    return [getattr(row, f) for f in row.__slots__]


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def table() -> TokenTable:
    return TokenTable()


@pytest.fixture
def tokens(table: TokenTable, clock: Clock) -> ProxyTokens:
    return ProxyTokens(table, tasks=TaskSet(), cache_ttl=30.0, clock=clock)  # type: ignore[arg-type]


def test_minted_tokens_are_unique_and_well_formed():
    made = {mint_token() for _ in range(1000)}
    assert len(made) == 1000
    assert all(t.startswith("tp-") and len(t) == 46 and "=" not in t for t in made)


async def test_a_hit_is_a_lookup_and_a_miss_one_query_for_all(tokens, table, clock):
    token = mint_token()
    table.add(token, "acme", clock.now + 3600)
    digest = token_digest(token)
    assert tokens.cached(digest, clock.now) is None
    grants = await asyncio.gather(*(tokens.check(digest) for _ in range(20)))
    assert table.queries == 1 and {g.tenant for g in grants} == {b"acme"}
    assert tokens.cached(digest, clock.now).tenant == b"acme"
    clock.now += 29.9
    assert tokens.cached(digest, clock.now) is not None
    clock.now += 0.2  # AUTH_CACHE_TTL passed: asked again
    assert tokens.cached(digest, clock.now) is None


async def test_a_grant_never_outlives_the_token(tokens, table, clock):
    token = mint_token()
    table.add(token, "acme", clock.now + 5)
    await tokens.check(token_digest(token))
    clock.now += 5
    assert tokens.cached(token_digest(token), clock.now) is None
    with pytest.raises(InvalidTokenError):
        await tokens.check(token_digest(token))


async def test_refusals_are_remembered_and_a_new_token_is_asked_at_once(tokens, table, clock):
    bad = token_digest("tp-unknown")
    with pytest.raises(InvalidTokenError):
        await tokens.check(bad)
    with pytest.raises(InvalidTokenError):
        tokens.cached(bad, clock.now)  # a flood of the same bad token: no query
    assert table.queries == 1
    fresh = mint_token()
    table.add(fresh, "acme", clock.now + 60)
    assert tokens.cached(token_digest(fresh), clock.now) is None
    assert (await tokens.check(token_digest(fresh))).tenant == b"acme"


async def test_a_lookup_in_flight_during_a_revoke_does_not_write_back(tokens, table, clock):
    token = mint_token()
    table.add(token, "acme", clock.now + 3600)
    table.hold = asyncio.Event()
    pending = asyncio.ensure_future(tokens.check(token_digest(token)))
    await table.entered.wait()  # the query has read the row: still active
    table.revoke(token)
    tokens.drop_tenant("acme")  # the revoke's invalidation lands mid-query
    table.hold.set()
    await pending  # the request that raced the revoke may pass
    table.hold = None
    assert tokens.cached(token_digest(token), clock.now) is None  # nothing written back
    with pytest.raises(InvalidTokenError):
        await tokens.check(token_digest(token))


async def test_store_down_cold_is_503_warm_keeps_serving(tokens, table, clock):
    warm, cold = mint_token(), mint_token()
    table.add(warm, "acme", clock.now + 3600)
    table.add(cold, "acme", clock.now + 3600)
    await tokens.check(token_digest(warm))
    table.down = True
    with pytest.raises(StoreUnavailableError):
        await tokens.check(token_digest(cold))
    assert tokens.cached(token_digest(cold), clock.now) is None  # not remembered as bad
    clock.now += 31
    assert tokens.cached(token_digest(warm), clock.now) is None  # due
    assert (await tokens.check(token_digest(warm))).tenant == b"acme"  # served stale
    queries = table.queries
    assert tokens.cached(token_digest(warm), clock.now + 4) is not None  # re-checked in 5 s
    assert table.queries == queries
    clock.now += 3600
    with pytest.raises(StoreUnavailableError):  # never past the token's expiry
        await tokens.check(token_digest(warm))
