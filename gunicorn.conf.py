# gunicorn configuration for tenant-proxy: `gunicorn -c gunicorn.conf.py`.
# `tenant-proxy serve` uses the same options; both read them from the
# environment (PROXY_HOST, PROXY_PORT, PROXY_WORKERS, ...) via proxy.settings.
from proxy.serving import gunicorn_options

globals().update(gunicorn_options())
