"""Script calls go to the real Redis in one pipeline: a script Redis lacks is loaded
and the calls answered in order; an error comes back as that call's reply."""

from __future__ import annotations

import hashlib
import uuid

from redis.exceptions import ResponseError

from proxy.accounting.script_pipeline import ScriptPipeline


def fresh_script() -> tuple[str, str]:
    """A script no Redis has seen (a unique comment), and its SHA-1."""
    script = f"-- {uuid.uuid4()}\nreturn redis.call('INCRBY', KEYS[1], ARGV[1])"
    return script, hashlib.sha1(script.encode()).hexdigest()


async def test_a_missing_script_is_loaded_and_every_call_answered_in_order(redis_client):
    script, sha = fresh_script()
    assert await redis_client.script_exists(sha) == [False]
    calls = [(1, "n:{a}", 2), (1, "n:{b}", 5), (1, "n:{a}", 3)]
    assert await ScriptPipeline(redis_client, script, sha).send(calls) == [2, 5, 5]
    assert await redis_client.script_exists(sha) == [True]
    assert await ScriptPipeline(redis_client, script, sha).send(calls[:1]) == [7]


async def test_a_failing_call_is_its_reply_and_the_others_still_count(redis_client):
    script, sha = fresh_script()
    await redis_client.set("text", "not a number")
    replies = await ScriptPipeline(redis_client, script, sha).send([(1, "text", 1), (1, "n", 4)])
    assert isinstance(replies[0], ResponseError)
    assert replies[1] == 4
