"""SSE pass-through helpers and usage extraction; bytes in, bytes out, no aiohttp."""
