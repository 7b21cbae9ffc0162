"""The step of an endpoint whose rows are fetched, read and written as declared: one call, one call per item, or the
items in batches; the rows appended, upserted (withdrawing those no longer asked for) or replacing the rows of the
items answered. Most endpoints need nothing else: a new one is a declaration."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import dagster as dg
import pandas as pd

from haier_pipeline.config_files import read_orders
from haier_pipeline.defs.haier_catalog.checks import rule_result
from haier_pipeline.defs.haier_catalog.step import Step, StepResources, running_step
from haier_pipeline.endpoints.declaration import (
    Append,
    Endpoint,
    FromOrdersFile,
    FromWarehouse,
    ReplaceItems,
    Upsert,
)
from haier_pipeline.haier.client import HaierClient, named_lists
from haier_pipeline.haier.envelopes import as_rows
from haier_pipeline.records import Parsed, Record, UnusableAnswer
from haier_pipeline.records.kinds import Invalid
from haier_pipeline.shanghai_time import now_utc
from haier_pipeline.warehouse.tables import ACCOUNT
from haier_pipeline.warehouse.warehouse import WarehouseTransaction

# The column a row of an answer made of named lists is tagged with.
LIST_COLUMN = "source_list"
PREVIEW_COLUMNS = 6


@dataclass
class Fetched:
    """The rows read from the answers, the items asked and those answered (None: one call, no items)."""

    parsed: Parsed
    items: list[dict[str, Any]] | None = None
    answered: list[Any] = field(default_factory=list)


def write_rows(context: dg.AssetExecutionContext, endpoint: Endpoint, given: StepResources) -> Iterator[Any]:
    with running_step(context, endpoint.name, given.warehouse, given.client, given.account) as step:
        fetched = fetch(step, endpoint, given.client, given.pipeline.orders_file)
        rows = step.absorb(fetched.parsed)
        yield from step.checked(given.pipeline.max_rejected_ratio, *rule_results(endpoint, step, rows))
        with step.transaction() as tx:
            message = write(tx, endpoint, rows, fetched)
            step.close(tx, loaded=len(rows), message=message)
        metadata = step.metadata(len(rows), step.table_rows(endpoint.name), rows.iloc[:, :PREVIEW_COLUMNS])
        if fetched.items is not None:
            metadata["items_asked"] = len(fetched.items)
        yield dg.MaterializeResult(metadata=metadata)


def rule_results(endpoint: Endpoint, step: Step, rows: pd.DataFrame) -> list[dg.AssetCheckResult]:
    """Each of the endpoint's rules on the rows, against its reference rows of the step's account."""
    return [
        rule_result(rule, rows, step.warehouse.query(rule.reference, step.bound) if rule.reference else pd.DataFrame())
        for rule in endpoint.rules
    ]


def fetch(step: Step, endpoint: Endpoint, client: HaierClient, orders_file: str) -> Fetched:
    """Ask as the endpoint declares; an item the API refused or left unanswered is recorded as such, and the rest
    are read."""
    request, record = endpoint.request, endpoint.record
    assert request is not None and record is not None, f"{endpoint.name} declares no request or record"
    label, context = record.endpoint, {"fetched_at": now_utc()}
    fetched = Fetched(Parsed(record))
    if endpoint.items is None:
        read(step, fetched.parsed, answer_rows(label, endpoint, client.fetch(label, request)), context, {})
        return fetched
    fetched.items = items_of(endpoint, step, orders_file)
    if request.batch is not None:
        column = request.batch.column
        for batch in client.batched(label, request, [item[column] for item in fetched.items]):
            if batch.error is not None:
                for value in batch.item:
                    step.item_failed({column: value}, batch.error)
                continue
            fetched.answered += batch.item
            rows = rows_asked_for(step, record, column, batch.item, batch.value)
            for value in batch.item if not isinstance(rows, list) else ():
                step.refuse("the answer is not rows", {column: value}, f": {label} answered {type(rows).__name__}")
            if isinstance(rows, list):
                read(step, fetched.parsed, {None: rows}, context, {})
        return fetched
    # An answer of the wrong shape is that item's refusal, not the step's failure: read inside the call.
    for outcome in client.fan_out(
        lambda item: answer_rows(label, endpoint, client.fetch(label, request, item)), fetched.items
    ):
        item = identity(record, outcome.item)
        if outcome.error is not None:
            step.item_failed(item, outcome.error)
            continue
        fetched.answered.append(outcome.item)
        read(step, fetched.parsed, outcome.value or {}, context, item)
    return fetched


def answer_rows(label: str, endpoint: Endpoint, payload: Any) -> Mapping[Any, Any]:
    """The answer's rows by the list they came from (None: the answer is one list); the keys of a list answer that the
    document does not name are its `unknown_keys`."""
    if endpoint.call.lists:
        return named_lists(label, payload, endpoint.call.lists)
    return {None: as_rows(payload, label)}


def read(
    step: Step,
    parsed: Parsed,
    answers: Mapping[Any, Any],
    context: dict[str, Any],
    item: dict[str, Any],
) -> None:
    # Keys of an answer made of lists that the document does not name keep the item: counted as drift, as unknown keys
    # of rows are.
    for key, example in getattr(answers, "unknown_keys", {}).items():
        parsed.unknown_keys[key] += 1
        parsed.unknown_examples.setdefault(key, example)
    for source_list, rows in answers.items():
        columns = {**context, **item, **({LIST_COLUMN: source_list} if source_list is not None else {})}
        try:
            parsed.extend(parsed.record.parse(rows, columns))
        except UnusableAnswer as error:
            asked = {**item, **({LIST_COLUMN: source_list} if source_list is not None else {})}
            step.refuse("the answer is not rows", asked, f": {error}")


def identity(record: Record, item: Mapping[str, Any]) -> dict[str, Any]:
    """What names an item in a refusal: its values that are key columns of the record (an order's code)."""
    keys = {f.column for f in record.fields if f.vendor is None}
    return {column: value for column, value in item.items() if column in keys}


def items_of(endpoint: Endpoint, step: Step, orders_file: str) -> list[dict[str, Any]]:
    if isinstance(endpoint.items, FromWarehouse):
        return step.warehouse.query(endpoint.items.sql, step.bound).to_dict("records")
    if isinstance(endpoint.items, FromOrdersFile):
        return [asdict(order) for order in read_orders(orders_file)]
    raise TypeError(f"{endpoint.name}: no items of {endpoint.items!r}")


def rows_asked_for(step: Step, record: Record, column: str, asked: Sequence[Any], answer: Any) -> Any:
    """The answer's rows for the values this call asked for. A row for another value is refused: the call that asked
    for that value has its own answer, which a stray row must never replace. A value asked but absent is refused too;
    a row without a readable value is probably the answer for one of them and is refused by the parse: each refused
    input counts once, so it stands for one absent value."""
    if not isinstance(answer, list):
        return answer  # not rows at all: refused whole
    field_ = record.field(column)
    wanted = set(asked)
    rows, sent, unreadable = [], set(), 0
    for row in answer:
        value = _value_of(row, field_.vendor, field_.kind.read)
        if value is None:
            unreadable += 1
        elif value not in wanted:
            step.refuse("answered for a code the call did not ask for", {"vendor_row": row}, f" ({value})")
            continue
        else:
            sent.add(value)
        rows.append(row)
    for value in [value for value in asked if value not in sent][unreadable:]:
        step.refuse("asked, but the API answered no row for it", {column: value})
    return rows


def _value_of(row: Any, vendor_key: str | None, read_value: Any) -> Any:
    """The row's value as the parse reads it, else None (the parse refuses the row)."""
    try:
        return read_value(row.get(vendor_key)) if isinstance(row, dict) and vendor_key else None
    except Invalid:
        return None


def write(tx: WarehouseTransaction, endpoint: Endpoint, rows: pd.DataFrame, fetched: Fetched) -> str:
    """Write as the endpoint declares, as the transaction's account's rows; the step's message."""
    name, disposition = endpoint.name, endpoint.write
    what = getattr(endpoint.items, "what", "")
    noun = endpoint.record.name if endpoint.record else "row"
    message = f"{len(rows)} {noun}s" + (f" for {len(fetched.items)} {what}" if fetched.items is not None else "")
    if isinstance(disposition, Append):
        tx.append(name, rows)
    elif isinstance(disposition, Upsert):
        tx.upsert(name, rows)
        if disposition.withdraw_unasked and isinstance(endpoint.items, FromWarehouse):
            (key,) = (column for column in tx.primary_key(name) if column != ACCOUNT)
            withdrawn = tx.execute_count(
                f"DELETE FROM {{schema}}.{name} WHERE account = :account "
                f"AND {key} NOT IN (SELECT {key} FROM ({endpoint.items.sql}) AS asked)"
            )
            message += f", {withdrawn} withdrawn (no longer among the {what})"
    elif isinstance(disposition, ReplaceItems):
        answered = [item[disposition.column] for item in fetched.answered]
        if answered:
            tx.replace(name, rows, {disposition.column: answered})
        message += f"; {len(answered)} of {len(fetched.items or [])} {what} answered"
    else:
        raise TypeError(f"{name}: rows are not written by {type(disposition).__name__}")
    return message
