"""Simulated Spark drivers, each in the shape a job starts: build ADLS connections, then
``configure_connections_parallel``. Run as its own process: ``python -m bench._drivers``.

With ``--direct`` the sidecar URL points at a closed port and AKV_SIDECAR_FALLBACK=direct makes
the same client read Key Vault itself (retries=0, so no time is lost on the closed port): the
same call, without a sidecar.
"""

from __future__ import annotations

import argparse
import json
import threading
import time
import warnings

from akv_client import AzureADLS, FallbackWarning, SidecarClient, configure_connections_parallel
from bench._names import VAULT, secret_name


def start_driver(connections: int, direct: bool) -> tuple[float, int]:
    """One driver start: seconds spent in configure_connections_parallel, and its error count."""
    with SidecarClient(retries=0 if direct else None, timeout=60.0) as client:
        adls = {
            f"conn{i}": AzureADLS(
                account=f"account{i}",
                container="data",
                key_vault_name=VAULT,
                secret_name=secret_name(i),
                name=f"conn{i}",
                sidecar=client,
            )
            for i in range(connections)
        }
        started = time.perf_counter()
        _, errors = configure_connections_parallel(adls, timeout=60.0, verbose=False)
        seconds = time.perf_counter() - started
        missing = sum(conn.get_storage_key(timeout=1.0) is None for conn in adls.values())
    return seconds, len(errors) + missing


def run_fleet(drivers: int, connections: int, direct: bool) -> dict[str, object]:
    """``drivers`` drivers starting at once (threads released together)."""
    results: list[tuple[float, int]] = [(0.0, 0)] * drivers
    barrier = threading.Barrier(drivers)

    def driver(index: int) -> None:
        barrier.wait()
        results[index] = start_driver(connections, direct)

    started = time.perf_counter()
    threads = [threading.Thread(target=driver, args=(i,)) for i in range(drivers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    seconds = sorted(s for s, _ in results)
    return {
        "wall_s": time.perf_counter() - started,
        "driver_s": seconds,
        "errors": sum(e for _, e in results),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench._drivers")
    parser.add_argument("--drivers", type=int, default=1)
    parser.add_argument("--connections", type=int, default=5)
    parser.add_argument("--direct", action="store_true")
    args = parser.parse_args(argv)
    warnings.simplefilter("ignore", FallbackWarning)  # expected: the direct path is the point
    print(json.dumps(run_fleet(args.drivers, args.connections, args.direct)), flush=True)


if __name__ == "__main__":
    main()
