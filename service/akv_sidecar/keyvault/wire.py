"""What Key Vault (or a proxy in front of it) sends, read defensively: Retry-After and messages.

Neither is trusted: a Retry-After is used only in the forms RFC 9110 allows, and an error message
is cut down to something that fits one log line and says nothing a body could smuggle in.
"""

from __future__ import annotations

import email.utils
import re
import unicodedata
from datetime import UTC, datetime

__all__ = ["clean_text", "retry_after_seconds"]

_DELAY_SECONDS = re.compile(r"[0-9]+")  # RFC 9110 delay-seconds: ASCII digits only
# Far past any cap (cache.backoff_max is at most a day); longer digit strings mean the same and
# would only cost a big-number conversion.
_DELAY_DIGITS = 12
_HIDDEN = ("Cc", "Cf", "Zl", "Zp")  # control, format (bidi overrides), line and paragraph breaks


def retry_after_seconds(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds a Retry-After header asks for: delay-seconds (``1*DIGIT``) or an HTTP-date; None
    for anything else ("inf", "nan", "1e9", "-5", "soon"), so that our own backoff applies."""
    if not value:
        return None
    value = value.strip()
    if _DELAY_SECONDS.fullmatch(value):
        return float(value) if len(value) <= _DELAY_DIGITS else float(10**_DELAY_DIGITS)
    try:
        moment = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if moment.tzinfo is None:  # "-0000": RFC 5322's "UTC, source unknown"
        moment = moment.replace(tzinfo=UTC)
    return max((moment - (now or datetime.now(UTC))).total_seconds(), 0.0)


def clean_text(text: str, limit: int) -> str:
    """``text`` fit for one line: control and format characters become spaces, runs of spaces
    one, and it is clipped to ``limit`` characters (the last one "..." when clipped)."""
    kept = "".join(" " if unicodedata.category(c) in _HIDDEN else c for c in text[: limit * 4])
    kept = " ".join(kept.split())
    return kept if len(kept) <= limit else kept[: limit - 3].rstrip() + "..."
