"""The foundation every layer stands on: clocks, task ownership, backoff, timestamps, base errors.

Imports nothing from akv_sidecar; no I/O of its own.
"""
