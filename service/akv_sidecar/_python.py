"""The service's Python floor, checked before anything else is imported.

The distribution's floor is 3.10 because the client (akv_client) runs there; the service uses
asyncio.timeout and TaskGroup (3.11). Without this check it would start on 3.10 and never get
ready ("prefetch failed: AttributeError").
"""

import sys

if sys.version_info < (3, 11):  # pragma: no cover - the suite runs the service on 3.11
    raise SystemExit(
        f"akv-sidecar: the sidecar service needs Python 3.11 or newer; this is Python "
        f"{sys.version.split()[0]}. (The client, akv_client, runs on 3.10.)"
    )
