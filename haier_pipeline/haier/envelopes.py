"""The vendor wraps answers three ways; callers only ever see the payload or a typed error.

How an envelope is read (haier-api.md, "Envelopes and failures"):
- `success: true`, or a `code` in SUCCESS_CODES, is success. `success` may be a boolean, 1 / 0, or a word
  (true / false, yes / no, y / n, 1 / 0, ok, fail...).
- `success: false`, or a known failure code, is a failure (HaierBusinessError with the vendor's reason).
  Known failure codes: HTTP-like numbers 400-599 and negative numbers (as numbers or digit strings, the
  way gateways echo a status or `-1`), and the words fail / failed / failure / error in any case.
- Any other code, or a `success` that reads as neither (and no code says otherwise), is unrecognised: with data
  present (a `data` key that is not null; an empty list is
  data: a stock answer with no warehouse) it is success, reported to `on_unrecognised` (the client
  counts and logs it); without data (e.g. `{"code": "E01", "description": "no permission"}`) it is a
  failure, because a refusal must never pass for an empty result.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

from haier_pipeline.haier.errors import HaierAnswerShapeError, HaierBusinessError
from haier_pipeline.haier.redaction import redact

SUCCESS_CODES = frozenset({"200", "success"})
FAILURE_WORDS = frozenset({"fail", "failed", "failure", "error"})
TRUE_WORDS = frozenset({"true", "1", "yes", "y", "ok", "success"})
FALSE_WORDS = FAILURE_WORDS | {"false", "0", "no", "n"}
ENVELOPE_MARKERS = ("success", "code")
REASON_KEYS = ("msg", "message", "description")
# Refusals that concern the whole account, not one item: every other call would be refused the same way.
ACCOUNT_REFUSALS = ("密码错误", "客户编码与授权信息不匹配", "合同已过期", "合同已到期", "合同已失效", "合同过期")
MAX_REASON_CHARS = 300


def unwrap(endpoint: str, answer: Any, on_unrecognised: Callable[[str], None] | None = None) -> Any:
    """Return the payload of a bare, `{success, data}` or `{code, msg, data}` answer; empty data → None."""
    if not isinstance(answer, dict) or not any(marker in answer for marker in ENVELOPE_MARKERS):
        return answer
    data = answer.get("data")
    empty = data is None or (isinstance(data, str | list | dict) and not data)
    success = _flag(answer.get("success"))
    code = _code(answer.get("code")) if "code" in answer else None
    if success is False or (success is None and code is not None and _is_failure_code(code)):
        raise _refusal(endpoint, answer)
    unrecognised = None
    if success is None and code is not None and code not in SUCCESS_CODES:
        unrecognised = f"code {code!r}"
    elif success is None and code is None:  # `success` is there (an envelope marker) but reads as neither
        unrecognised = f"success {_text(answer.get('success'))[:40]!r}"
    if unrecognised is not None:
        if data is None:
            raise _refusal(endpoint, answer)
        if on_unrecognised is not None:
            on_unrecognised(f"{endpoint}: unrecognised envelope {unrecognised} with data; read as success")
    return None if empty else data


def as_rows(payload: Any, endpoint: str = "answer") -> list[dict[str, Any]]:
    """List endpoints may answer one object instead of a list of one; None means no rows.

    The rows themselves are the vendor's: the row parsers refuse a row that is not an object."""
    if payload is None:
        return []
    if isinstance(payload, dict):
        return [payload]
    if isinstance(payload, list):
        return payload
    raise HaierAnswerShapeError(endpoint, f"expected a list of rows, got {type(payload).__name__}")


def _flag(value: Any) -> bool | None:
    """`success` as the vendor sends it: a boolean, 1 / 0, or a word; None when it reads as neither."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int | Decimal) and _text(value) in ("0", "1"):  # text: a signalling NaN cannot compare
        return _text(value) == "1"
    if isinstance(value, str):
        word = value.strip().lower()
        if word in TRUE_WORDS or word in FALSE_WORDS:
            return word in TRUE_WORDS
    return None


def _code(value: Any) -> str:
    """Codes compare as text: 200 and "200" are one code; anything unhashable or odd becomes its text."""
    if isinstance(value, bool) or value is None:
        return str(value).lower()
    return _text(value).strip().lower()


def _is_failure_code(code: str) -> bool:
    if code in FAILURE_WORDS:
        return True
    try:
        number = int(code)
    except ValueError:
        return False
    return number < 0 or 400 <= number <= 599


def _refusal(endpoint: str, answer: dict[str, Any]) -> HaierBusinessError:
    reason = next((_text(answer[key]) for key in REASON_KEYS if answer.get(key)), "no reason given")
    reason = redact(reason[:MAX_REASON_CHARS])
    code = _text(answer["code"])[:40] if "code" in answer else f"success={_text(answer.get('success'))[:30]}".lower()
    account = any(marker in reason for marker in ACCOUNT_REFUSALS)
    return HaierBusinessError(endpoint, code, reason, account_refused=account)


def _text(value: Any) -> str:
    try:
        return str(value)
    except ValueError:  # an integer too long to print (Python's digit limit)
        return f"<{type(value).__name__}>"
