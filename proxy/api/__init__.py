"""The HTTP edge: routes, handlers and error rendering. The only place with web.Request."""
