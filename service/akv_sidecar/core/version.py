"""The one version of akv-sidecar: the installed distribution's metadata, which pyproject.toml sets.

Everything that shows a version (the OpenAPI document, ``akv-sidecar --version``, the image and
templates checked by tests) reads it from here.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

__all__ = ["__version__"]

try:
    __version__ = version("akv-sidecar")
except PackageNotFoundError:  # a source tree on sys.path without an install
    __version__ = "0+unknown"
