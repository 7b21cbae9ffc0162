"""The vendor wraps answers three ways; callers only ever see the payload or a typed error.

How an envelope is read (haier-api.md, "Envelopes and failures"):
- `success: true`, or (without `success`) a `code` in SUCCESS_CODES, is success. `success` may be a boolean, 1 / 0, or
  a word (true / false, yes / no, y / n, 1 / 0, ok, fail...).
- A `code` the client does not know is read by meaning (issue 25: a gateway answering `code: "0"` had every call
  refused): the answer is a success when its message says so (ok, success, 成功...), or when it carries no message
  and a payload of rows (a non-empty list of objects, or an object). The caller records such a code once, as a
  warning. An unknown code with an error message, or with neither a message nor rows, is a refusal: a refusal's
  `data: []` is never read as "none" (read as success, it stored a stock of 0 for every pair of an account whose
  seller password was wrong). HAIER_SUCCESS_CODES pins the success codes instead (`success_codes`): then any other
  code is a refusal, as before reading by meaning.
- A code that is an HTTP status the document lists (401, 403, 429, 500, 503, and 502 / 504 with them) is raised as
  StatusInBody, for the client to handle as that status (refresh the token, stop, pace, retry), unless the answer
  says `success: true` or its message refuses the account (a wrong password is never retried).
- Anything else is a refusal (HaierBusinessError with the vendor's reason): `success: false`, a `success` that reads
  as neither, a failure code (FAIL, error, -1, 400...), with data or without.
- The payload is `data`; an empty or null one is an empty payload, and so is none at all (a gateway that omits
  null fields) unless the envelope holds a list or object under another key (`result`, `rows`): the payload is
  not where it belongs, and reading it as empty would store "none".
- An envelope that says its payload is one page of more (`total` above the rows it holds, `hasNextPage`, more than
  one page) is unusable: the client does not page, and the missing rows would read as absent (a product
  deactivated, a warehouse's stock left out of the county's sum).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from haier_pipeline.errors import HaierAnswerShapeError, HaierBusinessError
from haier_pipeline.redaction import excerpt

SUCCESS_CODES = frozenset({"200", "success"})
FAILURE_WORDS = frozenset({"fail", "failed", "failure", "error"})
# Body codes handled as the HTTP status they name (the client's RETRYABLE_STATUSES, 401 and 403).
STATUS_CODES = frozenset({401, 403, 429, 500, 502, 503, 504})
# A message that says the call went well: not an error message. Compared lower-cased, without trailing punctuation.
SUCCESS_MESSAGES = frozenset(
    {
        "ok",
        "success",
        "successful",
        "succeed",
        "succeeded",
        "成功",
        "操作成功",
        "查询成功",
        "请求成功",
        "处理成功",
        "执行成功",
        "调用成功",
        "获取成功",
    }
)
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


@dataclass(frozen=True)
class Envelope:
    """A readable answer: its payload, how it was wrapped (bare, success, code), its code as text, and whether its
    code is one the client does not know, read as success by the answer's meaning."""

    payload: Any
    style: str
    code: str | None = None
    by_meaning: bool = False


class StatusInBody(HaierBusinessError):
    """HTTP 200 whose body's code is an HTTP status (401, 403, 429, 5xx): the client handles it as that status."""

    def __init__(self, endpoint: str, code: str, message: str, status: int) -> None:
        super().__init__(endpoint, code, message)
        self.status = status


def unwrap(endpoint: str, answer: Any, success_codes: frozenset[str] | None = None) -> Any:
    """Return the payload of a bare, `{success, data}` or `{code, msg, data}` answer; empty data → None."""
    return read_envelope(endpoint, answer, success_codes).payload


