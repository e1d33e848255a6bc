"""What every result records: the machine it ran on and the versions of what ran."""

from __future__ import annotations

import os
import platform
from importlib import metadata
from pathlib import Path

import psutil  # type: ignore[import-untyped]  # no stubs in the dev group

from bench._wrk import wrk_version

_PACKAGES = (
    "akv-sidecar",
    "uvicorn",
    "uvloop",
    "httptools",
    "fastapi",
    "starlette",
    "httpx",
    "azure-core",
    "azure-identity",
    "azure-keyvault-secrets",
    "aiohttp",
)


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "not installed"


def describe_machine() -> dict[str, object]:
    """CPU model, cores, memory and kernel of this machine."""
    return {
        "cpu_model": _cpu_model(),
        "cores": os.cpu_count(),
        "memory_gib": round(psutil.virtual_memory().total / 2**30, 1),
        "kernel": f"{platform.system()} {platform.release()}",
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
    }


def describe_versions() -> dict[str, str]:
    """Python, the packages on the measured path, and wrk."""
    versions = {"python": platform.python_version()}
    versions.update({package: _version(package) for package in _PACKAGES})
    versions["wrk"] = wrk_version()
    return versions
