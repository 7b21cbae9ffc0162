"""Turning payloads into response bodies: exact decimals and the vendor's envelope styles."""

from __future__ import annotations

import json
import re
from decimal import Decimal
from typing import Any

from starlette.responses import Response

JSON_TYPE = "application/json;charset=UTF-8"

# Decimals travel as JSON numbers with their exact digits ("1299.00"), which json.dumps cannot emit
# directly: they are first rendered as marked strings, then the marks and quotes are stripped.
_MARK = "\ue000"
_MARKED = re.compile(f'"{_MARK}(-?[0-9]+(?:\\.[0-9]+)?){_MARK}"')

# Envelope used by each endpoint when the config says "mixed" (what production answers looked like).
MIXED_STYLE = {
    "products": "code",
    "prices": "code",
    "stock": "success",
    "logistics": "success",
    "balance": "code",
}


def _default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return f"{_MARK}{value}{_MARK}"
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def dumps(payload: Any) -> bytes:
    text = json.dumps(payload, ensure_ascii=False, default=_default, separators=(",", ":"))
    return _MARKED.sub(r"\1", text).encode("utf-8")


def json_response(payload: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(dumps(payload), status_code=status, headers=headers, media_type=JSON_TYPE)


def style_for(envelope: str, endpoint: str) -> str:
    return MIXED_STYLE.get(endpoint, "code") if envelope == "mixed" else envelope


def wrap(style: str, payload: Any) -> Any:
    if style == "success":
        return {"success": True, "data": payload}
    if style == "code":
        return {"code": 200, "msg": "ok", "data": payload}
    return payload


def failure(style: str, message: str) -> dict[str, Any]:
    """A business failure delivered with HTTP 200, as the vendor does for e.g. a wrong password."""
    if style == "code":
        return {"code": 500, "msg": message, "data": None}
    return {"success": False, "code": "500", "msg": message, "data": None}


def error(status: int, message: str, headers: dict[str, str] | None = None) -> Response:
    return json_response({"code": status, "msg": message}, status, headers)
