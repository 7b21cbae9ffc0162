"""The step of a table rebuilt from others (`Rebuild`): deleted and filled again by its declared SQL in one
transaction, its rules checked on the result."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import dagster as dg

from haier_pipeline.defs.haier_catalog.rows import rule_results
from haier_pipeline.defs.haier_catalog.step import StepResources, running_step
from haier_pipeline.endpoints.declaration import Endpoint, Rebuild
from haier_pipeline.shanghai_time import now_utc

PREVIEW_ROWS = 5


def rebuild(context: dg.AssetExecutionContext, endpoint: Endpoint, given: StepResources) -> Iterator[Any]:
    disposition = endpoint.write
    assert isinstance(disposition, Rebuild)
    name = endpoint.name
    with running_step(context, name, given.warehouse, account=given.account) as step:
        # Bound for the SQL: the configured counties (the catalog sums stock over them) and the rebuild's time.
        counties = list(given.pipeline.counties())
        bound = {"updated_at": now_utc(), "counties": counties}
        with step.transaction() as tx:
            tx.execute(f"DELETE FROM {{schema}}.{name} WHERE account = :account")
            for statement in disposition.statements:
                tx.execute(statement, bound)
            rows = tx.query(f"SELECT * FROM {{schema}}.{name} WHERE account = :account")
            step.total = len(rows)
            step.close(tx, loaded=len(rows), message=f"{len(rows)} {name} rows")
        yield from rule_results(endpoint, step, rows)
        metadata = step.metadata(len(rows), len(rows), rows.head(PREVIEW_ROWS))
        if disposition.figures is not None:
            metadata.update(disposition.figures(rows))
        yield dg.MaterializeResult(metadata=metadata)
