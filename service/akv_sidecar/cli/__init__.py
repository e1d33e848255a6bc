"""The ``akv-sidecar`` command: ``serve``, ``check``, the embedded demo and the emulator entry.

May import: every layer.
"""
