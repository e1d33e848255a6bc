"""Reading Key Vault without a sidecar, the ways Spark drivers do it today (the baselines).

Each measurement runs in a fresh process (``python -m bench._direct``), as a starting driver
would: it pays for its own token and Key Vault challenge, which the SDK otherwise caches
process-wide.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

from azure.identity import ManagedIdentityCredential
from azure.keyvault.secrets import SecretClient

from bench._emulator import EmulatorProcess
from bench._names import secret_names
from bench._processes import REPO_ROOT, python_command


def _secret_client(vault_url: str, ca_file: str) -> SecretClient:
    # retry_total=0: no errors are injected here, and the SDK's retries must not blur the timing.
    return SecretClient(
        vault_url,
        ManagedIdentityCredential(),
        verify_challenge_resource=False,
        connection_verify=ca_file,
        retry_total=0,
    )


def fetch_one_by_one(vault_url: str, ca_file: str, names: Sequence[str]) -> float:
    """Seconds to read every secret in turn with one client (a naive driver)."""
    started = time.perf_counter()
    with _secret_client(vault_url, ca_file) as client:
        for name in names:
            client.get_secret(name)
    return time.perf_counter() - started


def fetch_threaded(vault_url: str, ca_file: str, names: Sequence[str], workers: int) -> float:
    """Seconds to read every secret with a pool of threads (odibi's Phase 2C: 5 workers)."""
    started = time.perf_counter()
    with _secret_client(vault_url, ca_file) as client, ThreadPoolExecutor(workers) as pool:
        list(pool.map(client.get_secret, names))
    return time.perf_counter() - started


def measure(emulator: EmulatorProcess, count: int, workers: int) -> float:
    """Run one baseline in a fresh process: workers=1 reads one by one, more use a thread pool."""
    command = python_command(
        "-m", "bench._direct", emulator.vault_url(), emulator.ca_file, str(count), str(workers)
    )
    completed = subprocess.run(
        command, capture_output=True, text=True, check=True, env=emulator.process_env(),
        cwd=REPO_ROOT, timeout=600,
    )  # fmt: skip
    return float(json.loads(completed.stdout.strip().splitlines()[-1])["seconds"])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench._direct")
    parser.add_argument("vault_url")
    parser.add_argument("ca_file")
    parser.add_argument("count", type=int)
    parser.add_argument("workers", type=int)
    args = parser.parse_args(argv)
    names = secret_names(args.count)
    if args.workers == 1:
        seconds = fetch_one_by_one(args.vault_url, args.ca_file, names)
    else:
        seconds = fetch_threaded(args.vault_url, args.ca_file, names, args.workers)
    print(json.dumps({"seconds": seconds}))


if __name__ == "__main__":
    main()
