"""Benchmarks: the Locust suite (run.py) and the raw relay harness (relay.py)."""
