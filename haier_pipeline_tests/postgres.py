"""The real Postgres the tests use: skipped when unreachable, except in CI, where that is a failure."""

from __future__ import annotations

import os
from functools import cache

import psycopg
import pytest

POSTGRES_URL = os.environ.get("HAIER_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")


@cache
def _reachable() -> bool:
    try:
        with psycopg.connect(POSTGRES_URL, connect_timeout=3):
            return True
    except psycopg.OperationalError:
        return False


def require_postgres() -> None:
    if _reachable():
        return
    message = (
        f"PostgreSQL is unreachable at HAIER_TEST_POSTGRES_URL={POSTGRES_URL}; start it with "
        "`pg_ctlcluster 15 main start` (or point HAIER_TEST_POSTGRES_URL at a running server)"
    )
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(message, pytrace=False)
    pytest.skip(message)
