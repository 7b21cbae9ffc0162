"""What every asset step shares: API statistics, what the step refused, the anomalies it recorded, its
`sync_log` row, its checks' inputs and its metadata.

The step's data, its rejected rows, its field anomalies and its `sync_log` row commit in one transaction;
a failed step writes only its `sync_log` row (and the rows it refused), so the data tables stay as they were.
"""

from __future__ import annotations

import contextlib
import json
from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

import dagster as dg
import numpy as np
import pandas as pd

from haier_pipeline.accounts import DEFAULT_ACCOUNT, for_account
from haier_pipeline.defs.haier_catalog.checks import field_anomalies_check, schema_gate
from haier_pipeline.defs.outcomes import INTERRUPTIONS, UNANSWERED_TAG, interrupted_message, is_interruption
from haier_pipeline.defs.resources import PipelineSettings, WarehouseResource
from haier_pipeline.errors import HaierError
from haier_pipeline.haier.client import HaierClient
from haier_pipeline.haier.stats import CallStats
from haier_pipeline.instance import ACCOUNT_TAG, PID_TAG, WAREHOUSE_TAG, other_warehouse_refusal, process_tags
from haier_pipeline.records import Anomaly, Parsed
from haier_pipeline.redaction import redact
from haier_pipeline.shanghai_time import now_utc
from haier_pipeline.signals import interrupt_received
from haier_pipeline.sync_log import sync_log_row
from haier_pipeline.validation import gate
from haier_pipeline.warehouse.errors import WarehouseError
from haier_pipeline.warehouse.url import warehouse_label
from haier_pipeline.warehouse.warehouse import Warehouse, WarehouseTransaction

PREVIEW_ROWS = 5
UNKNOWN_KEY_COLUMNS = {
    "vendor_key": "The endpoint and the key its answers carried that no declaration knows (a renamed field?).",
    "rows": "Rows of this step that carried it.",
    "example": "One value it had.",
}
API_COLUMNS = {
    "endpoint": "The vendor endpoint.",
    "calls": "HTTP requests sent, retries and token fetches included.",
    "retries": "Requests that were retries.",
    "throttled": "Answers that were 429 (rate limited).",
    "failures": "Requests that failed (an error answer or no answer).",
    "p50_ms": "Median latency, ms.",
    "p95_ms": "95th percentile latency, ms.",
}
REFUSED_SAMPLE_ROWS = 20
# How long rejected_rows and field_anomalies keep a run's rows (dagster.yaml keeps schedule ticks as long).
QUARANTINE_DAYS = 90


