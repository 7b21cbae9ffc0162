"""One place through which everything the client logs or raises passes, so secrets never leave it."""

from __future__ import annotations

import logging
import re
import threading

MASK = "******"
# Short values (e.g. a 3-character test password) would mask ordinary words; real secrets are longer.
MIN_SECRET_LENGTH = 4

_lock = threading.Lock()
_secrets: set[str] = set()
# Every secret in one pattern, the longest first (a secret inside another is masked whole): one C-level pass per text,
# cheap enough for every text value the vendor sends, not just errors and logs.
_pattern: re.Pattern[str] | None = None


def register_secret(value: str | None) -> None:
    if value and len(value) >= MIN_SECRET_LENGTH:
        with _lock:
            if value not in _secrets:
                _secrets.add(value)
                compile_secrets()


def compile_secrets() -> None:
    """Rebuild the pattern from the registered secrets (hold `_lock`)."""
    global _pattern
    ordered = sorted(_secrets, key=len, reverse=True)
    _pattern = re.compile("|".join(map(re.escape, ordered))) if ordered else None


def redact(text: str) -> str:
    pattern = _pattern
    return text if pattern is None else pattern.sub(MASK, text)


def excerpt(text: str, limit: int) -> str:
    """The first `limit` characters of `text`, masked before the cut: a secret the cut splits would match no mask."""
    return redact(text)[:limit]


class RedactingFilter(logging.Filter):
    """Rewrites a record's final message so handlers never see a registered secret."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return True


def redacting_logger(name: str) -> logging.Logger:
    logger = logging.getLogger(name)
    if not any(isinstance(existing, RedactingFilter) for existing in logger.filters):
        logger.addFilter(RedactingFilter())
    return logger
