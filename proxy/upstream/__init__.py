"""Talking to providers: the shared ClientSession, header hygiene, the mock provider."""