def read_envelope(endpoint: str, answer: Any, success_codes: frozenset[str] | None = None) -> Envelope:
    """The answer's payload and how it was wrapped, or the typed error it amounts to. `success_codes`: the codes
    HAIER_SUCCESS_CODES pins (None: codes the client does not know are read by meaning)."""
    if not isinstance(answer, dict) or not any(marker in answer for marker in ENVELOPE_MARKERS):
        return Envelope(answer, "bare")
    success = _flag(answer.get("success"))
    code = _code(answer.get("code")) if "code" in answer else None
    style = "success" if "success" in answer else "code"
    if success is not True and (status := _status(answer.get("code"))) is not None:
        refusal = _refusal(endpoint, answer)
        if not refusal.account_refused:
            raise StatusInBody(endpoint, str(refusal.code), refusal.reason, status)
        raise refusal
    by_meaning = False
    if success is None and "success" not in answer and code not in (success_codes or SUCCESS_CODES):
        if success_codes is not None or not _reads_as_success(answer):
            raise _refusal(endpoint, answer, unknown_code=success_codes is None)
        by_meaning = True
    elif not (success or (success is None and code in (success_codes or SUCCESS_CODES))):
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
    return Envelope(None if empty else data, style, code, by_meaning)


def success_codes_from(setting: str | None) -> frozenset[str] | None:
    """HAIER_SUCCESS_CODES (comma-separated) as the codes `read_envelope` pins, 200 and "success" always among them
    (the document names them); None when unset: codes are read by meaning."""
    codes = {_code(part) for part in (setting or "").split(",") if part.strip()}
    if statuses := sorted(code for code in codes if _status(code) is not None):
        raise ValueError(
            f"{', '.join(statuses)}: an HTTP status in the body is handled as that status (401 refresh, 403 stop, 429 "
            "and 5xx retry), never as success; list only the codes the gateway sends with data"
        )
    return frozenset(codes | SUCCESS_CODES) if codes else None


def status_code_of(code: str) -> int | None:
    """The HTTP status a body code stands for (it is handled as that status, never a success); else None."""
    return _status(code)


def _status(value: Any) -> int | None:
    number = _whole_number(value)
    return number if number in STATUS_CODES else None


def _reads_as_success(answer: dict[str, Any]) -> bool:
    """An answer with a code the client does not know: a success when its message says so, or when it has no message
    and carries rows. A failure code (FAIL, -1, 4xx or 5xx) never is."""
    code = _code(answer.get("code"))
    number = _whole_number(code)
    if code in FAILURE_WORDS | {"false", "none"} or code.startswith("-") or (number or 0) in range(400, 600):
        return False
    message = _message(answer)
    if message is not None:
        return message.strip().rstrip("!！.。").strip().lower() in SUCCESS_MESSAGES
    data = answer.get("data")
    if isinstance(data, dict):
        return bool(data)
    return isinstance(data, list) and bool(data) and all(isinstance(row, dict) for row in data)


def _message(answer: dict[str, Any]) -> str | None:
    """The answer's message (msg, message, description), None when it has none."""
    for key in REASON_KEYS:
        value = answer.get(key)
        if value is not None and _text(value).strip():
            return _text(value)
    return None


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


def _refusal(endpoint: str, answer: dict[str, Any], *, unknown_code: bool = False) -> HaierBusinessError:
    reason = next((_text(answer[key]) for key in REASON_KEYS if answer.get(key)), "no reason given")
    reason = excerpt(reason, MAX_REASON_CHARS)
    code = excerpt(_text(answer["code"]) if "code" in answer else f"success={_text(answer.get('success'))}".lower(), 40)
    if unknown_code and _message(answer) is None:
        reason += (
            f" (code {code} is none the client knows, and the answer carries no rows to read it by: if {code} means "
            f"success for this gateway, set HAIER_SUCCESS_CODES={code})"
        )
    account = any(marker in reason for marker in ACCOUNT_REFUSALS)
    return HaierBusinessError(endpoint, code, reason, account_refused=account)


def _text(value: Any) -> str:
    try:
        return str(value)
    except ValueError:  # an integer too long to print (Python's digit limit)
        return f"<{type(value).__name__}>"
