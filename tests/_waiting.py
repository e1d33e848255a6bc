"""Polling for something to happen in a server the test started, always bounded in time."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

__all__ = ["wait_for"]

T = TypeVar("T")


def wait_for(
    condition: Callable[[], T], timeout: float = 5.0, what: str = "", interval: float = 0.01
) -> T:
    """Poll ``condition`` until it returns something truthy, and return that; fail after
    ``timeout`` seconds, naming ``what`` (or the condition's docstring)."""
    deadline = time.monotonic() + timeout
    while not (result := condition()):
        if time.monotonic() > deadline:
            awaited = what or condition.__doc__ or repr(condition)
            raise AssertionError(f"timed out after {timeout} s waiting for {awaited}")
        time.sleep(interval)
    return result
