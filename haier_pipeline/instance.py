"""The Dagster instance the CLI records its runs in (the same one `make ui` shows), and the sweep that marks runs
whose process died as failed.

Every run records the host and process that execute it (tags below: a CLI run when it starts, a run the UI or the
daemon launched when its first step starts). Nothing else watches them: Dagster's run monitoring skips runs of the
default run launcher, which cannot tell whether a run's process lives. The next `sync` on that host, and the alert
sensor's every tick, mark a run that is still STARTED but whose process is gone (SIGKILL, a crash, a reboot) as
failed, free its pool slots, and so alert it.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import socket
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

import dagster as dg
import yaml

from haier_pipeline.errors import HaierConfigurationError, HaierError

HOST_TAG = "haier/host"
PID_TAG = "haier/pid"
PROCESS_START_TAG = "haier/process_start"  # the pid's start time: a reused pid is not the same process
UNFINISHED = [dg.DagsterRunStatus.STARTING, dg.DagsterRunStatus.STARTED, dg.DagsterRunStatus.CANCELING]


class InstanceConfigurationError(HaierConfigurationError):
    """DAGSTER_HOME or its dagster.yaml cannot give an instance: a configuration error (exit 2) found before any
    run, worded for DAGSTER_HOME (which is neither a HAIER_* variable nor read from .env by `sync`)."""

    def __init__(self, problem: str) -> None:
        HaierError.__init__(self, problem)
        self.problems = [problem]


def absolute_dagster_home() -> str | None:
    """DAGSTER_HOME as an absolute path, written back to os.environ; None when unset.

    Dagster refuses a relative DAGSTER_HOME (DagsterInvariantViolationError), but a user who sets DAGSTER_HOME=dh
    means the folder dh in the working directory. Written to os.environ so that Dagster and every process a command
    starts (dg dev, for `ui`) read the same folder. `~` is expanded as Dagster expands it."""
    home = os.environ.get("DAGSTER_HOME")
    if not home:
        return None
    os.environ["DAGSTER_HOME"] = os.path.abspath(os.path.expanduser(home))
    return os.environ["DAGSTER_HOME"]


def project_instance() -> dg.DagsterInstance:
    """DAGSTER_HOME when set; else the project folder when it holds dagster.yaml (the UI's instance);
    else an ephemeral instance, with a warning that the run will not appear in the UI."""
    # Again here, not only in the command line's main: `demo` puts .env, which may set DAGSTER_HOME, into os.environ.
    home = absolute_dagster_home()
    if home is None and (Path.cwd() / "dagster.yaml").exists():
        home = os.environ["DAGSTER_HOME"] = str(Path.cwd())
    if home is not None:
        instance_folder(Path(home))
        if relative := folders_read_from_here(Path(home)):
            raise InstanceConfigurationError(
                f"DAGSTER_HOME={home} names its storage by relative paths in dagster.yaml ({', '.join(relative)}), "
                f"which Dagster reads from the working directory ({Path.cwd()}), not from DAGSTER_HOME: the runs would "
                f"go to another instance than the UI's. Run from {home}, or make those paths absolute"
            )
        return load_instance(Path(home))
    print(
        "warning: DAGSTER_HOME is not set and there is no dagster.yaml here: this run will not appear in the "
        "Dagster UI (run from the project folder, or set DAGSTER_HOME)",
        file=sys.stderr,
    )
    return dg.DagsterInstance.ephemeral()


def folders_read_from_here(home: Path) -> list[str]:
    """The relative `base_dir`s of DAGSTER_HOME's dagster.yaml, when the working directory is not DAGSTER_HOME:
    Dagster resolves them against the working directory. A dagster.yaml it cannot read is load_instance's to name."""
    if Path.cwd().resolve() == home.resolve():
        return []
    try:
        config = yaml.safe_load((home / "dagster.yaml").read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return []

    def base_dirs(node: object) -> Iterator[str]:
        if isinstance(node, dict):
            for key, value in node.items():
                if key == "base_dir" and isinstance(value, str) and not os.path.isabs(os.path.expanduser(value)):
                    yield value
                yield from base_dirs(value)

    return list(dict.fromkeys(base_dirs(config)))


def instance_folder(home: Path) -> None:
    """Create DAGSTER_HOME if missing; a path that cannot be a folder is named, rather than an errno without it."""
    try:
        home.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        blocking = next((path for path in (home, *home.parents) if path.exists() and not path.is_dir()), None)
        if blocking == home:
            reason = "is a file, not a folder"
        elif blocking is not None:
            reason = f"cannot be created: {blocking} is a file, not a folder"
        else:
            reason = f"cannot be created ({error.strerror})"
        raise InstanceConfigurationError(
            f"DAGSTER_HOME={str(home)!r} {reason}: DAGSTER_HOME must be a folder (the Dagster instance's). Set it "
            "to a folder you can write to, or unset it to use the project folder (run from there)"
        ) from None


@contextlib.contextmanager
def alone_in(home: Path) -> Iterator[None]:
    """An exclusive lock on the DAGSTER_HOME folder: Dagster creates a SQLite instance's databases, and stamps their
    schema version, with no lock between processes; two syncs starting together on a fresh instance left two
    versions in runs.db, and every later command failed ("more than one head")."""
    folder = os.open(home, os.O_RDONLY)
    try:
        fcntl.flock(folder, fcntl.LOCK_EX)
        yield
    finally:
        os.close(folder)  # releases the lock


def load_instance(home: Path) -> dg.DagsterInstance:
    """The instance of DAGSTER_HOME; a dagster.yaml it cannot read is named with its line and the fix."""
    config = home / "dagster.yaml"
    try:
        with alone_in(home):
            return dg.DagsterInstance.from_config(str(home))
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        where = f"{config} line {mark.line + 1}" if mark is not None else str(config)
        context = error.context_mark
        started = f" ({error.context} at line {context.line + 1})" if error.context and context is not None else ""
        problem = f"{where} is not valid YAML: {error.problem}{started}"
    except yaml.YAMLError as error:
        problem = f"{config} is not valid YAML: {error}"
    except dg.DagsterInvalidConfigError as error:
        found = "; ".join(item.message.rstrip(".") for item in error.errors) or str(error)
        problem = f"{config} is not a valid Dagster instance configuration: {found}"
    raise InstanceConfigurationError(
        f"{problem}. Fix it (the project's own dagster.yaml is an example), or point DAGSTER_HOME at another folder"
    )


def process_start(pid: int) -> str | None:
    """The kernel's start time of `pid` (clock ticks since boot), or None when no such process exists."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # Field 22; the command name (field 2) may hold spaces, so count from the closing parenthesis.
    return stat.rsplit(")", 1)[1].split()[19]


def process_tags() -> dict[str, str]:
    """Who executes this run: the sweep's way to tell later whether the process is still alive."""
    pid = os.getpid()
    return {HOST_TAG: socket.gethostname(), PID_TAG: str(pid), PROCESS_START_TAG: process_start(pid) or ""}


def is_alive(tags: dg.DagsterRun | dict[str, str]) -> bool:
    values = tags.tags if isinstance(tags, dg.DagsterRun) else tags
    pid = values.get(PID_TAG, "")
    if not pid.isdigit():
        return True  # not ours to judge
    started = process_start(int(pid))
    return started is not None and (not values.get(PROCESS_START_TAG) or started == values[PROCESS_START_TAG])


def mark_dead_runs(instance: dg.DagsterInstance) -> list[str]:
    """Mark failed every unfinished run executed by a process of this host that no longer exists, and free the pool
    slots it held: with `haier_api` limited to 1 (dagster.yaml) every later API step would otherwise wait for the
    dead run's slot forever (a UI run whose `dg dev` was killed stayed STARTED, its slot held, through restarts)."""
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
                "machine restarted) before the run finished; marked failed by a later sync or the alert sensor. "
                "Its step left the warehouse as it was; run the sync again."
            ),
        )
        if instance.event_log_storage.supports_global_concurrency_limits:
            instance.event_log_storage.free_concurrency_slots_for_run(run.run_id)
        marked.append(run.run_id)
    return marked


