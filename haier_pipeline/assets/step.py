"""What every asset step shares: API statistics, the `sync_log` row, quarantined rows, and metadata.

The step's data, its rejected rows and its `sync_log` row commit in one transaction; a failed step
writes only its `sync_log` row (and the rows it refused), so the data tables stay as they were.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import pandas as pd
from dagster import AssetCheckResult, AssetExecutionContext, Failure, MetadataValue

from haier_pipeline.checks.rules import DEACTIVATION_GUARD, SCHEMA_GATE
from haier_pipeline.haier import HaierClient
from haier_pipeline.haier.redaction import redact
from haier_pipeline.haier.stats import CallStats
from haier_pipeline.shanghai_time import now_utc
from haier_pipeline.validation import Split
from haier_pipeline.warehouse import Warehouse, WarehouseResource, WarehouseTransaction

PREVIEW_ROWS = 5
BLOCKING_CHECKS = {SCHEMA_GATE, DEACTIVATION_GUARD}


@dataclass
class Step:
    """One asset step in progress."""

    asset: str
    run_id: str
    partition_key: str | None
    warehouse: Warehouse
    started_at: datetime = field(default_factory=now_utc)
    api: CallStats = field(default_factory=CallStats)
    rejected: list[tuple[str, str]] = field(default_factory=list)  # (reason, payload)
    total: int = 0

    def quarantine(self, split: Split) -> None:
        self.total += split.total
        self.rejected.extend(zip(split.rejected["reason"], split.rejected["payload"], strict=True))

    def refuse(self, reason: str, payload: str) -> None:
        """A row that never became a row (e.g. a pair whose request failed after every retry)."""
        self.total += 1
        self.rejected.append((reason, payload))

    @property
    def status(self) -> str:
        return "partial" if self.rejected else "success"

    def _rejected_rows(self, at: datetime) -> pd.DataFrame:
        frame = pd.DataFrame(self.rejected, columns=["reason", "payload"], dtype=object)
        frame["asset"] = self.asset
        frame["partition_key"] = self.partition_key or ""
        frame["run_id"] = self.run_id
        frame["rejected_at"] = at
        frame["reason"] = frame["reason"].map(lambda text: redact(str(text)))
        return frame[["asset", "partition_key", "run_id", "reason", "payload", "rejected_at"]]

    def _sync_row(self, status: str, loaded: int, message: str, at: datetime) -> pd.DataFrame:
        return pd.DataFrame(
            [
                {
                    "run_id": self.run_id,
                    "sync_type": self.asset,
                    "partition_key": self.partition_key,
                    "status": status,
                    "total_count": self.total,
                    "success_count": loaded,
                    "failed_count": len(self.rejected),
                    "api_calls": self.api.total("calls"),
                    "retries": self.api.total("retries"),
                    "throttled": self.api.total("throttled"),
                    "started_at": self.started_at,
                    "completed_at": at,
                    "message": redact(message)[:2000],
                }
            ]
        )

    def _write_rejected(self, tx: WarehouseTransaction, at: datetime) -> None:
        """This asset+partition's refused rows replace the ones its previous run left."""
        match = {"asset": [self.asset], "partition_key": [self.partition_key or ""]}
        tx.replace("rejected_rows", self._rejected_rows(at), match)

    def close(self, tx: WarehouseTransaction, loaded: int, message: str) -> None:
        """Record the rejected rows and the sync_log row, in the step's own transaction."""
        at = now_utc()
        self._write_rejected(tx, at)
        tx.append("sync_log", self._sync_row(self.status, loaded, message, at))

    def record_failure(self, message: str) -> None:
        at = now_utc()
        with self.warehouse.transaction() as tx:
            if self.rejected:
                self._write_rejected(tx, at)
            tx.append("sync_log", self._sync_row("failed", 0, message, at))

    def fail_on_blocking(self, results: Sequence[AssetCheckResult]) -> None:
        """Blocking checks fail the step before anything is written, so nothing downstream runs either."""
        failed = [result for result in results if not result.passed and result.check_name in BLOCKING_CHECKS]
        if failed:
            causes = "; ".join(f"{result.check_name}: {result.description}" for result in failed)
            raise StepFailed(description=f"{self.asset}: blocking check failed, nothing was written. {causes}")

    def table_rows(self, table: str) -> int:
        return int(self.warehouse.query(f"SELECT count(*) AS n FROM {{schema}}.{table}")["n"].iloc[0])

    def metadata(self, loaded: int, table_rows: int, preview: pd.DataFrame | None = None) -> dict[str, Any]:
        metadata: dict[str, Any] = {
            "dagster/row_count": table_rows,
            "rows_loaded": loaded,
            "rows_rejected": len(self.rejected),
            "status": self.status,
            **{key: value for key, value in self.api.as_metadata().items() if key != "api_by_endpoint"},
        }
        by_endpoint = self.api.by_endpoint()
        if by_endpoint:
            metadata["api_by_endpoint"] = MetadataValue.md(
                markdown_table(pd.DataFrame([{"endpoint": name, **values} for name, values in by_endpoint.items()]))
            )
        if preview is not None and not preview.empty:
            metadata["preview"] = MetadataValue.md(markdown_table(preview.head(PREVIEW_ROWS)))
        return metadata


class StepFailed(Failure):
    """Raised after a blocking check failed: the message names the asset and the cause."""


@contextmanager
def running_step(
    context: AssetExecutionContext, warehouse: WarehouseResource, haier: HaierClient | None = None
) -> Iterator[Step]:
    """The step of the asset being materialized; its name is the asset's (and so the table's)."""
    asset = context.asset_key.to_user_string()
    step = Step(
        asset=asset,
        run_id=context.run.run_id,
        partition_key=context.partition_key if context.has_partition_key else None,
        warehouse=warehouse.get_warehouse(),
    )
    with ExitStack() as stack:
        if haier is not None:
            step.api = stack.enter_context(haier.track())
        try:
            yield step
        except Exception as error:
            message = redact(f"{type(error).__name__}: {error}")
            context.log.error(f"{asset} failed: {message}")
            try:
                step.record_failure(message)
            except Exception as audit_error:  # the original failure matters more than its audit row
                context.log.error(f"{asset}: could not write sync_log: {redact(str(audit_error))}")
            raise


def markdown_table(frame: pd.DataFrame) -> str:
    def cell(value: Any) -> str:
        text = "" if value is None or (isinstance(value, float) and value != value) else str(value)
        return text.replace("|", "\\|").replace("\n", " ")[:60]

    header = "| " + " | ".join(map(str, frame.columns)) + " |"
    rule = "| " + " | ".join("---" for _ in frame.columns) + " |"
    rows = ["| " + " | ".join(cell(value) for value in row) + " |" for row in frame.itertuples(index=False)]
    return "\n".join([header, rule, *rows])
