"""The vendor wraps answers three ways; callers only ever see the payload or a HaierBusinessError."""

from __future__ import annotations

from typing import Any

from haier_pipeline.haier.errors import HaierBusinessError
from haier_pipeline.haier.redaction import redact

SUCCESS_CODES = {200, "200", "success", "SUCCESS"}
ENVELOPE_MARKERS = ("success", "code")


def unwrap(endpoint: str, answer: Any) -> Any:
    """Return the payload of a bare, `{success, data}` or `{code, msg, data}` answer; empty data → None."""
    if not isinstance(answer, dict) or not any(marker in answer for marker in ENVELOPE_MARKERS):
        return answer
    failed = answer.get("success") is False or ("code" in answer and answer["code"] not in SUCCESS_CODES)
    if failed:
        reason = next(
            (str(answer[key]) for key in ("msg", "message", "description") if answer.get(key)),
            "no reason given",
        )
        raise HaierBusinessError(endpoint, answer.get("code", "success=false"), redact(reason))
    data = answer.get("data")
    return None if data in (None, "", [], {}) else data


def as_rows(payload: Any) -> list[dict[str, Any]]:
    """List endpoints may answer one object instead of a list of one; None means no rows."""
    if payload is None:
        return []
    if isinstance(payload, dict):
        return [payload]
    if isinstance(payload, list):
        return payload
    raise TypeError(f"expected a list of rows, got {type(payload).__name__}")
