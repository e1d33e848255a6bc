"""Running the service: the wiring of one sidecar and the lifespan that owns its tasks, the ASGI
app assembled from the http layer, listeners, TLS and the uvicorn server.

May import: every layer below (core, config, keyvault, cache, ops, http).
"""
