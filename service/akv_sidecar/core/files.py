"""A file's identity on disk, to notice that it was replaced without reading it."""

from __future__ import annotations

import os

__all__ = ["Signature", "file_signature"]

Signature = tuple[int, int, int] | None  # (inode, size, mtime_ns), None when missing


def file_signature(path: str) -> Signature:
    """What changes when the file at ``path`` is replaced or rewritten (None: it is missing)."""
    try:
        info = os.stat(path)
    except OSError:
        return None
    return (info.st_ino, info.st_size, info.st_mtime_ns)
