"""Usage records, cost, and (later) budgets and rate limits."""
