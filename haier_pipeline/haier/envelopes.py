"""The vendor wraps answers three ways; callers only ever see the payload or a typed error.

How an envelope is read (haier-api.md, "Envelopes and failures"):
- `success: true`, or (without a readable `success`) a `code` in SUCCESS_CODES, is success. `success` may be a
  boolean, 1 / 0, or a word (true / false, yes / no, y / n, 1 / 0, ok, fail...).
- Anything else is a refusal (HaierBusinessError with the vendor's reason): `success: false`, a `success` that reads
  as neither, or any other code ("0000", "E001", 500), with data or without. The vendor's document says so ("that
  is an error, never an empty result"), and reading a refusal's `data: []` as success stored a stock of 0 for
  every pair of an account whose seller password was wrong.
- The payload is `data`; an empty or null one is an empty payload, and so is none at all (a gateway that omits
  null fields) unless the envelope holds a list or object under another key (`result`, `rows`): the payload is
  not where it belongs, and reading it as empty would store "none".
- An envelope that says its payload is one page of more (`total` above the rows it holds, `hasNextPage`, more than
  one page) is unusable: the client does not page, and the missing rows would read as absent (a product
  deactivated, a warehouse's stock left out of the county's sum).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from haier_pipeline.errors import HaierAnswerShapeError, HaierBusinessError
from haier_pipeline.redaction import excerpt

SUCCESS_CODES = frozenset({"200", "success"})
FAILURE_WORDS = frozenset({"fail", "failed", "failure", "error"})
TRUE_WORDS = frozenset({"true", "1", "yes", "y", "ok", "success"})
FALSE_WORDS = FAILURE_WORDS | {"false", "0", "no", "n"}
ENVELOPE_MARKERS = ("success", "code")
REASON_KEYS = ("msg", "message", "description")
# How gateways say "this is one page of more", lower-cased.
TOTAL_KEYS = ("total", "totalcount", "totalnum", "totalsize", "totalrecords")
PAGE_COUNT_KEYS = ("pages", "totalpage", "totalpages", "pagecount")
# Refusals that concern the whole account, not one item: every other call would be refused the same way.
ACCOUNT_REFUSALS = ("密码错误", "客户编码与授权信息不匹配", "合同已过期", "合同已到期", "合同已失效", "合同过期")
MAX_REASON_CHARS = 300


def unwrap(endpoint: str, answer: Any) -> Any:
    """Return the payload of a bare, `{success, data}` or `{code, msg, data}` answer; empty data → None."""
    if not isinstance(answer, dict) or not any(marker in answer for marker in ENVELOPE_MARKERS):
        return answer
    success = _flag(answer.get("success"))
    code = _code(answer.get("code")) if "code" in answer else None
    if not (success or (success is None and code in SUCCESS_CODES)):
        raise _refusal(endpoint, answer)
    if "data" not in answer:
        misplaced = [str(key) for key, value in answer.items() if isinstance(value, list | dict)]
        if misplaced:
            holding = excerpt(", ".join(map(repr, misplaced[:5])), 200)
            raise HaierAnswerShapeError(
                endpoint,
                f"a success envelope without `data`, holding {holding} instead: the payload is not where the vendor's "
                "document puts it",
            )
    data = answer.get("data")
    if isinstance(data, list) and (incomplete := _one_page_of_more(answer, len(data))):
        raise HaierAnswerShapeError(
            endpoint, f"the answer is one page of more ({incomplete}); the client does not page"
        )
    empty = data is None or (isinstance(data, str | list | dict) and not data)
    return None if empty else data


def _one_page_of_more(answer: dict[str, Any], rows: int) -> str | None:
    """What in the envelope says rows are missing from this answer; None when nothing does."""
    for key, value in answer.items():
        name = str(key).lower()
        number = _whole_number(value)
        if name in TOTAL_KEYS and number is not None and number > rows:
            return f"{key}={number}, {rows} rows sent"
        if name in PAGE_COUNT_KEYS and number is not None and number > 1:
            return f"{key}={number}"
        if name == "hasnextpage" and _flag(value):
            return f"{key}={_text(value)}"
        if name == "islastpage" and _flag(value) is False:
            return f"{key}={_text(value)}"
    return None


def _whole_number(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    text = _text(value).strip()
    return int(text) if text.isascii() and text.isdigit() and len(text) < 19 else None


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


def _refusal(endpoint: str, answer: dict[str, Any]) -> HaierBusinessError:
    reason = next((_text(answer[key]) for key in REASON_KEYS if answer.get(key)), "no reason given")
    reason = excerpt(reason, MAX_REASON_CHARS)
    code = excerpt(_text(answer["code"]) if "code" in answer else f"success={_text(answer.get('success'))}".lower(), 40)
    account = any(marker in reason for marker in ACCOUNT_REFUSALS)
    return HaierBusinessError(endpoint, code, reason, account_refused=account)


def _text(value: Any) -> str:
    try:
        return str(value)
    except ValueError:  # an integer too long to print (Python's digit limit)
        return f"<{type(value).__name__}>"
