"""Health probe for the container: exit 0 when the local sidecar answers 200 on a path.

The image's HEALTHCHECK and the Kubernetes exec probes both run it, so the image needs no curl.
Exec probes run inside the container, where the sidecar's loopback listener is reachable (an httpGet
probe would dial the pod IP and miss it).

    python probe.py [/healthz | /readyz]

The port comes from AKV_SIDECAR_LISTEN__PORT (the sidecar's own override variable), default 8787.
"""

from __future__ import annotations

import os
import sys
import urllib.request

DEFAULT_PORT = "8787"
TIMEOUT_SECONDS = 2.0
WILDCARD_HOSTS = {"": "127.0.0.1", "0.0.0.0": "127.0.0.1", "::": "::1"}  # noqa: S104


def probe_url(path: str) -> str:
    host = os.environ.get("AKV_SIDECAR_LISTEN__HOST", "127.0.0.1")
    host = WILDCARD_HOSTS.get(host, host)
    port = os.environ.get("AKV_SIDECAR_LISTEN__PORT", DEFAULT_PORT)
    netloc = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    return f"http://{netloc}{path}"


def main(argv: list[str]) -> int:
    path = argv[1] if len(argv) > 1 else "/healthz"
    url = probe_url(path)
    try:
        # The URL is built above from a fixed http scheme and a loopback host.
        with urllib.request.urlopen(url, timeout=TIMEOUT_SECONDS) as response:  # noqa: S310
            status = int(response.status)
    except OSError as error:  # URLError, HTTPError (e.g. 503 not ready), refused, timeout
        print(f"probe {url}: {error}", file=sys.stderr)
        return 1
    return 0 if status == 200 else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
