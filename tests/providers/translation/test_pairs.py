"""Which (client path, provider) pairs translate, and with what."""

from __future__ import annotations

from proxy.providers.translation.pairs import CHAT_COMPLETIONS, MESSAGES, translation_for


def test_only_cross_format_pairs_translate():
    assert translation_for(CHAT_COMPLETIONS, "anthropic").upstream_path == MESSAGES
    assert translation_for(MESSAGES, "openai").upstream_path == CHAT_COMPLETIONS
    assert translation_for(CHAT_COMPLETIONS, "openai") is None
    assert translation_for(MESSAGES, "anthropic") is None
    assert translation_for("/v1/embeddings", "anthropic") is None
