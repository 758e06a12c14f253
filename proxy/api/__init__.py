"""The HTTP edge: routes, middlewares and handlers. The only place with web.Request."""
