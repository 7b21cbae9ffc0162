"""The Dagster instance the CLI records its runs in (the same one `make ui` shows), one per warehouse, and the sweep
that marks runs whose process died as failed.

One instance records the runs of one warehouse, so the UI never shows one warehouse's results as another's. An
instance remembers the warehouse it records (`bound_warehouse`, in its own key-value store) from its first run; a
command run against another warehouse (`sync`, `demo`, `ui` with another HAIER_WAREHOUSE_URL) records its runs in an
instance of that warehouse's own, kept under the first one's storage (`warehouses/<name>/`, with the same
dagster.yaml). An instance whose storage is shared (Postgres, deploy/dagster.yaml) cannot be split that way: a
command against another warehouse is refused, naming it. A run launched by the UI or the daemon against another
warehouse than its instance's (the code location reloaded with another HAIER_WAREHOUSE_URL) fails at its first step,
before it writes anything. Every run carries the warehouse (`haier/warehouse`) and the account (`haier/account`) as
tags.

Every run records the host and process that execute it (tags below: a CLI run when it starts, a run the UI or the
daemon launched when its first step starts). Nothing else watches them: Dagster's run monitoring skips runs of the
default run launcher, which cannot tell whether a run's process lives. The next `sync` on that host, and the alert
sensor's every tick, mark a run that is still STARTED but whose process is gone (SIGKILL, a crash, a reboot) as
failed, free its pool slots, and so alert it.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import re
import socket
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import dagster as dg
import yaml

from haier_pipeline.errors import HaierConfigurationError, HaierError

WAREHOUSE_TAG = "haier/warehouse"  # the warehouse the run wrote to (warehouse.url.warehouse_label: no secret)
ACCOUNT_TAG = "haier/account"  # the dealer accounts whose steps it ran, comma-separated
# The instance's own record of the warehouse whose runs it holds (its key-value store, kept with its runs).
WAREHOUSE_KEY = "haier/warehouse"
# Where an instance keeps the instances of other warehouses, under its storage folder.
OTHER_WAREHOUSES = "warehouses"
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


def bound_warehouse(instance: dg.DagsterInstance) -> str | None:
    """The warehouse whose runs the instance records; None before its first run."""
    return instance.run_storage.get_cursor_values({WAREHOUSE_KEY}).get(WAREHOUSE_KEY) or None


def bind_warehouse(instance: dg.DagsterInstance, label: str) -> None:
    instance.run_storage.set_cursor_values({WAREHOUSE_KEY: label})


def other_warehouse_refusal(instance: dg.DagsterInstance, label: str) -> str | None:
    """Why a run against warehouse `label` must not be recorded in `instance` (it records another warehouse's runs),
    or None, the instance then bound to `label` if it was not yet."""
    bound = bound_warehouse(instance)
    if bound is None:
        bind_warehouse(instance, label)
        return None
    if bound == label:
        return None
    return (
        f"this Dagster instance records the runs of the warehouse {bound}, and this run's warehouse is {label}: its "
        f"results would show in the UI as those of {bound}. Nothing was written. Run `haier-pipeline ui` (or `make "
        f"ui`) with HAIER_WAREHOUSE_URL naming {label}: it keeps an instance per warehouse; or reload this code "
        f"location with HAIER_WAREHOUSE_URL naming {bound}"
    )


def instance_for_warehouse(label: str, say: Callable[[str], None] | None = None) -> dg.DagsterInstance:
    """The instance that records the runs of warehouse `label`: the project's (`project_instance`) when it records
    that warehouse's runs or none yet, else that warehouse's own, beside it (see the module's description)."""
    instance = project_instance()
    if instance.is_ephemeral:
        return instance
    chosen, _ = _instance_of(instance, Path(os.environ["DAGSTER_HOME"]), label, say)
    return chosen


def home_for_warehouse(home: Path, label: str, say: Callable[[str], None] | None = None) -> Path:
    """The DAGSTER_HOME whose instance records the runs of warehouse `label`: `home`, or that warehouse's own instance
    under it (created when missing). For `haier-pipeline ui`, whose `dg dev` reads DAGSTER_HOME."""
    instance = load_instance(home)
    chosen, chosen_home = _instance_of(instance, home, label, say)
    chosen.dispose()
    return chosen_home


def _instance_of(
    instance: dg.DagsterInstance, home: Path, label: str, say: Callable[[str], None] | None
) -> tuple[dg.DagsterInstance, Path]:
    bound = bound_warehouse(instance)
    if bound is None or bound == label:
        if bound is None:
            bind_warehouse(instance, label)
        return instance, home
    folder = separate_home(instance, home, label, bound)
    instance.dispose()
    other = load_instance(folder)
    if other_warehouse_refusal(other, label) is not None:  # a folder someone reused: refuse rather than mix
        raise InstanceConfigurationError(
            f"the Dagster instance {folder} records the runs of another warehouse than {label} "
            f"({bound_warehouse(other)}): move it away, and the next command creates it anew"
        )
    if say is not None:
        say(
            f"the runs of the warehouse {label} are recorded in the Dagster instance {folder} (DAGSTER_HOME={home} "
            f"records those of {bound}); `haier-pipeline ui` with HAIER_WAREHOUSE_URL naming it shows them"
        )
    return other, folder


def separate_home(instance: dg.DagsterInstance, home: Path, label: str, bound: str) -> Path:
    """The folder of warehouse `label`'s own instance, under the storage of `instance` (whose runs are `bound`'s):
    the same dagster.yaml with its storage in that folder. Refused for an instance whose storage is not its folder's
    (a database: every instance configured alike would share it)."""
    storages = (instance.run_storage, instance.event_log_storage, instance.schedule_storage)
    if not all("Sqlite" in type(storage).__name__ for storage in storages):
        raise InstanceConfigurationError(
            f"the Dagster instance of DAGSTER_HOME={home} records the runs of the warehouse {bound}, and "
            f"HAIER_WAREHOUSE_URL names {label}: its runs would show in the UI as those of {bound}. Its storage is a "
            "database, so no instance of its own can be made beside it: set DAGSTER_HOME to the instance of "
            f"{label} (a dagster.yaml with storage of its own; deploy/README.md), or sync {bound}"
        )
    root = Path(instance.root_directory)
    folder = (root if root.is_absolute() else Path.cwd() / root) / OTHER_WAREHOUSES / warehouse_folder_name(label)
    try:
        config = yaml.safe_load((home / "dagster.yaml").read_text(encoding="utf-8")) or {}
    except FileNotFoundError:
        config = {}
    config = _rebased(config, folder)
    for legacy in ("run_storage", "event_log_storage", "schedule_storage"):
        config.pop(legacy, None)
    config["storage"] = {"sqlite": {"base_dir": str(folder / "storage")}}
    config["local_artifact_storage"] = {
        "module": "dagster._core.storage.root",
        "class": "LocalArtifactStorage",
        "config": {"base_dir": str(folder)},
    }
    text = (
        f"# The Dagster instance of the warehouse {label}, written by haier-pipeline from {home / 'dagster.yaml'}\n"
        "# (whose instance records another warehouse's runs). Storage paths are absolute: it is read from anywhere.\n"
        + yaml.safe_dump(config, sort_keys=False, allow_unicode=True)
    )
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "dagster.yaml"
    if not path.exists() or path.read_text(encoding="utf-8") != text:
        path.write_text(text, encoding="utf-8")
    return folder


def warehouse_folder_name(label: str) -> str:
    """A folder name for a warehouse: readable, and unique by a hash of the whole label."""
    readable = re.sub(r"[^A-Za-z0-9.]+", "-", label.split("://", 1)[-1]).strip("-.")[-48:].lstrip("-.")
    scheme = label.split(":", 1)[0]
    return f"{scheme}-{readable}-{hashlib.sha256(label.encode()).hexdigest()[:8]}"


def _rebased(node: Any, folder: Path) -> Any:
    """The configuration with every relative `base_dir` made absolute under `folder`."""
    if isinstance(node, dict):
        return {
            key: (
                str(folder / value)
                if key == "base_dir" and isinstance(value, str) and not os.path.isabs(os.path.expanduser(value))
                else _rebased(value, folder)
            )
            for key, value in node.items()
        }
    if isinstance(node, list):
        return [_rebased(item, folder) for item in node]
    return node