@dataclass
class Step:
    """One asset step in progress."""

    asset: str
    run_id: str
    partition_key: str | None
    warehouse: Warehouse
    account: str = DEFAULT_ACCOUNT
    instance: dg.DagsterInstance | None = None
    blocking_checks: frozenset[str] = frozenset()  # the names of the asset's check specs marked blocking
    started_at: datetime = field(default_factory=now_utc)
    api: CallStats = field(default_factory=CallStats)
    rejected: list[tuple[str, str]] = field(default_factory=list)  # (reason, payload)
    rules: Counter[str] = field(default_factory=Counter)
    anomalies: list[Anomaly] = field(default_factory=list)
    unknown_keys: Counter[str] = field(default_factory=Counter)
    unknown_examples: dict[str, str] = field(default_factory=dict)
    structural_errors: list[str] = field(default_factory=list)
    total: int = 0
    unanswered_items: list[str] = field(default_factory=list)
    collapsed: int = 0
    # The transaction holding the step's data and its sync_log row committed: from then on an interrupt loses nothing.
    written: bool = False
    _closing: bool = False

    @property
    def unanswered(self) -> int:
        return len(self.unanswered_items)

    # ---- what the step took in --------------------------------------------------------------------
    def absorb(self, parsed: Parsed) -> pd.DataFrame:
        """Gate the parsed rows, take over what was refused and recorded; the frame to write."""
        frame, structural_errors = gate(parsed)
        self.structural_errors += structural_errors
        self.total += parsed.inputs
        self.collapsed += parsed.collapsed
        for refusal in parsed.refused:
            self.rejected.append((refusal.reason, refusal.payload))
            self.rules[refusal.rule] += 1
        self.anomalies += parsed.anomalies
        self.unknown_keys.update({f"{parsed.record.endpoint}: {k}": n for k, n in parsed.unknown_keys.items()})
        for key, example in parsed.unknown_examples.items():
            self.unknown_examples.setdefault(f"{parsed.record.endpoint}: {key}", example)
        return frame

    def refuse(self, rule: str, item: dict[str, Any], detail: str = "") -> None:
        """An item that never became a row because the vendor's answer for it was bad."""
        self.total += 1
        self.rules[rule] += 1
        self.rejected.append((redact(rule + detail), redact(json.dumps(item, ensure_ascii=False, default=str))))

    def item_failed(self, item: dict[str, Any], error: HaierError) -> None:
        """A request that failed after every retry: unanswered when the failure was transient (a delivery
        failure, sync exits 3), refused when the vendor refused that item."""
        if error.transient:
            self.unanswered_items.append("/".join(map(str, item.values())))
            self.refuse("unanswered after every retry", item, f": {error}")
        else:
            self.refuse("refused by the API", item, f": {error}")

    @property
    def status(self) -> str:
        """Partial when a row was refused or a descriptive value could not be read (stored as NULL)."""
        return "partial" if self.rejected or self.anomalies else "success"

    # ---- checks -------------------------------------------------------------------------------------
    def checked(self, max_rejected_ratio: float, *rules: dg.AssetCheckResult) -> Iterator[dg.AssetCheckResult]:
        """Yields the schema gate, the asset's own `rules` and the anomalies check; then fails the step if a blocking
        one failed, before anything is written, so nothing downstream runs either."""
        results = [
            schema_gate(
                total=self.total,
                refused=len(self.rejected),
                unanswered=self.unanswered,
                structural_errors=self.structural_errors,
                rules=self.rules,
                max_ratio=max_rejected_ratio,
                sample=self.rejected[:REFUSED_SAMPLE_ROWS],
            ),
            *rules,
        ]
        failed = [result for result in results if not result.passed and result.check_name in self.blocking_checks]
        anomalies = Counter(anomaly.field for anomaly in self.anomalies)
        yield from [*results, field_anomalies_check(anomalies, written=not failed)]
        if failed:
            causes = "; ".join(f"{result.check_name}: {result.description}" for result in failed)
            raise StepFailed(description=f"{self.asset}: blocking check failed, nothing was written. {causes}")

    # ---- writing ------------------------------------------------------------------------------------
    def close(self, tx: WarehouseTransaction, loaded: int, message: str) -> None:
        """Record the rejected rows, the anomalies and the sync_log row, in the step's own transaction."""
        at = now_utc()
        if self.unanswered_items:
            shown = ", ".join(self.unanswered_items[:5]) + (" ..." if self.unanswered > 5 else "")
            message += f"; {self.unanswered} unanswered after every retry: {shown}"
        self._write_quarantine(tx, at)
        tx.append("sync_log", self._sync_row(self.status, loaded, message, at))
        self._closing = True
        if self.unanswered and self.instance is not None:
            run = self.instance.get_run_by_id(self.run_id)
            before = int(run.tags.get(UNANSWERED_TAG, "0")) if run is not None else 0
            self.instance.add_run_tags(self.run_id, {UNANSWERED_TAG: str(before + self.unanswered)})

    def record_failure(self, message: str) -> None:
        """Only the step's `failed` row: every other table stays as it was, the previous run's quarantine
        included. What this step refused is in the run's log (the schema gate's `refused_sample`)."""
        with self.transaction() as tx:
            tx.append("sync_log", self._sync_row("failed", 0, message, now_utc()))

    def _write_quarantine(self, tx: WarehouseTransaction, at: datetime) -> None:
        """Each run's refused rows and anomalies are kept beside those of earlier runs (the query an exit 3 prints
        selects them by run), for QUARANTINE_DAYS: a run's record was lost to the next run of its asset."""
        rejected = pd.DataFrame(self.rejected, columns=["reason", "payload"], dtype=object)
        tx.append("rejected_rows", self._stamped(rejected, rejected_at=at))
        tx.append("field_anomalies", self._anomaly_rows(at))
        expired = {"asset": self.asset, "before": at - timedelta(days=QUARANTINE_DAYS)}
        tx.execute("DELETE FROM {schema}.rejected_rows WHERE asset = :asset AND rejected_at < :before", expired)
        tx.execute("DELETE FROM {schema}.field_anomalies WHERE asset = :asset AND recorded_at < :before", expired)

    def _anomaly_rows(self, at: datetime) -> pd.DataFrame:
        frame = pd.DataFrame(
            [(a.row_key, a.field, a.raw_value, a.reason) for a in self.anomalies],
            columns=["row_key", "field", "raw_value", "reason"],
            dtype=object,
        )
        return self._stamped(frame, recorded_at=at)

    def _stamped(self, frame: pd.DataFrame, **at: datetime) -> pd.DataFrame:
        return frame.assign(
            account=self.account, asset=self.asset, partition_key=self.partition_key, run_id=self.run_id, **at
        )

    @property
    def bound(self) -> dict[str, str]:
        """The `:account` parameter the step's reads select its account's rows with."""
        return {"account": self.account}

    @contextlib.contextmanager
    def transaction(self) -> Iterator[WarehouseTransaction]:
        """A transaction whose writes are the step's account's rows; the one that `close`s the step marks it written
        once it commits."""
        self._closing = False  # a closing transaction rolled back leaves nothing written
        with self.warehouse.transaction(account=self.account) as tx:
            yield tx
        self.written = self.written or self._closing

    def _sync_row(self, status: str, loaded: int, message: str, at: datetime) -> pd.DataFrame:
        return sync_log_row(
            account=self.account,
            run_id=self.run_id,
            sync_type=self.asset,
            partition_key=self.partition_key,
            status=status,
            started_at=self.started_at,
            completed_at=at,
            message=message,
            total_count=self.total,
            success_count=loaded,
            failed_count=len(self.rejected),
            unanswered_count=self.unanswered,
            api_calls=self.api.total("calls"),
            retries=self.api.total("retries"),
            throttled=self.api.total("throttled"),
        )

    # ---- reporting ----------------------------------------------------------------------------------
    def table_rows(self, table: str) -> int:
        """The account's rows in the table."""
        query = f"SELECT count(*) AS n FROM {{schema}}.{table} WHERE account = :account"
        return int(self.warehouse.query(query, self.bound)["n"].iloc[0])

    def metadata(self, loaded: int, table_rows: int, preview: pd.DataFrame | None = None) -> dict[str, Any]:
        metadata: dict[str, Any] = {
            "dagster/row_count": table_rows,
            "rows_loaded": loaded,
            "rows_rejected": len(self.rejected),
            "anomalies": len(self.anomalies),
            "items_unanswered": self.unanswered,
            "duplicates_collapsed": self.collapsed,
            "status": self.status,
            **{key: value for key, value in self.api.as_metadata().items() if key != "api_by_endpoint"},
        }
        if self.rules:
            metadata["rejected_by_rule"] = dg.MetadataValue.json(dict(self.rules.most_common()))
        if self.anomalies:
            counts = Counter(anomaly.field for anomaly in self.anomalies)
            metadata["anomalies_by_field"] = dg.MetadataValue.json(dict(counts.most_common()))
        if self.unknown_keys:
            metadata["unknown_vendor_keys"] = metadata_table(
                pd.DataFrame(
                    [(key, n, self.unknown_examples.get(key, "")) for key, n in self.unknown_keys.most_common()],
                    columns=["vendor_key", "rows", "example"],
                ),
                UNKNOWN_KEY_COLUMNS,
            )
        by_endpoint = self.api.by_endpoint()
        if by_endpoint:
            metadata["api_by_endpoint"] = metadata_table(
                pd.DataFrame([{"endpoint": name, **values} for name, values in by_endpoint.items()]),
                API_COLUMNS,
            )
        if preview is not None and not preview.empty:
            metadata["preview"] = metadata_table(preview.head(PREVIEW_ROWS), self.descriptions())
        return metadata

    def descriptions(self) -> dict[str, str]:
        """The step's table's column descriptions, for its preview's schema."""
        table = self.warehouse.tables.get(self.asset)
        return {column.name: column.comment or "" for column in table.columns} if table is not None else {}


