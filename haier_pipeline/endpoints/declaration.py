"""What one endpoint declaration says, in one place (the shape of dlt's `EndpointResource`): how the vendor is asked,
the record its rows are, the table they land in and how they are written, when it runs and how fresh it must be, its
own checks, its concurrency pool and its description. The assets, tables, `sync` steps, automation and freshness are
all derived from the set of declarations (`haier_pipeline.endpoints.ENDPOINTS`).

Plain data, and pure functions on frames: nothing here imports Dagster, HTTP or SQL, so every layer may read it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from enum import StrEnum
from typing import Any

import pandas as pd

from haier_pipeline.records import Field, Record
from haier_pipeline.records.kinds import Kind


class AccountField(StrEnum):
    """What the account supplies to a request body (haier-api.md, "Account identity in every body"); each endpoint
    gives these facts its own names."""

    CUSTOMER_CODE = "customer_code"
    SEND_TO_CODE = "send_to_code"
    SUPPLIER_CODE = "supplier_code"
    PASSWORD = "password"
    SELLER_PASSWORD = "seller_password"
    CUSTOMER_PASSWORD = "customer_password"


@dataclass(frozen=True)
class Batch:
    """Items asked `size` at a time, their `column` values listed under the body's `key`."""

    key: str
    column: str
    size: int = 20


@dataclass(frozen=True, eq=False)
class Request:
    """One POST to the gateway: the path under the base URL, the body's fixed values and account fields, and how an
    item fills it (`item`: body key -> item column, one call per item; a None value is left out of the body), or a
    batch of items. `lists`: the answer is an object of these named lists, each row tagged with its list's name (the
    record's `source_list`)."""

    path: str
    body: Mapping[str, str | AccountField]
    item: Mapping[str, str] = field(default_factory=dict)
    batch: Batch | None = None
    lists: tuple[str, ...] = ()
    # The body key that, left out, asks for everything (the whole listing); sent as [] instead when the gateway
    # refuses it left out (haier-api.md §1 says both), the form that worked kept for the process.
    everything: str | None = None


# ---- where a step's items come from -----------------------------------------------------------------------------
@dataclass(frozen=True)
class FromWarehouse:
    """Items are the rows of this query (`{schema}` names the warehouse schema); `what` they are, in the step's
    message ("40 price rows for 40 active procurable products")."""

    sql: str
    what: str


@dataclass(frozen=True)
class FromOrdersFile:
    """Items are the orders of the account's orders file (order_code, delivery_record_code, member_id)."""

    what: str = "orders"


Items = FromWarehouse | FromOrdersFile


# ---- how rows are written (the write disposition) ------------------------------------------------------------------
@dataclass(frozen=True)
class Append:
    """Every fetch adds its rows: a history (the table's key includes the fetch time)."""


@dataclass(frozen=True)
class Upsert:
    """Rows replace those of the same key; `withdraw_unasked`: rows whose key was not among the step's items are
    deleted (a price of a product no longer asked for would pass for current)."""

    withdraw_unasked: bool = False


@dataclass(frozen=True)
class ReplaceItems:
    """An answered item's rows replace all its earlier rows (matched on `column`); unanswered items keep theirs."""

    column: str


@dataclass(frozen=True)
class SoftDelete:
    """A whole listing: rows upserted and stamped seen; a key missing from a listing that had no refused rows has
    `flag` set false (never deleted), at most HAIER_MAX_DEACTIVATE_RATIO of them at once (a blocking check)."""

    flag: str = "is_active"
    first_seen: str = "first_seen_at"
    last_seen: str = "last_seen_at"


@dataclass(frozen=True)
class Versions:
    """Type-2 slowly changing dimension of another endpoint's table: a new version (valid_from, valid_to null)
    whenever one of `tracked` changes; a key gone from the source closes its version."""

    source: str
    tracked: tuple[str, ...]


@dataclass(frozen=True)
class Rebuild:
    """The table is emptied and rebuilt from other tables by `statements` (the last an INSERT ... SELECT), in one
    transaction. Bound for them: :counties (the account's configured counties) and :updated_at. `figures`: the
    headline numbers of the rebuilt rows (name -> int or float), recorded with each materialization, so the UI plots
    them over time."""

    statements: tuple[str, ...]
    figures: Callable[[pd.DataFrame], Mapping[str, int | float]] | None = None


