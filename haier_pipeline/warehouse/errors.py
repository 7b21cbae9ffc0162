"""Errors raised by the warehouse layer."""

from __future__ import annotations

ENV_VAR = "HAIER_WAREHOUSE_URL"  # named by every warehouse error that is the setting's fault


class WarehouseError(Exception):
    """Base class: anything the warehouse layer refuses or cannot do."""


class WarehouseConfigError(WarehouseError, ValueError):
    """HAIER_WAREHOUSE_URL is missing or malformed (the CLI maps this to exit code 2)."""


class WarehouseUnavailableError(WarehouseError):
    """Nobody answered where the warehouse should be (Postgres down, restarting, unreachable): an operational failure
    (exit 1), not a setting to fix. Its message starts with UNAVAILABLE and says what to check."""


UNAVAILABLE = "the warehouse did not answer"


class WarehouseLockTimeout(WarehouseError, TimeoutError):
    """Another process kept the DuckDB file locked for longer than we were willing to wait."""


class WarehouseStorageError(WarehouseError):
    """The database could not store a transaction: its disk is full, read-only or failing. Nothing to wait out, and
    nothing the sync got wrong: the disk needs attention, then the same command succeeds."""


# The operating system's storage failures as the databases quote them (strerror; SQLite, which keeps the Dagster
# instance, words a full disk its own way), what each means for the disk being written, and the way out.
_STORAGE_FAULTS = (
    ("No space left on device", "its disk is full", "free space on that disk"),
    ("database or disk is full", "its disk is full", "free space on that disk"),
    ("Disk quota exceeded", "the disk quota of the user it writes as is used up", "free space or raise the quota"),
    ("Read-only file system", "its file system is mounted read-only", "remount that file system read-write"),
    ("Input/output error", "its disk reported an input/output error", "check that disk (`dmesg` names it)"),
    ("disk I/O error", "its disk failed a write (usually: it is full)", "free space on that disk, or check it"),
)


def storage_fault(error: BaseException) -> tuple[str, str] | None:
    """(what it means, what to do) when `error` quotes a storage failure of the operating system, else None: the
    disk's problem, not the data's."""
    lowered = str(error).lower()
    return next(((meaning, fix) for quoted, meaning, fix in _STORAGE_FAULTS if quoted.lower() in lowered), None)


def storage_error(where: str, error: BaseException) -> WarehouseStorageError | None:
    """`error` as a WarehouseStorageError when it is a storage failure (`storage_fault`), else None. `where` names
    the database and where it lives: its file, or its server."""
    fault = storage_fault(error)
    if fault is None:
        return None
    meaning, fix = fault
    return WarehouseStorageError(
        f"the warehouse {where} could not store a transaction: {meaning} ({' '.join(str(error).split())}). Nothing "
        f"of that transaction was written. {fix.capitalize()} (or point {ENV_VAR} elsewhere), then run the command "
        "again: a sync asks only the stock pairs it has not stored today."
    )


DATA_RIGHTS = ("SELECT", "INSERT", "UPDATE", "DELETE")


def data_grants(role: str, owner: str, schema: str) -> list[str]:
    """What a Postgres role that reads and writes the warehouse's tables, and nothing more, needs: data rights on
    every table, and (run as the tables' owner) on the tables later upgrades create."""
    rights = ", ".join(DATA_RIGHTS)
    return [
        f'GRANT {rights} ON ALL TABLES IN SCHEMA "{schema}" TO "{role}"',
        f'ALTER DEFAULT PRIVILEGES FOR ROLE "{owner}" IN SCHEMA "{schema}" GRANT {rights} ON TABLES TO "{role}"',
    ]


def data_grants_advice(role: str, owner: str, schema: str, who: str) -> str:
    """The sentence that tells `who` (the tables' owner, in words) how to give `role` its data rights."""
    grants = data_grants(role, owner, schema)
    return f"As {who}, run `{grants[0]}`, and `{grants[1]}` so that the tables later upgrades create are covered too"


def owner_upgrade_advice(role: str, owners: list[str], schema: str) -> str:
    """Least privilege (deploy/README.md): the warehouse's owner runs each upgrade, the pipeline's role keeps data
    rights only."""
    owner = owners[0] if owners else "<owner>"
    named = " or ".join(f"'{name}'" for name in owners) or "the schema's owner"
    grants = data_grants(role, owner, schema)
    return (
        f"The warehouse's owner runs each upgrade (deploy/README.md): run one `haier-pipeline sync` with {ENV_VAR} "
        f"naming the owner ({named}), then give '{role}' its data rights on the tables the upgrade created "
        f"(`{grants[0]}`; `{grants[1]}` covers those of later upgrades), and run `haier-pipeline check` again as "
        f"'{role}'; or set {ENV_VAR} to the owner's role"
    )
