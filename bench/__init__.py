"""Benchmarks of akv-sidecar against running without it: ``python -m bench`` (``make bench``).

Each scenario starts what it measures in separate processes (the emulator, the sidecar, the bare
ASGI baseline, wrk, simulated drivers), runs one at a time, and hands back its numbers and table
rows; ``__main__`` writes ``bench/results/latest.json``, ``latest.md`` and the PNG plots.
"""