class StepFailed(dg.Failure):
    """Raised after a blocking check failed: the message names the asset and the cause."""


_tagged_runs: set[str] = set()
_run_accounts: dict[str, set[str]] = {}


# What a step records before it ends: its own failures, and an interruption (which stops the run).
CAUGHT: tuple[type[BaseException], ...] = (Exception, *INTERRUPTIONS)


@contextmanager
def running_step(
    context: dg.AssetExecutionContext,
    asset: str,
    warehouse: WarehouseResource,
    haier: HaierClient | None = None,
    account: str = DEFAULT_ACCOUNT,
) -> Iterator[Step]:
    """The step of the asset being materialized; `asset` is its endpoint's name (and so the table's)."""
    if interrupt_received():  # Ctrl-C or SIGTERM came before this step, even if something on the way swallowed it
        raise dg.DagsterExecutionInterruptedError()
    run_id = context.run.run_id
    # Launched by the UI or the daemon: its run worker executes it. `context.run` keeps the tags the run started with,
    # so the runs this process tagged are remembered, and each is tagged once, not at every step.
    if run_id not in _tagged_runs:
        label = warehouse_label(warehouse.url, warehouse.schema_name)
        # One instance records one warehouse's runs: a run against another would show there as that one's.
        if refusal := other_warehouse_refusal(context.instance, label):
            context.log.error(f"{asset}: {refusal}")
            raise dg.Failure(description=refusal)
        tags = {} if PID_TAG in context.run.tags else process_tags()
        if WAREHOUSE_TAG not in context.run.tags:
            tags[WAREHOUSE_TAG] = label
        if tags:
            context.instance.add_run_tags(run_id, tags)
        _tagged_runs.add(run_id)
    accounts = _run_accounts.setdefault(run_id, set(filter(None, context.run.tags.get(ACCOUNT_TAG, "").split(","))))
    if account not in accounts:  # a run of several accounts names each
        accounts.add(account)
        context.instance.add_run_tags(run_id, {ACCOUNT_TAG: ",".join(sorted(accounts))})
    step = Step(
        asset=asset,
        account=account,
        run_id=context.run.run_id,
        partition_key=context.partition_key if context.has_partition_key else None,
        warehouse=warehouse.get_warehouse(),
        instance=context.instance,
        blocking_checks=frozenset(spec.name for spec in context.assets_def.check_specs if spec.blocking),
    )
    with ExitStack() as stack:
        if haier is not None:
            step.api = stack.enter_context(haier.track())
        try:
            yield step
        except CAUGHT as error:
            if step.written and is_interruption(error):
                # Its data and its success row are in: a `failed` row saying nothing was written would be false.
                context.log.warning(f"{asset}: interrupted after its data and its sync_log row were written")
                raise
            message = (
                interrupted_message(asset)
                if is_interruption(error)
                else for_account(redact(f"{type(error).__name__}: {error}"), account)
            )
            context.log.error(f"{asset} failed: {message}")
            try:
                step.record_failure(message)
            except Exception as audit_error:  # the original failure matters more than its audit row
                context.log.error(f"{asset}: could not write sync_log: {redact(str(audit_error))}")
            if isinstance(error, ANTICIPATED):
                # The cause is the headline in the UI, not Dagster's "Error occurred while executing op" and its
                # stack; the error itself stays the failure's cause, with its traceback below.
                raise dg.Failure(description=message) from error
            raise
        if step.unknown_keys:
            keys = ", ".join(key for key, _ in step.unknown_keys.most_common(10))
            context.log.warning(f"{asset}: the vendor sent keys no declaration knows (renamed fields?): {keys}")


