"""`haier-pipeline ui`: `dg dev` (the UI and the daemon) on 127.0.0.1 with the project's instance; the simulator is
started for it when no API is configured. SIGTERM and SIGINT stop `dg dev` and every process it started."""

from __future__ import annotations

import argparse
import contextlib
import errno
import os
import signal
import socket
import subprocess
import sys
import time
import tomllib
from pathlib import Path
from types import FrameType

from haier_pipeline.cli.demo import simulator_environment
from haier_pipeline.cli.exit_codes import EXIT_CONFIG
from haier_pipeline.cli.simulator import port_number
from haier_pipeline.instance import absolute_dagster_home, home_for_warehouse, instance_folder, load_instance
from haier_pipeline.settings import DEFAULT_WAREHOUSE_URL, load_dotenv_file, variable
from haier_pipeline.warehouse.errors import WarehouseConfigError
from haier_pipeline.warehouse.url import warehouse_label

UI_HOST = "127.0.0.1"
DEFAULT_PORT = 3000
UI_URL_VARIABLE = variable("ui_url")
SIMULATOR_PORT = 8765
# Seconds dg dev gets to stop on SIGTERM or Ctrl-C before its group is killed: within 5 s in all. In 10 of 10 measured
# stops it did not stop by itself within them and was killed, 3.8 to 4.2 s after the signal.
GRACE_SECONDS = 3.5
# The checkout this module runs from, when it is one (an editable install); is_dg_project() tells.
SOURCE_ROOT = Path(__file__).resolve().parents[2]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--port",
        type=port_number(1, "a port number from 1 to 65535"),
        default=DEFAULT_PORT,
        help=f"port of the UI (default {DEFAULT_PORT}); the alerts link to it unless HAIER_UI_URL is set",
    )


def dg_dev_command(port: int) -> list[str]:
    return [str(Path(sys.executable).with_name("dg")), "dev", "--host", UI_HOST, "--port", str(port)]


def is_dg_project(folder: Path) -> bool:
    try:
        with (folder / "pyproject.toml").open("rb") as file:
            return "dg" in tomllib.load(file).get("tool", {})
    except (OSError, tomllib.TOMLDecodeError):
        return False


def project_folder_problem(working_directory: Path) -> str | None:
    """dg dev serves the project of the working directory, and the UI's instance (DAGSTER_HOME) defaults to it: from
    anywhere else dg fails with a message about tool.dg.directory_type that does not say where to go."""
    if is_dg_project(working_directory):
        return None
    where = SOURCE_ROOT if is_dg_project(SOURCE_ROOT) else "the folder with its pyproject.toml and dagster.yaml"
    return f"{working_directory} is not the project folder: run it from the project folder ({where})."


def port_problem(host: str, port: int) -> str | None:
    """Whether dg dev could bind `port`: when it cannot, its webserver logs the error but the daemon keeps the
    command running, serving no UI, so the port is tried here first."""
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM) as probe:
        # As uvicorn does for the webserver, so a port a stopped UI left in TIME_WAIT counts as free.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as error:
            reason = "is already in use (another haier-pipeline ui or dg dev?)"
            if error.errno != errno.EADDRINUSE:
                reason = f"cannot be used ({error.strerror})"
            other = port + 1 if port < 65535 else port - 1
            return (
                f"port {port} on {host} {reason}. Stop that process, or choose another port: "
                f"haier-pipeline ui --port {other}"
            )
    return None


def stop_group(process: subprocess.Popen[bytes], first: int, grace: float = GRACE_SECONDS) -> int:
    """`first` to the whole group (dg dev shuts its webserver, daemon and code server down on it), then SIGKILL
    whatever is left of the group after `grace` seconds."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, first)
    try:
        code = process.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        code = -signal.SIGKILL
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    return code


def say(message: str) -> None:
    print(f"haier-pipeline ui: {message}", file=sys.stderr, flush=True)


def supervise(command: list[str], environment: dict[str, str]) -> int:
    """Run `command` in its own session (so it gets signals from us only, and its group can be stopped whole); a
    SIGTERM or SIGINT sent to us is passed to its whole group, which gets GRACE_SECONDS to stop before it is killed;
    a second one kills it at once.

    The handlers are installed before `command` starts: a process started with SIGINT ignored (a script's background
    job, `make ui &`) would hand that on, and Dagster maps SIGTERM to whatever SIGINT does, so dg dev and its daemon
    ignored both and were killed only after the grace period (22 s). A handler of ours is reset to the default in
    the child, whatever this process inherited."""
    received: list[int] = []

    def forward(signum: int, frame: FrameType | None) -> None:
        received.append(signum)

    previous = {sig: signal.signal(sig, forward) for sig in (signal.SIGTERM, signal.SIGINT)}

    def restore() -> None:
        for sig, handler in previous.items():
            signal.signal(sig, handler)

    try:
        process = subprocess.Popen(command, env=environment, start_new_session=True)
    except BaseException:
        restore()
        raise
    try:
        while True:
            try:
                code = process.wait(timeout=0.2)
                break
            except subprocess.TimeoutExpired:
                if received:
                    code = stop(process, received)
                    break
    finally:
        restore()
        # However dg dev ended (by itself, or an exception here), none of its children outlives this command.
        stop_group(process, signal.SIGTERM, grace=1.0)
    return 0 if received else code


def stop(process: subprocess.Popen[bytes], received: list[int]) -> int:
    """Stop dg dev's group on the first signal received, saying so, within GRACE_SECONDS."""
    name = signal.Signals(received[0]).name
    say(f"{name} received: stopping dg dev (the UI, the daemon and the code server)...")
    started = time.monotonic()
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, received[0])
    deadline = started + GRACE_SECONDS
    code: int | None = None
    while code is None and time.monotonic() < deadline and len(received) == 1:
        with contextlib.suppress(subprocess.TimeoutExpired):
            code = process.wait(timeout=0.1)
    leftover = [pid for pid in group_members(process.pid) if pid != process.pid]
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    if code is None:
        code = process.wait()
        why = "a second signal" if len(received) > 1 else f"still running after {GRACE_SECONDS:g} s"
        say(f"stopped in {time.monotonic() - started:.1f} s ({why}: killed)")
    else:
        extra = f"; {len(leftover)} leftover process(es) killed" if leftover else ""
        say(f"stopped in {time.monotonic() - started:.1f} s{extra}")
    return code


