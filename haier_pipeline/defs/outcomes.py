"""How a step ends, as the run tells it: interrupted (Ctrl-C or SIGTERM), failed with a cause, or finished leaving
items unanswered (a run tag). Read by the steps, the alerts and `sync` alike."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import dagster as dg
import duckdb

from haier_pipeline.accounts import DEFAULT_ACCOUNT
from haier_pipeline.endpoints import endpoint
from haier_pipeline.endpoints.declaration import StockDay
from haier_pipeline.instance import ACCOUNT_TAG

# The run tag a step sets when items stayed unanswered after every retry (value: how many, as a string): `sync` exits 3
# on it and the alert sensor alerts on it.
UNANSWERED_TAG = "haier/unanswered"


def asset_of(step_key: str) -> str:
    """The endpoint a step materializes: an account's asset `north/products` runs as the step `north__products`."""
    return step_key.rsplit("__", 1)[-1]


def account_of(tags: Mapping[str, str], step_key: str | None = None) -> str:
    """The account a step works for, by its key (`north__products`: north; `products`: default); for the run itself
    (no step, or "(run)"), its tag, which names each account of a run of several."""
    if step_key and step_key != "(run)":
        account, separator, _ = step_key.rpartition("__")
        return account if separator else DEFAULT_ACCOUNT
    return tags.get(ACCOUNT_TAG) or DEFAULT_ACCOUNT


INTERRUPTED = "interrupted (Ctrl-C or SIGTERM) before it finished; nothing of this step was written. Run the sync again"
STOCK_RESUMES = "stock asks only the pairs whose answers were not saved yet today"


def interrupted_message(asset: str) -> str:
    """What an interrupted step records: the advice to run again, with what it resumes for a step that resumes (a
    stock day)."""
    try:
        resumes = isinstance(endpoint(asset_of(asset)).write, StockDay)
    except KeyError:
        resumes = False
    return f"{INTERRUPTED}: {STOCK_RESUMES}" if resumes else INTERRUPTED


# Ctrl-C or SIGTERM, however it surfaces: Dagster raises its own error, DuckDB its InterruptException when it
# interrupts itself, and RuntimeError("Query interrupted") when a signal arrives during a query.
INTERRUPTIONS: tuple[type[BaseException], ...] = (
    KeyboardInterrupt,
    dg.DagsterExecutionInterruptedError,
    duckdb.InterruptException,
)
QUERY_INTERRUPTED = "Query interrupted"


def is_interruption(error: BaseException) -> bool:
    return isinstance(error, INTERRUPTIONS) or (isinstance(error, RuntimeError) and str(error) == QUERY_INTERRUPTED)


@dataclass(frozen=True)
class StepFailure:
    step: str
    cause: str
    interrupted: bool = False  # Ctrl-C or SIGTERM, not the step's own failure


def step_failures(result: dg.ExecuteInProcessResult) -> list[StepFailure]:
    failures = []
    for event in result.all_events:
        if event.event_type == dg.DagsterEventType.STEP_FAILURE:
            data = event.event_specific_data
            failures.append(StepFailure(event.step_key or "?", failure_cause(data), was_interrupted(data)))
    return failures


def was_interrupted(failure_data: Any) -> bool:
    """Whether the error chain holds an interruption: assets.step.is_interruption, on the serialized errors."""
    names = {kind.__name__ for kind in INTERRUPTIONS}
    error = getattr(failure_data, "error", None)
    while error is not None:
        if error.cls_name in names or (error.cls_name == "RuntimeError" and QUERY_INTERRUPTED in error.message):
            return True
        error = error.cause or error.context
    return False


def failure_cause(failure_data: Any) -> str:
    """The user's error, not Dagster's wrapper around it ("Error occurred while executing op ...")."""
    error = getattr(failure_data, "error", None)
    if error is None:
        return "unknown cause"
    while error.cls_name == "DagsterExecutionStepExecutionError" and error.cause is not None:
        error = error.cause
    message = " ".join(error.message.split())
    # "haier_pipeline.defs.haier_catalog.step.StepFailed: products: ..." → "products: ..."; others keep their class.
    qualified, _, text = message.partition(": ")
    if text and re.fullmatch(r"[\w.]+", qualified):
        class_name = qualified.rsplit(".", 1)[-1]
        message = text if class_name in ("StepFailed", "Failure") else f"{class_name}: {text}"
    return message
