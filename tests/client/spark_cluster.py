"""What the local-cluster Spark tests start: Azurite over HTTPS with several accounts and OAuth,
a Spark home executors can be launched from, a JVM trust store and log configuration, and the
reading of the lines the JVM providers log for each call to the sidecar.

Azurite (`--oauth basic`) takes a bearer token over HTTPS only, and checks its issuer, audience and
lifetime (not its signature); the emulator's identity endpoint issues such tokens for Storage.
"""

from __future__ import annotations

import base64
import os
import re
import secrets
import subprocess
import tempfile
from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from types import TracebackType

from akv_emulator._tls import write_certificates
from akv_sidecar.testing import free_port
from tests.client.azurite import start_azurite, stop_azurite


def new_key() -> str:
    """A fresh storage account key (64 random bytes, base64, as Azure's)."""
    return base64.b64encode(secrets.token_bytes(64)).decode()


class TlsAzurite:
    """Azurite's blob service over HTTPS on 127.0.0.1, with the given accounts (each one or two
    keys: Azure's key1 and key2), bearer tokens checked (`--oauth basic`), data in memory, and
    a debug log that says which key each SAS validated against."""

    def __init__(self, accounts: dict[str, tuple[str, ...]], workdir: Path) -> None:
        self.accounts = accounts
        self.port = free_port()
        self.tls = write_certificates(workdir / "azurite-tls")
        self.debug_log = workdir / "azurite-debug.log"
        self._workdir = tempfile.TemporaryDirectory(prefix="azurite-")
        self._process: subprocess.Popen[bytes] | None = None

    def endpoint(self, account: str) -> str:
        return f"https://127.0.0.1:{self.port}/{account}"

    def __enter__(self) -> TlsAzurite:
        accounts = ";".join(":".join((name, *keys)) for name, keys in self.accounts.items())
        options = [
            *("--cert", str(self.tls.cert_file), "--key", str(self.tls.key_file)),
            *("--oauth", "basic", "--debug", str(self.debug_log)),
            *("--skipApiVersionCheck", "--loose", "--inMemoryPersistence"),
        ]
        # Copy Blob checks its source with a request to Azurite itself: over HTTPS, so Node must
        # trust the CA too.
        env = os.environ | {
            "AZURITE_ACCOUNTS": accounts,
            "NODE_EXTRA_CA_CERTS": str(self.tls.ca_file),
        }
        self._process = start_azurite(self.port, options, cwd=self._workdir.name, env=env)
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

    def create_container(self, account: str, container: str) -> None:
        """Create a container with the account's first key (the Azure SDK's Shared Key)."""
        from azure.storage.blob import BlobServiceClient

        key = self.accounts[account][0]
        credential = {"account_name": account, "account_key": key}
        with BlobServiceClient(
            self.endpoint(account), credential=credential, connection_verify=str(self.tls.ca_file)
        ) as service:
            service.create_container(container)

    def authorizations(self) -> list[Authorization]:
        """How Azurite authorized each request it accepted, from its debug log."""
        accounts: dict[str, str] = {}
        found: dict[str, Authorization] = {}
        refused = set()
        for line in self.debug_log.read_text(encoding="utf-8", errors="replace").splitlines():
            parts = line.split(" ", 3)
            if len(parts) < 4:
                continue
            stamp, context, text = parts[0], parts[1], parts[3]
            account = _ACCOUNT.search(text)
            if account:
                accounts[context] = account.group(1)
                continue
            if "StatusCode=403" in text:
                refused.add(context)
            how = next((name for pattern, name in _AUTHORIZED if pattern in text), None)
            if how is not None and context in accounts:
                when = datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()
                found[context] = Authorization(when, accounts[context], how)
        return [found[context] for context in found if context not in refused]


@dataclass(frozen=True)
class Authorization:
    """One request Azurite let through: when, for which account, and by what."""

    time: float
    account: str
    how: str  # "bearer", "shared key", "sas key1" or "sas key2"


_ACCOUNT = re.compile(r"BlobStorageContextMiddleware: Account=([a-z0-9]+) ")
_AUTHORIZED = (
    ("Validation against token authentication successfully", "bearer"),
    ("BlobSharedKeyAuthenticator:validate() Signature 1 matched", "shared key"),
    ("BlobSharedKeyAuthenticator:validate() Signature 2 matched", "shared key"),
    ("Signature based on key1 validation passed", "sas key1"),
    ("Signature based on key2 validation passed", "sas key2"),
)


