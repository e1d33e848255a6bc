"""The secret cache: the store (no I/O, no clock of its own), the policies it applies (negative
cache, rate limit, single flight), the refresh schedule and refresher, and the cache that puts them
together. Reads return outcomes (a hit, or why not); what a caller is told is decided above.

May import: core, config, keyvault.
"""
