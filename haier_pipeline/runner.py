"""Materialize a selection of assets in-process on a Dagster instance: what `sync`, `demo` and the tests
run. In-process means one rate limiter and one token for the whole run."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import dagster as dg

from haier_pipeline.assets import ALL_ASSETS
from haier_pipeline.assets.step import INTERRUPTIONS, QUERY_INTERRUPTED

STEPS: dict[str, tuple[str, ...]] = {
    "products": ("products",),
    "prices": ("prices", "price_history"),
    "stock": ("stock_snapshots",),
    "catalog": ("catalog",),
    "balance": ("account_balances",),
    "logistics": ("logistics_events",),
}


def unknown_steps(only: Sequence[str]) -> list[str]:
    return [name for name in only if name not in STEPS]


def selected_assets(only: Sequence[str] | None) -> list[str]:
    names = list(only) if only else list(STEPS)
    if unknown := unknown_steps(names):
        raise ValueError(f"unknown step {', '.join(map(repr, unknown))}; choose from {','.join(STEPS)}")
    return [asset for name in STEPS if name in names for asset in STEPS[name]]


def pools_of(assets: Sequence[str]) -> list[str]:
    """The concurrency pools the steps of these assets take a slot of (dagster.yaml limits each)."""
    pools = {asset.op.pool for asset in ALL_ASSETS if asset.key.to_user_string() in assets}
    return sorted(pool for pool in pools if pool)


@dataclass(frozen=True)
class StepFailure:
    step: str
    cause: str
    interrupted: bool = False  # Ctrl-C or SIGTERM, not the step's own failure


def run_assets(
    assets: Sequence[str],
    resources: Mapping[str, Any],
    instance: dg.DagsterInstance | None = None,
    tags: Mapping[str, str] | None = None,
    console_log_level: str = "DEBUG",
) -> dg.ExecuteInProcessResult:
    """The console log level only changes what this process prints; the instance keeps every event.

    The resources are handed over as the objects they are, not as configuration: Dagster stores a configurable
    resource's values as config defaults in every run's job snapshot, secrets included, which the UI then shows."""
    return dg.materialize(
        ALL_ASSETS,
        selection=[dg.AssetKey(name) for name in assets],
        resources={name: dg.ResourceDefinition.hardcoded_resource(value) for name, value in resources.items()},
        instance=instance,
        raise_on_error=False,
        tags=dict(tags or {}),
        run_config={"loggers": {"console": {"config": {"log_level": console_log_level}}}},
    )


def steps_not_run(result: dg.ExecuteInProcessResult, assets: Sequence[str]) -> list[str]:
    """Selected steps that never started: a step they depend on failed. Dagster only logs a line for them (no
    event), and they write no sync_log row."""
    started = {event.step_key for event in result.all_events if event.event_type == dg.DagsterEventType.STEP_START}
    return [asset for asset in assets if asset not in started]


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
    # "haier_pipeline.assets.step.StepFailed: products: ..." → "products: ..."; other errors keep their class.
    qualified, _, text = message.partition(": ")
    if text and re.fullmatch(r"[\w.]+", qualified):
        class_name = qualified.rsplit(".", 1)[-1]
        message = text if class_name in ("StepFailed", "Failure") else f"{class_name}: {text}"
    return message