def spark_home(root: Path) -> Path:
    """A Spark home for pip's pyspark: its bin and jars, and the RELEASE file by which a worker
    takes `jars/` (not a source tree's assembly) for the executors' classpath."""
    import pyspark

    package = Path(pyspark.__file__).parent
    home = root / "spark-home"
    home.mkdir()
    for name in ("bin", "jars", "python", "sbin"):
        if (package / name).exists():
            (home / name).symlink_to(package / name)
    (home / "RELEASE").write_text("pyspark (pip), for local-cluster tests\n", encoding="utf-8")
    return home


def trust_store(ca_file: Path, root: Path) -> Path:
    """A PKCS12 trust store holding Azurite's CA, for the JVMs (javax.net.ssl.trustStore)."""
    store = root / "trust.p12"
    subprocess.run(
        ["keytool", "-importcert", "-noprompt", "-alias", "azurite-ca", "-file", str(ca_file),
         "-keystore", str(store), "-storetype", "PKCS12", "-storepass", "changeit"],
        check=True, capture_output=True,
    )  # fmt: skip
    return store


def log_config(root: Path, calls_log: Path) -> Path:
    """log4j2 settings: Spark at ERROR on stderr; akv-sidecar-hadoop at DEBUG (one line per call
    to the sidecar and per credential leased) into one file shared by every JVM, with its pid."""
    config = root / "log4j2.properties"
    config.write_text(
        "\n".join(
            [
                "rootLogger.level = error",
                "rootLogger.appenderRef.stderr.ref = stderr",
                "appender.stderr.type = Console",
                "appender.stderr.name = stderr",
                "appender.stderr.target = SYSTEM_ERR",
                "appender.stderr.layout.type = PatternLayout",
                "appender.stderr.layout.pattern = %d %p %c{1}: %m%n",
                "appender.calls.type = File",
                "appender.calls.name = calls",
                f"appender.calls.fileName = {calls_log}",
                "appender.calls.append = true",
                "appender.calls.layout.type = PatternLayout",
                "appender.calls.layout.pattern = %d{UNIX_MILLIS} %pid %m%n",
                "logger.akv.name = org.akvsidecar",
                "logger.akv.level = debug",
                "logger.akv.additivity = false",
                "logger.akv.appenderRef.calls.ref = calls",
                "",
            ]
        ),
        encoding="utf-8",
    )
    return config


@dataclass(frozen=True)
class Call:
    """One call a JVM made to the sidecar (a line of SidecarClient's)."""

    time: float
    pid: int
    route: str  # "sas", "tokens" or "secrets"
    account: str
    what: str
    status: int


@dataclass(frozen=True)
class Lease:
    """One credential a JVM's cache took from the sidecar, until when and renewed from when."""

    time: float
    pid: int
    scope: str
    expires: float
    renew_from: float


_CALL = re.compile(
    r"^(\d+) (\d+) akv-sidecar: asked \S+/v1/(storage/sas|tokens|vaults/\S+) for (.*?"
    r"storage account '([a-z0-9]+)'.*): HTTP (\d+)$"
)
_LEASE = re.compile(r"^(\d+) (\d+) akv-sidecar: (.+) valid until (\S+), renewed from (\S+)$")


def _instant(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def calls(log: Path) -> list[Call]:
    """Every sidecar call logged by any JVM."""
    found = []
    for line in log.read_text(encoding="utf-8").splitlines() if log.exists() else []:
        match = _CALL.match(line)
        if match:
            stamp, pid, route, what, account, status = match.groups()
            route = route.split("/")[0] if route != "storage/sas" else "sas"
            found.append(Call(int(stamp) / 1000, int(pid), route.replace("vaults", "secrets"),
                              account, what, int(status)))  # fmt: skip
    return found


def leases(log: Path) -> list[Lease]:
    """Every credential leased by any JVM's provider cache."""
    found = []
    for line in log.read_text(encoding="utf-8").splitlines() if log.exists() else []:
        match = _LEASE.match(line)
        if match:
            stamp, pid, scope, expires, renew = match.groups()
            found.append(Lease(int(stamp) / 1000, int(pid), scope, _instant(expires),
                               _instant(renew)))  # fmt: skip
    return found


def per_jvm(found: list[Call], account: str, route: str) -> Counter[int]:
    """How many calls of `route` for `account` each JVM (pid) made."""
    return Counter(call.pid for call in found if call.account == account and call.route == route)


def executor_pids() -> dict[int, str]:
    """The pids of this machine's Spark executor JVMs, with their executor ids."""
    found = {}
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            argv = (proc / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"org.apache.spark.executor.CoarseGrainedExecutorBackend" in argv:
            found[int(proc.name)] = argv[argv.index(b"--executor-id") + 1].decode()
    return found
