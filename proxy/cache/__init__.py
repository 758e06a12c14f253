"""Caching tenant configs: an in-process LRU over Redis, invalidated through pub/sub."""
