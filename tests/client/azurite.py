"""Azurite (the Azure Storage emulator from the npm registry) for the Delta tests.

`make test` installs it into `.cache/azurite`; `AzuriteBlob` starts the blob service on a free
loopback port, in memory, and stops it. Containers are created with a SharedKey-signed request
(the only thing delta-rs does not do itself); `container_sas` signs a SAS as a sidecar would.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import signal
import socket
import subprocess
import tempfile
import time
from datetime import datetime, timezone
from email.utils import formatdate
from pathlib import Path
from types import TracebackType
from urllib.parse import quote, urlencode

import httpx

from akv_sidecar.testing import free_port

REPO = Path(__file__).resolve().parents[2]
AZURITE_BIN = REPO / ".cache" / "azurite" / "node_modules" / ".bin" / "azurite-blob"
ACCOUNT = "devstoreaccount1"
# Azurite's published development key (documented by Microsoft; not a real credential).
DEV_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
API_VERSION = "2021-08-06"


def start_azurite(
    port: int, options: list[str], *, cwd: str, env: dict[str, str] | None = None
) -> subprocess.Popen[bytes]:
    """Azurite's blob service on 127.0.0.1:``port`` with ``options``, once it accepts connections
    (its debug files, if any, go to ``cwd``)."""
    if not AZURITE_BIN.exists():
        raise RuntimeError(f"{AZURITE_BIN} is missing: run `make test` (it installs Azurite).")
    process = subprocess.Popen(
        [
            str(AZURITE_BIN),
            "--blobHost",
            "127.0.0.1",
            "--blobPort",
            str(port),
            *options,
            "--disableTelemetry",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        cwd=cwd,
        env=env,
        start_new_session=True,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"Azurite exited with {process.returncode} at start")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return process
        except OSError:
            time.sleep(0.1)
    stop_azurite(process)
    raise RuntimeError("Azurite did not listen within 30 s")


def stop_azurite(process: subprocess.Popen[bytes] | None) -> None:
    """Stop Azurite's process group: SIGTERM, then SIGKILL after 10 s."""
    if process is None:
        return
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


class AzuriteBlob:
    """The blob service of Azurite on 127.0.0.1:<free port>, data in memory only."""

    def __init__(self) -> None:
        self.port = free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}/{ACCOUNT}"
        self._workdir = tempfile.TemporaryDirectory(prefix="azurite-")
        self._process: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> AzuriteBlob:
        options = ["--skipApiVersionCheck", "--loose", "--inMemoryPersistence", "--silent"]
        self._process = start_azurite(self.port, options, cwd=self._workdir.name)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        stop_azurite(self._process)
        self._process = None
        self._workdir.cleanup()

    def create_container(self, container: str, key: str = DEV_KEY) -> int:
        """PUT a container with a SharedKey signature; returns the HTTP status."""
        date = formatdate(usegmt=True)
        canonical_headers = f"x-ms-date:{date}\nx-ms-version:{API_VERSION}\n"
        canonical_resource = f"/{ACCOUNT}/{ACCOUNT}/{container}\nrestype:container"
        string_to_sign = "PUT\n\n\n\n\n\n\n\n\n\n\n\n" + canonical_headers + canonical_resource
        digest = hmac.new(base64.b64decode(key), string_to_sign.encode(), hashlib.sha256).digest()
        headers = {
            "x-ms-date": date,
            "x-ms-version": API_VERSION,
            "Authorization": f"SharedKey {ACCOUNT}:{base64.b64encode(digest).decode()}",
        }
        url = f"{self.endpoint}/{container}?restype=container"
        return httpx.put(url, headers=headers, timeout=10).status_code


def container_sas(container: str, permissions: str, expiry: datetime, key: str = DEV_KEY) -> str:
    """A service SAS for the container, signed with the account key as Azure Storage signs one
    (version 2021-08-06): what a sidecar vends, made here so Azurite can check it."""
    fields = {
        "sp": permissions,
        "st": "",
        "se": expiry.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "sv": API_VERSION,
        "sr": "c",
    }
    string_to_sign = "\n".join(
        [
            fields["sp"],
            fields["st"],
            fields["se"],
            f"/blob/{ACCOUNT}/{container}",
            "",  # signedIdentifier
            "",  # signedIP
            "",  # signedProtocol
            fields["sv"],
            fields["sr"],
            "",  # signedSnapshotTime
            "",  # signedEncryptionScope
            "",  # rscc
            "",  # rscd
            "",  # rsce
            "",  # rscl
            "",  # rsct
        ]
    )
    digest = hmac.new(base64.b64decode(key), string_to_sign.encode(), hashlib.sha256).digest()
    signed = {name: value for name, value in fields.items() if value}
    signed["sig"] = base64.b64encode(digest).decode()
    return urlencode(signed, quote_via=quote)
