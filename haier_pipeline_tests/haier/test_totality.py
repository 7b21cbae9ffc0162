"""Whatever JSON the vendor sends, the envelope reader and the token parser end in a payload or one of
the project's typed errors: never TypeError, KeyError, ValueError or the like."""

from __future__ import annotations

import json
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from haier_pipeline import redaction
from haier_pipeline.haier import HaierError
from haier_pipeline.haier.auth import MAX_LIFETIME, TokenGrant, parse_token_answer
from haier_pipeline.haier.envelopes import as_rows, unwrap

ENVELOPE_KEYS = ["success", "code", "msg", "message", "description", "data"]
TOKEN_KEYS = ["access_token", "token", "expires_in", "error", "error_description", "exp"]
NAN_LIKE = ["NaN", "nan", "Infinity", "-Infinity", "inf", "null", "None", "true", "false", "", " ", "1e999"]
CODES = [200, "200", "success", "SUCCESS", 0, "0", -1, 500, "500", "0000", "FAIL", 401, 10**20, 10**400, -(10**400)]

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**40), max_value=10**40),
    st.floats(allow_nan=True, allow_infinity=True),
    st.decimals(allow_nan=True, allow_infinity=True),
    st.sampled_from(NAN_LIKE + CODES),
    st.text(max_size=12),
)
keys = st.sampled_from(ENVELOPE_KEYS + TOKEN_KEYS) | st.text(max_size=4)
json_values = st.recursive(
    scalars,
    lambda children: st.lists(children, max_size=3) | st.dictionaries(keys, children, max_size=4),
    max_leaves=8,
)
# Envelopes are objects with the vendor's keys, more often than chance would pick them.
envelopes = st.dictionaries(keys, json_values, max_size=5)
token_fields = st.fixed_dictionaries(
    {},
    optional={
        "access_token": st.text(max_size=30) | json_values,
        "token": st.text(max_size=30) | json_values,
        "expires_in": json_values,
        "msg": json_values,
        "error_description": json_values,
    },
)
token_answers = token_fields | st.fixed_dictionaries({"code": scalars, "data": token_fields}) | envelopes
answers = json_values | envelopes


@pytest.fixture(autouse=True, scope="module")
def _isolated_secret_registry() -> Iterator[None]:
    """The token parser registers every token it accepts as a secret; generated ones ("true", "null")
    must not mask ordinary words in the tests that run after these."""
    saved = set(redaction._secrets)
    yield
    with redaction._lock:
        redaction._secrets.clear()
        redaction._secrets.update(saved)
        redaction.compile_secrets()


def read(answer: Any) -> list[Any] | Exception:
    try:
        rows = as_rows(unwrap("stock", answer), "stock")
    except HaierError as error:
        return error
    assert isinstance(rows, list)
    return rows


@settings(max_examples=300, deadline=None)
@given(answers)
def test_unwrap_and_as_rows_end_in_rows_or_a_typed_error(answer: Any) -> None:
    read(answer)


@settings(max_examples=150, deadline=None)
@given(answers)
def test_json_that_travelled_over_the_wire_too(answer: Any) -> None:
    try:
        text = json.dumps(answer, default=str)
    except (ValueError, TypeError):
        return  # not representable as JSON text: it cannot arrive
    read(json.loads(text, parse_float=Decimal))


@settings(max_examples=300, deadline=None)
@given(json_values | token_answers)
def test_the_token_parser_ends_in_a_grant_or_a_typed_error(answer: Any) -> None:
    try:
        grant = parse_token_answer(answer)
    except HaierError:
        return
    assert isinstance(grant, TokenGrant)
    assert grant.token and grant.token.isprintable()
    assert 0 < grant.lifetime <= MAX_LIFETIME
