"""Whether the configured warehouse can be used before a run starts: a DuckDB file's folder writable and the file
not taken, a Postgres server answering and taking the login. Each problem is named with its fix; one that passes soon
(a server restarting) is told from one the user must fix."""

from __future__ import annotations

import tempfile
from pathlib import Path

import psycopg

from haier_pipeline.warehouse import locking
from haier_pipeline.warehouse.errors import ENV_VAR, WarehouseConfigError, WarehouseError
from haier_pipeline.warehouse.postgres_backend import connection_problem
from haier_pipeline.warehouse.url import WarehouseURL, parse_warehouse_url


def reachability_problem(url: str, timeout: float = 5.0) -> str | None:
    """Why a sync could not open the warehouse, named for the operator; None when it can. A DuckDB file need not
    exist yet (the first sync creates it), but its folder must be creatable, and an existing one writable."""
    error = reachability_error(url, timeout)
    return None if error is None else str(error)


def reachability_error(url: str, timeout: float = 5.0) -> WarehouseError | None:
    """`reachability_problem` as the error it is: a WarehouseConfigError for what the user must fix (exit 2), a
    WarehouseUnavailableError when nobody answered (exit 1: Postgres down or restarting)."""
    try:
        parsed = parse_warehouse_url(url)
    except WarehouseConfigError as error:
        return error
    if parsed.backend == "duckdb":
        problem = None if parsed.path is None else _duckdb_path_problem(parsed.path)
        return None if problem is None else WarehouseConfigError(problem)
    return _postgres_problem(parsed, timeout)


# The default file of earlier versions, whose catalog name clashed with the schema `haier`.
EARLIER_DEFAULT_NAME = "haier.duckdb"


def _duckdb_path_problem(path: Path) -> str | None:
    if path.is_dir():
        return f"{ENV_VAR}: {path} is a folder; name a file in it, e.g. duckdb:///{path}/warehouse.duckdb"
    if path.exists():
        return _existing_file_problem(path)
    earlier = path.with_name(EARLIER_DEFAULT_NAME)
    if path.name == "warehouse.duckdb" and earlier.is_file():
        # A sync would start an empty warehouse beside the user's history: first-seen dates, price versions and
        # stock days split across two files.
        return (
            f"{ENV_VAR}: {path} does not exist, but {earlier}, the default warehouse of earlier versions, does. "
            f"Rename it while no sync or UI runs: mv {earlier} {path} (and {earlier}.wal if present; the next "
            f"sync adds what its tables lack), or keep it: {ENV_VAR}=duckdb:///{earlier}"
        )
    folder = path.parent
    while not folder.exists():
        folder = folder.parent
    problem = f"{ENV_VAR}: cannot create {path}: {folder} is not a writable folder; choose another path"
    if not folder.is_dir():
        return problem
    return None if (reason := _folder_unwritable(folder)) is None else f"{problem} ({reason})"


def _folder_unwritable(folder: Path) -> str | None:
    # Trying is the only honest test: root passes os.access everywhere, and /proc or a read-only mount refuse.
    try:
        with tempfile.TemporaryFile(dir=folder):
            return None
    except OSError as error:
        return error.strerror or str(error)


def _existing_file_problem(path: Path) -> str | None:
    # Opened for update, not written: what DuckDB needs to attach the file for a sync.
    try:
        with path.open("r+b"):
            pass
    except OSError as error:
        return (
            f"{ENV_VAR}: the DuckDB warehouse {path} cannot be opened for writing ({error.strerror}); "
            f"{locking.unwritable_fix(path, path)}"
        )
    # Next to the file DuckDB writes its journal (<file>.wal) and we write our lock (<file>.lock).
    if (reason := _folder_unwritable(path.parent)) is not None:
        return (
            f"{ENV_VAR}: the folder of the DuckDB warehouse {path} is not writable ({reason}); DuckDB writes "
            f"{path.name}.wal and {path.name}.lock next to it: {locking.unwritable_fix(path, path.parent)}"
        )
    return None


def _postgres_problem(parsed: WarehouseURL, timeout: float) -> WarehouseError | None:
    try:
        with psycopg.connect(parsed.conninfo, connect_timeout=max(1, int(timeout))):
            return None
    except psycopg.OperationalError as error:
        return connection_problem(parsed, error)
