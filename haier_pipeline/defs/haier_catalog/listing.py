"""The step of a listing (`SoftDelete`): the whole answer upserted and stamped seen; a key missing from a listing that
had no refused rows is flagged inactive, never deleted, and never more of them at once than HAIER_MAX_DEACTIVATE_RATIO
allows (a blocking check)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import dagster as dg
import pandas as pd

from haier_pipeline.defs.haier_catalog.checks import deactivation_guard
from haier_pipeline.defs.haier_catalog.rows import PREVIEW_COLUMNS, fetch, rule_results
from haier_pipeline.defs.haier_catalog.step import StepResources, running_step
from haier_pipeline.endpoints.declaration import Endpoint, SoftDelete
from haier_pipeline.shanghai_time import now_utc


def write_listing(context: dg.AssetExecutionContext, endpoint: Endpoint, given: StepResources) -> Iterator[Any]:
    disposition = endpoint.write
    assert isinstance(disposition, SoftDelete)
    with running_step(context, endpoint.name, given.warehouse, given.client, given.account) as step:
        store = step.warehouse
        listed = step.absorb(fetch(step, endpoint, given.client, given.pipeline.orders_file).parsed)
        (key,) = endpoint.table.key
        flag, first_seen = disposition.flag, disposition.first_seen
        existing = store.query(
            f"SELECT {key}, {flag}, {first_seen} FROM {{schema}}.{endpoint.name} WHERE account = :account", step.bound
        )
        active_before = existing[existing[flag].astype(bool)]
        # A row we refused may be a listed key we could not read: only a clean listing deactivates.
        clean = not step.rejected
        vanished = sorted(set(active_before[key]) - set(listed[key])) if clean else []
        yield from step.checked(
            given.pipeline.max_rejected_ratio,
            deactivation_guard(len(active_before), len(vanished), given.pipeline.max_deactivate_ratio),
            *rule_results(endpoint, step, listed),
        )
        seen_at = now_utc()
        first_seen_at = dict(zip(existing[key], existing[first_seen], strict=True))
        listed[flag] = True
        listed[first_seen] = [first_seen_at.get(value, seen_at) for value in listed[key]]
        listed[disposition.last_seen] = seen_at
        with step.transaction() as tx:
            tx.upsert(endpoint.name, listed)
            if vanished:
                tx.upsert(endpoint.name, pd.DataFrame({key: vanished, flag: False}))
            kept = "" if clean else f"; no deactivation: {len(step.rejected)} listing rows were refused"
            step.close(tx, loaded=len(listed), message=f"{len(listed)} listed, {len(vanished)} deactivated{kept}")
        metadata = step.metadata(len(listed), step.table_rows(endpoint.name), listed.iloc[:, :PREVIEW_COLUMNS])
        metadata["deactivated"] = len(vanished)
        metadata["deactivation_skipped"] = not clean
        yield dg.MaterializeResult(metadata=metadata)