def group_members(pgid: int) -> list[int]:
    """The processes of process group `pgid` (Linux /proc; empty elsewhere)."""
    members = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError, IndexError, ValueError):
                # /proc/<pid>/stat: pid (comm) state ppid pgrp ...; comm may hold blanks, so read after its ')'.
                fields = (entry / "stat").read_text().rpartition(")")[2].split()
                if int(fields[2]) == pgid:
                    members.append(int(entry.name))
    return members


def ui_environment(port: int = DEFAULT_PORT) -> dict[str, str]:
    """dg dev's environment: this one with .env's variables, and DAGSTER_HOME absolute (a relative one from .env
    means the folder in the working directory; dg dev would refuse it), the project folder when unset. The alerts its
    daemon sends link to this UI (HAIER_UI_URL=http://127.0.0.1:<port>) unless HAIER_UI_URL says where it is."""
    load_dotenv_file()
    absolute_dagster_home()
    environment = dict(os.environ)
    environment.setdefault("DAGSTER_HOME", str(Path.cwd()))
    # As the settings read it: in any case, an empty value as unset.
    if not any(name.upper() == UI_URL_VARIABLE and value.strip() for name, value in environment.items()):
        environment[UI_URL_VARIABLE] = f"http://{UI_HOST}:{port}"
    return environment


def ui_home(home: Path, environment: dict[str, str]) -> Path:
    """The DAGSTER_HOME `dg dev` gets: the instance that records the runs of the configured warehouse. A warehouse URL
    that cannot be read is left to the code location, whose load error names it."""
    try:
        label = warehouse_label(environment.get("HAIER_WAREHOUSE_URL") or DEFAULT_WAREHOUSE_URL)
    except WarehouseConfigError:
        with load_instance(home):
            return home
    chosen = home_for_warehouse(home, label, say)
    if chosen != home:
        say(f"DAGSTER_HOME={chosen}")
    return chosen


def run(args: argparse.Namespace) -> int:
    # Imported here: the simulator's web server (starlette, uvicorn) would cost every other command's start-up.
    from haier_pipeline.simulator import SimulatorConfig, start_simulator

    # Both checked before the simulator and dg dev start, so a refusal leaves nothing running.
    problem = project_folder_problem(Path.cwd()) or port_problem(UI_HOST, args.port)
    if problem:
        print(f"haier-pipeline ui: {problem}", file=sys.stderr)
        return EXIT_CONFIG
    environment = ui_environment(args.port)
    home = Path(environment["DAGSTER_HOME"])
    instance_folder(home)
    # Created here, under the lock a sync starting at the same moment takes too; the instance of the configured
    # warehouse (this one's, or that warehouse's own beside it: the UI never shows one warehouse's runs as another's).
    environment["DAGSTER_HOME"] = str(ui_home(home, environment))
    simulator = None
    if not environment.get("HAIER_BASE_URL"):
        config = SimulatorConfig(latency_ms=30, latency_jitter_ms=6, rate_limit=100)
        try:
            simulator = start_simulator(config, port=SIMULATOR_PORT)
        except OSError:  # the port is taken (another simulator?): any free one will do
            simulator = start_simulator(config, port=0)
        environment.update(simulator_environment(simulator.base_url, config))
        print(f"HAIER_BASE_URL is not set: the UI runs against the simulator at {simulator.base_url}", flush=True)
    try:
        return supervise(dg_dev_command(args.port), environment)
    finally:
        if simulator is not None:
            simulator.stop()
