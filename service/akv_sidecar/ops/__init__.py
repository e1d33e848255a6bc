"""What operators see: per-read records and their sinks (audit log, metrics, status board), log
formatting, and the Event Grid receiver that turns rotation events into refreshes.

May import: core, config, keyvault, cache.
"""
