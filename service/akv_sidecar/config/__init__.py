"""Configuration: the schema (small frozen value objects with their defaults), loading it from YAML
and AKV_SIDECAR_* variables, the readers of secret settings given as files, and the watcher that
notices replaced token files.

May import: core.
"""
