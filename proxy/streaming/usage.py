"""Token usage as providers report it, normalised, read straight from bytes.

OpenAI (chat, completions, embeddings): prompt_tokens / completion_tokens,
prompt_tokens_details.cached_tokens. Responses API: input_tokens /
output_tokens, input_tokens_details.cached_tokens. Anthropic: input_tokens
(excluding cache), cache_read_input_tokens, cache_creation_input_tokens,
output_tokens. Normalised: `input_tokens` counts every prompt token,
`cached_tokens` is the part served from the provider's cache.

The counts are read with one C-level regex scan from a `"usage"` key onwards,
without parsing JSON: these key names are unique across the nesting levels of
every provider's usage object, a JSON string cannot contain them unescaped, and
nothing that follows a usage object in these responses carries them.
"""

from __future__ import annotations

import re

_COUNT = re.compile(
    rb'"(prompt_tokens|completion_tokens|input_tokens|output_tokens|cached_tokens|'
    rb'cache_read_input_tokens|cache_creation_input_tokens|total_tokens)"\s*:\s*(\d{1,15})'
)
_OBJECT_FOLLOWS = re.compile(rb'"usage"\s*:\s*\{')


class Usage:
    __slots__ = ("input_tokens", "output_tokens", "cached_tokens")

    def __init__(
        self,
        input_tokens: int | None = None,
        output_tokens: int | None = None,
        cached_tokens: int | None = None,
    ) -> None:
        self.input_tokens = input_tokens
        self.output_tokens = output_tokens
        self.cached_tokens = cached_tokens

    def __repr__(self) -> str:
        return f"Usage({self.input_tokens}, {self.output_tokens}, {self.cached_tokens})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Usage) and (
            self.input_tokens,
            self.output_tokens,
            self.cached_tokens,
        ) == (other.input_tokens, other.output_tokens, other.cached_tokens)

    @property
    def is_known(self) -> bool:
        return self.input_tokens is not None or self.output_tokens is not None

    def merge(self, counts: dict[bytes, bytes]) -> None:
        """Take every count stated; later events overwrite earlier ones."""
        input_tokens, output_tokens, cached_tokens = normalise(counts)
        if input_tokens is not None:
            self.input_tokens = input_tokens
        if output_tokens is not None:
            self.output_tokens = output_tokens
        if cached_tokens is not None:
            self.cached_tokens = cached_tokens


def normalise(counts: dict[bytes, bytes]) -> tuple[int | None, int | None, int | None]:
    """(input, output, cached) from the counts a usage object states."""
    get = counts.get
    output = get(b"completion_tokens") or get(b"output_tokens")
    prompt = get(b"prompt_tokens") or get(b"input_tokens")
    read = get(b"cache_read_input_tokens")
    write = get(b"cache_creation_input_tokens")
    if read is None and write is None:
        cached = get(b"cached_tokens")
        prompt_n = int(prompt) if prompt is not None else None
        if output is None and prompt_n is not None:  # embeddings: total = prompt, output 0
            total = get(b"total_tokens")
            return (
                prompt_n,
                (int(total) - prompt_n if total is not None else None),
                (int(cached) if cached is not None else None),
            )
        return (
            prompt_n,
            int(output) if output is not None else None,
            int(cached) if cached is not None else None,
        )
    # Anthropic: input_tokens excludes what was read from or written to the cache.
    read_n = int(read) if read is not None else 0
    full = int(prompt) + read_n + (int(write) if write else 0) if prompt is not None else None
    return full, int(output) if output is not None else None, read_n


def counts_after(data: bytes, at: int) -> dict[bytes, bytes]:
    """Token counts stated from offset `at` (a `"usage"` key) to the end of `data`."""
    return dict(_COUNT.findall(data, at))


def usage_object_at(data: bytes) -> int:
    """Offset of the last `"usage"` key whose value is an object, or -1."""
    at = data.rfind(b'"usage"')
    while at >= 0:
        if _OBJECT_FOLLOWS.match(data, at):
            return at
        at = data.rfind(b'"usage"', 0, at)
    return -1


def usage_from_body(body: bytes) -> tuple[int | None, int | None, int | None] | None:
    """(input, output, cached) of a JSON response body, or None when it states none."""
    at = body.rfind(b'"usage"')
    if at < 0 or b"{" not in body[at + 7 : at + 12]:  # `:{`, `: {`; not `:null`
        return None
    counts = dict(_COUNT.findall(body, at))
    return normalise(counts) if counts else None


def settle_stream(usage: Usage, text_chars: int, prompt_bytes: int) -> bool:
    """Complete a finished stream's usage from what was relayed; True if estimated.

    SPEC 8.1: what the upstream did not state is estimated: prompt tokens = the
    client's body bytes / 4, output tokens = the generated text's characters / 4,
    both rounded up. A stated count is kept, and text relayed after the last statement
    (a stream cut after Anthropic's `message_start`, which states output 1) is added
    to the stated output, so a cut stream is never billed below what it relayed.
    """
    estimated = False
    if usage.input_tokens is None:
        usage.input_tokens = -(-prompt_bytes // 4)
        estimated = True
    if usage.output_tokens is None or text_chars:
        usage.output_tokens = (usage.output_tokens or 0) + -(-text_chars // 4)
        estimated = True
    return estimated
