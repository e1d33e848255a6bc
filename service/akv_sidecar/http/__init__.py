"""The HTTP layer: request checks, authentication, reads, routes, the fast path for cache hits and
the one mapping from outcomes to HTTP answers (``errors``). The only layer that knows HTTP status
codes and ``ApiError``.

May import: core, config, keyvault, cache, ops.
"""
