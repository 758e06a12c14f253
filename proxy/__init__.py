"""tenant-proxy: a multi-tenant, OpenAI-compatible LLM API gateway."""

__version__ = "0.1.0"
