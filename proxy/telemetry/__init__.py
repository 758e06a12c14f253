"""JSON logs, Prometheus metrics, and (later) the webhook sink."""
