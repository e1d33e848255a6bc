"""The one bounded map of the service, with one eviction rule: least recently written goes first.

Every map that could grow with what callers send (paths, names, renderings, decisions, remembered
failures) is a ``BoundedMap``. Reads are plain dict lookups (``get``, ``in``, ``[]``) at C speed and
never reorder, which is what the cache-hit path needs; a write moves its key to the newest end,
and a write of a new key into a full map first drops the oldest-written one.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Hashable
from typing import TypeVar

__all__ = ["BoundedMap"]

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class BoundedMap(OrderedDict[K, V]):
    """At most ``capacity`` entries; write with ``map[key] = value`` (not ``update``)."""

    def __init__(self, capacity: int) -> None:
        if capacity < 1:
            raise ValueError("a bounded map holds at least one entry")
        super().__init__()
        self.capacity = capacity

    def __setitem__(self, key: K, value: V) -> None:
        if key in self:
            self.move_to_end(key)
        elif len(self) >= self.capacity:
            self.popitem(last=False)
        super().__setitem__(key, value)

    def __repr__(self) -> str:
        # Values can be responses holding secrets; a repr names only the size.
        return f"BoundedMap({len(self)}/{self.capacity})"
