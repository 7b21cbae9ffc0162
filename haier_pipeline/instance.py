"""The Dagster instance the CLI records its runs in (the same one `make ui` shows), and the sweep that marks
CLI runs whose process died as failed.

Runs the daemon launched are watched by Dagster's run monitoring (`run_monitoring` in dagster.yaml). A CLI run has
no daemon watching it: it records its host and process (tags below), and the next `sync` on that host marks a run
that is still STARTED but whose process is gone (SIGKILL, a reboot) as failed, so the alert sensor reports it.
"""

from __future__ import annotations

import os
import socket
import sys
from pathlib import Path

import dagster as dg

HOST_TAG = "haier/host"
PID_TAG = "haier/pid"
PROCESS_START_TAG = "haier/process_start"  # the pid's start time: a reused pid is not the same process
UNFINISHED = [dg.DagsterRunStatus.STARTING, dg.DagsterRunStatus.STARTED, dg.DagsterRunStatus.CANCELING]


def project_instance() -> dg.DagsterInstance:
    """DAGSTER_HOME when set; else the project folder when it holds dagster.yaml (the UI's instance);
    else an ephemeral instance, with a warning that the run will not appear in the UI."""
    if not os.environ.get("DAGSTER_HOME") and (Path.cwd() / "dagster.yaml").exists():
        os.environ["DAGSTER_HOME"] = str(Path.cwd())
    if os.environ.get("DAGSTER_HOME"):
        Path(os.environ["DAGSTER_HOME"]).mkdir(parents=True, exist_ok=True)
        return dg.DagsterInstance.get()
    print(
        "warning: DAGSTER_HOME is not set and there is no dagster.yaml here: this run will not appear in the "
        "Dagster UI (run from the project folder, or set DAGSTER_HOME)",
        file=sys.stderr,
    )
    return dg.DagsterInstance.ephemeral()


def process_start(pid: int) -> str | None:
    """The kernel's start time of `pid` (clock ticks since boot), or None when no such process exists."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # Field 22; the command name (field 2) may hold spaces, so count from the closing parenthesis.
    return stat.rsplit(")", 1)[1].split()[19]


def process_tags() -> dict[str, str]:
    """Who runs this CLI run: the sweep's way to tell later whether the process is still alive."""
    pid = os.getpid()
    return {HOST_TAG: socket.gethostname(), PID_TAG: str(pid), PROCESS_START_TAG: process_start(pid) or ""}


def is_alive(tags: dg.DagsterRun | dict[str, str]) -> bool:
    values = tags.tags if isinstance(tags, dg.DagsterRun) else tags
    pid = values.get(PID_TAG, "")
    if not pid.isdigit():
        return True  # not ours to judge
    started = process_start(int(pid))
    return started is not None and (not values.get(PROCESS_START_TAG) or started == values[PROCESS_START_TAG])


def mark_dead_cli_runs(instance: dg.DagsterInstance) -> list[str]:
    """Mark failed every unfinished run started by a CLI process of this host that no longer exists, and free the
    pool slots it held: no daemon frees a CLI run's slots, and with `haier_api` limited to 1 (dagster.yaml) the next
    sync's API step would otherwise wait for the dead run's slot forever."""
    host = socket.gethostname()
    runs = instance.get_runs(filters=dg.RunsFilter(statuses=UNFINISHED, tags={HOST_TAG: host}))
    marked = []
    for run in runs:
        if is_alive(run):
            continue
        instance.report_run_failed(
            run,
            message=(
                f"the process that ran this run (pid {run.tags.get(PID_TAG)} on {host}) is gone (killed, or the "
                "machine restarted) before the run finished; marked failed by the next `haier-pipeline sync`. "
                "Its step left the warehouse as it was; run the sync again."
            ),
        )
        if instance.event_log_storage.supports_global_concurrency_limits:
            instance.event_log_storage.free_concurrency_slots_for_run(run.run_id)
        marked.append(run.run_id)
    return marked
