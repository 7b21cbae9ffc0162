"""What warehouse.py needs from a database: sessions that run SQL, bulk-stage rows and read frames."""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from typing import Any, Protocol

import pandas as pd
from sqlalchemy import Table

from haier_pipeline.warehouse.convert import Columns


class Session(Protocol):
    """One connection, inside one transaction for writers. SQL uses `:name` placeholders."""

    def execute(self, sql: str, params: Mapping[str, Any] | None = None) -> None: ...

    def execute_count(self, sql: str, params: Mapping[str, Any] | None = None) -> int:
        """Run a DML statement and return the number of rows it touched."""
        ...

    def query(self, sql: str, params: Mapping[str, Any] | None = None) -> pd.DataFrame: ...

    def stage(self, table: Table, columns: Columns) -> str:
        """Make converted rows (columns of `table`) readable as a relation; returns its name."""
        ...

    def unstage(self, name: str) -> None: ...


class Backend(Protocol):
    name: str
    # Seconds a writer / reader waits for what another process or session holds (HAIER_WAREHOUSE_LOCK_TIMEOUT).
    write_timeout: float
    read_timeout: float

    def write_session(self) -> contextlib.AbstractContextManager[Session]:
        """A session inside a transaction: commit on normal exit, rollback on exception."""
        ...

    def read_session(self) -> contextlib.AbstractContextManager[Session]: ...

    def describe(self, schema: str) -> str: ...
