"""The real Postgres the tests use: skipped when unreachable, except in CI, where that is a failure."""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
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


@contextmanager
def login_role(name: str, database_url: str = POSTGRES_URL, cleanup: Sequence[str] = ()) -> Iterator[str]:
    """A role that may log in (trust authentication) and nothing more: the pipeline's least-privileged role. Dropped
    afterwards with what it owns in `database_url`, after the `cleanup` statements run there."""
    with psycopg.connect(POSTGRES_URL, autocommit=True) as admin:
        admin.execute(f'CREATE ROLE "{name}" LOGIN')
    yield name
    with psycopg.connect(database_url, autocommit=True) as admin:
        for statement in cleanup:
            admin.execute(statement)
        admin.execute(f'DROP OWNED BY "{name}"')
    with psycopg.connect(POSTGRES_URL, autocommit=True) as admin:
        admin.execute(f'DROP ROLE "{name}"')
