"""The background tasks of one running service, cancelled and awaited together on shutdown.

Work over many items (the prefetch of thousands of secrets) goes through ``for_each``: a few
workers pulling from one iterator, not a task per item (a task costs ~2 KB while it waits).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Coroutine, Iterable
from typing import Any, TypeVar

__all__ = ["Tasks", "for_each"]

T = TypeVar("T")
log = logging.getLogger("akv_sidecar")


class Tasks:
    """Owns every task it spawns; a task that crashes is logged, not lost."""

    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[Any]] = set()
        self._closed = False

    def spawn(self, coroutine: Coroutine[Any, Any, T], name: str | None = None) -> asyncio.Task[T]:
        if self._closed:
            coroutine.close()
            raise RuntimeError("the service is shutting down")
        task = asyncio.get_running_loop().create_task(coroutine, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._finished)
        return task

    def _finished(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and (error := task.exception()) is not None:
            log.error("background task %s failed: %s", task.get_name(), type(error).__name__)

    def __len__(self) -> int:
        return len(self._tasks)

    async def cancel_all(self) -> None:
        self._closed = True
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def for_each(items: Iterable[T], work: Callable[[T], Awaitable[None]], workers: int) -> None:
    """Await ``work`` on every item, at most ``workers`` at once, each worker taking the next."""
    pending = iter(items)

    async def worker() -> None:
        for item in pending:  # one shared iterator: no item is taken twice
            await work(item)

    async with asyncio.TaskGroup() as group:
        for _ in range(workers):
            group.create_task(worker())