def free_slots_of_finished_runs(instance: dg.DagsterInstance, pools: Iterable[str]) -> list[str]:
    """Free the pool slots held by runs that have finished (failed, killed, canceled) or no longer exist. The
    daemon does it a minute after such a run ends (dagster.yaml), but a sync may run where no daemon does."""
    storage = instance.event_log_storage
    if not storage.supports_global_concurrency_limits:
        return []
    freed = []
    for pool in pools:
        info = storage.get_concurrency_info(pool)
        for run_id in {slot.run_id for slot in info.claimed_slots} | {step.run_id for step in info.pending_steps}:
            run = instance.get_run_by_id(run_id)
            if (run is None or run.is_finished) and run_id not in freed:
                storage.free_concurrency_slots_for_run(run_id)
                freed.append(run_id)
    return freed


def wait_for_pools(
    instance: dg.DagsterInstance, pools: Iterable[str], say: Callable[[str], None], poll_seconds: float = 1.0
) -> None:
    """Wait while live runs hold every slot of a pool this run's steps need, saying once which run holds it.

    Dagster's own wait for a slot, inside the run, prints nothing, spins a core and never sees Ctrl-C or SIGTERM;
    this one sleeps, so either ends it."""
    storage = instance.event_log_storage
    if not storage.supports_global_concurrency_limits:
        return
    said: set[str] = set()
    while True:
        busy = []
        for pool in pools:
            info = storage.get_concurrency_info(pool)
            limit = info.limit if info.limit is not None else info.slot_count
            if limit and len(info.claimed_slots) >= limit:
                holders = ", ".join(f"run {slot.run_id} (step {slot.step_key})" for slot in info.claimed_slots)
                busy.append(f"the {pool} pool ({holders})")
        if not busy:
            return
        message = "; ".join(busy)
        if message not in said:
            said.add(message)
            say(f"waiting for {message} to finish; Ctrl-C stops waiting")
        time.sleep(poll_seconds)