@dataclass(frozen=True)
class StockDay:
    """Today's answers (Asia/Shanghai) for every product and county, checkpointed as they arrive and committed as one
    day, replacing the pairs answered; earlier days stay."""


Write = Append | Upsert | ReplaceItems | SoftDelete | Versions | Rebuild | StockDay


# ---- when it runs ------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Cron:
    """On a cron of its own, Asia/Shanghai time. `with_parents`: on the tick once its parents were updated (prices
    wait for the morning's products); otherwise the tick requests it whatever its parents' cadence (stock at 11:00
    does not wait for a listing that runs at 06:30)."""

    schedule: str
    with_parents: bool = False


@dataclass(frozen=True)
class AfterParents:
    """Once after every update of its parents."""


Cadence = Cron | AfterParents


@dataclass(frozen=True)
class Freshness:
    """Warn when the newest materialization is older than `warn_after` (None: no warning), fail past `fail_after`.
    The Dagster UI rounds a window to one unit ("13 hours", "a day"), so each must be one it says as it is: whole
    minutes under 45, an hour, whole hours up to 21, a day, whole days up to 25 (the asset is refused otherwise)."""

    warn_after: timedelta | None
    fail_after: timedelta


class Pool(StrEnum):
    """What a step holds while it runs: the account's API (its rate limit), or the warehouse's single writer."""

    API = "api"
    WAREHOUSE = "warehouse"


# ---- checks of its own -------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Outcome:
    passed: bool
    description: str
    metadata: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Rule:
    """A business rule on the rows the step writes: `evaluate(rows, reference)`, `reference` the rows of the
    `reference` query read before the write (empty without one). Blocking: a failed rule stops the step before
    anything is written (a rebuilt table's rules see it rebuilt, inside the transaction they can still undo)."""

    name: str
    description: str
    evaluate: Callable[[pd.DataFrame, pd.DataFrame], Outcome]
    reference: str = ""
    blocking: bool = False
    error: bool = False  # severity: error, else warning


# ---- the table ---------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Column:
    name: str
    kind: Kind
    description: str
    nullable: bool = True


def columns_of(record: Record, *names: str) -> tuple[Column, ...]:
    """A record's fields as table columns (all of them, or those named), NOT NULL where the field is required."""
    fields: list[Field] = [record.field(name) for name in names] if names else list(record.fields)
    return tuple(Column(f.column, f.kind, f.description, nullable=not f.required) for f in fields)


@dataclass(frozen=True, eq=False)
class Table:
    """The endpoint's warehouse table: its comment, key, indexes (name -> columns: an upgrade adds a missing index
    by its name), and columns (default: its record's fields)."""

    comment: str
    key: tuple[str, ...] = ()
    columns: tuple[Column, ...] = ()
    indexes: Mapping[str, tuple[str, ...]] = field(default_factory=dict)


@dataclass(frozen=True, eq=False)
class Endpoint:
    """One endpoint: the asset named `name` owns the table named `name`. `step` groups endpoints `sync --only` runs
    together (default: the name); `deps` are the endpoints whose tables it reads."""

    name: str
    description: str
    table: Table
    write: Write
    record: Record | None = None
    request: Request | None = None
    items: Items | None = None
    step: str = ""
    deps: tuple[str, ...] = ()
    pool: Pool = Pool.API
    cadence: Cadence | None = None
    freshness: Freshness | None = None
    rules: tuple[Rule, ...] = ()

    @property
    def step_name(self) -> str:
        return self.step or self.name

    @property
    def call(self) -> Request:
        """The request of an endpoint that calls the API (a derived one, such as the catalog, has none)."""
        if self.request is None:
            raise TypeError(f"{self.name} is derived from other tables: it calls no endpoint of the API")
        return self.request

    @property
    def columns(self) -> tuple[Column, ...]:
        return self.table.columns or (columns_of(self.record) if self.record else ())