# Failures the pipeline foresaw and words itself (the API's, the warehouse's, a missing setting): anything else is
# a defect, whose stack is the headline.
ANTICIPATED: tuple[type[Exception], ...] = (HaierError, WarehouseError)


# A cell of a table shown in the UI: longer text is cut (the warehouse keeps it whole).
CELL_CHARACTERS = 200


def _cell(value: Any) -> tuple[str, str | int | float | bool | None]:
    """A frame's value as a table record's cell, with its column type: numbers stay numbers (so the UI sorts them;
    a Decimal is shown as the float nearest it, which prints the same digits up to 15 of them), times and days as
    ISO text, text redacted (vendor text may quote a secret back) and cut."""
    if value is None or value is pd.NA or value is pd.NaT or (isinstance(value, float) and value != value):
        return "", None
    if isinstance(value, bool | np.bool_):
        return "bool", bool(value)
    if isinstance(value, int | np.integer):
        return "int", int(value)
    if isinstance(value, float | np.floating | Decimal):
        return "float", float(value)
    if isinstance(value, datetime | pd.Timestamp):
        return "timestamp", value.isoformat()
    if isinstance(value, date):
        return "date", value.isoformat()
    return "string", redact(str(value))[:CELL_CHARACTERS]


def metadata_table(frame: pd.DataFrame, descriptions: dict[str, str] | None = None) -> dg.TableMetadataValue:
    """A frame as the UI's table (`MetadataValue.table`, sortable), with its schema: each column's type as its values
    show it (a column of no value is text), and its description when given."""
    columns = [str(column) for column in frame.columns]
    records, types = [], {column: "" for column in columns}
    for row in frame.itertuples(index=False):
        data = {}
        for column, value in zip(columns, row, strict=True):
            kind, data[column] = _cell(value)
            types[column] = types[column] or kind
        records.append(dg.TableRecord(data=data))
    schema = dg.TableSchema(
        columns=[
            dg.TableColumn(name=column, type=types[column] or "string", description=(descriptions or {}).get(column))
            for column in columns
        ]
    )
    return dg.MetadataValue.table(records=records, schema=schema)


@dataclass(frozen=True)
class StepResources:
    """What a step works with: the warehouse, the account's settings, and its API client (None for a step that
    makes no call)."""

    warehouse: WarehouseResource
    pipeline: PipelineSettings
    haier: HaierClient | None = None
    account: str = DEFAULT_ACCOUNT

    @property
    def client(self) -> HaierClient:
        if self.haier is None:
            raise TypeError("this step makes no API call: its endpoint declares no request")
        return self.haier
