"""The providers the proxy speaks to, and translation between their formats."""
