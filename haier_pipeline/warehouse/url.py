"""Parsing of HAIER_WAREHOUSE_URL into something a backend can open."""

from __future__ import annotations

import os
import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote, urlsplit

from haier_pipeline.warehouse.errors import WarehouseConfigError

ENV_VAR = "HAIER_WAREHOUSE_URL"
DEFAULT_URL = "duckdb:///data/warehouse.duckdb"

ACCEPTED_FORMS = (
    "duckdb:///data/warehouse.duckdb (a DuckDB file, relative to the current directory; "
    "duckdb:////abs/path/warehouse.duckdb for an absolute path)",
    "postgresql://user:password@host:5432/database",
)

# Every spelling SQLAlchemy users tend to paste; all of them are served by psycopg 3.
_POSTGRES_SCHEMES = ("postgresql", "postgres", "postgresql+psycopg", "postgresql+psycopg2")

_USERINFO_PASSWORD = re.compile(r"(://[^/@:?#]*:)([^@/?#]*)(@)")
# `?password=…`, `&sslpassword=…`, `token=…`, libpq's `password=…` keyword form: any parameter whose name says secret.
_SECRET_PARAMETER = re.compile(r"(?i)(\b[\w.-]*(?:password|passwd|pwd|secret|token|key)\s*=\s*)('[^']*'|[^\s&;#]+)")


def mask_url(url: str) -> str:
    """The URL with every password-like part (userinfo, secret query parameters) replaced by ***: the one masking
    function for every URL shown to a person (errors, `check`, reprs, the UI)."""
    masked = _USERINFO_PASSWORD.sub(r"\1***\3", url)
    return _SECRET_PARAMETER.sub(r"\1***", masked)


@dataclass(frozen=True)
class WarehouseURL:
    """A parsed warehouse URL. `conninfo` may hold a password, so it is kept out of repr."""

    backend: str  # "duckdb" or "postgres"
    display: str  # the URL as given, password masked
    path: Path | None = None  # DuckDB file (absolute); None for :memory:
    conninfo: str = field(default="", repr=False)
    host: str = ""
    port: int = 5432
    database: str = ""

    @property
    def in_memory(self) -> bool:
        return self.backend == "duckdb" and self.path is None


def _error(url: str, problem: str) -> WarehouseConfigError:
    forms = "\n".join(f"  {form}" for form in ACCEPTED_FORMS)
    return WarehouseConfigError(f"{ENV_VAR} is malformed ({problem}): {mask_url(url)!r}. Use one of:\n{forms}")


def parse_warehouse_url(url: str, cwd: Path | None = None) -> WarehouseURL:
    """Parse a warehouse URL; relative DuckDB paths are resolved against `cwd` (default: now)."""
    if not isinstance(url, str) or not url.strip():
        raise _error(str(url or ""), "empty")
    url = url.strip()
    scheme, sep, rest = url.partition("://")
    if not sep:
        raise _error(url, "no scheme")
    scheme = scheme.lower()
    if scheme == "duckdb":
        return _parse_duckdb(url, rest, cwd)
    if scheme in _POSTGRES_SCHEMES:
        return _parse_postgres(url, rest)
    raise _error(url, f"unsupported scheme {scheme!r}")


def _parse_duckdb(url: str, rest: str, cwd: Path | None) -> WarehouseURL:
    # Same convention as SQLAlchemy: three slashes then a relative path, four for an absolute one.
    if not rest.startswith("/"):
        raise _error(url, "a DuckDB URL has no host: write duckdb:///relative/path.duckdb")
    path_text = rest[1:]
    if not path_text or path_text.endswith("/"):
        raise _error(url, "no database file")
    if "?" in path_text or "#" in path_text:
        raise _error(url, "DuckDB URLs take no options")
    if path_text == ":memory:":
        return WarehouseURL(backend="duckdb", display=url)
    path = Path(path_text)
    if not path.is_absolute():
        path = (cwd or Path.cwd()) / path
    # normpath, not resolve(): the file may not exist yet and symlinked data dirs should stay as named.
    return WarehouseURL(backend="duckdb", display=url, path=Path(os.path.normpath(path)))


def _parse_postgres(url: str, rest: str) -> WarehouseURL:
    conninfo = "postgresql://" + rest
    try:
        parts = urlsplit(conninfo)
        port = parts.port or 5432
    except ValueError as exc:
        raise _error(url, str(exc).replace(rest, mask_url(rest))) from None
    database = unquote(parts.path.lstrip("/"))
    if "/" in database:
        raise _error(url, "the path must be a single database name")
    host = parts.hostname or "localhost"
    return WarehouseURL(
        backend="postgres",
        display=mask_url(url),
        conninfo=conninfo,
        host=host,
        port=port,
        database=database or (unquote(parts.username or "") or "postgres"),
    )


def reachability_problem(url: str, timeout: float = 5.0) -> str | None:
    """Why a sync could not open the warehouse, named for the operator; None when it can. A DuckDB file need not
    exist yet (the first sync creates it), but its folder must be creatable."""
    try:
        parsed = parse_warehouse_url(url)
    except WarehouseConfigError as error:
        return str(error)
    if parsed.backend == "duckdb":
        return None if parsed.path is None else _duckdb_path_problem(parsed.path)
    return _postgres_problem(parsed, timeout)


def _duckdb_path_problem(path: Path) -> str | None:
    if path.is_dir():
        return f"{ENV_VAR}: {path} is a folder; name a file in it, e.g. duckdb:///{path}/warehouse.duckdb"
    folder = path.parent
    while not folder.exists():
        folder = folder.parent
    problem = f"{ENV_VAR}: cannot create {path}: {folder} is not a writable folder; choose another path"
    if not folder.is_dir():
        return problem
    # Trying is the only honest test: root passes os.access everywhere, and /proc or a read-only mount refuse.
    try:
        with tempfile.TemporaryFile(dir=folder):
            return None
    except OSError as error:
        return f"{problem} ({error.strerror})"


def _postgres_problem(parsed: WarehouseURL, timeout: float) -> str | None:
    import psycopg

    where = f"{parsed.host}:{parsed.port}"
    try:
        with psycopg.connect(parsed.conninfo, connect_timeout=max(1, int(timeout))):
            return None
    except psycopg.OperationalError as error:
        text = mask_url(" ".join(str(error).split()))
    if "does not exist" in text and "database" in text:
        return (
            f"{ENV_VAR}: database {parsed.database!r} does not exist on {where}: create it "
            f"(`createdb -h {parsed.host} -p {parsed.port} {parsed.database}`) or fix the URL ({parsed.display})"
        )
    if "password" in text or "authentication" in text:
        return f"{ENV_VAR}: {where} refused the login ({text}); check the user and password in the URL"
    return (
        f"{ENV_VAR}: no Postgres answers at {where} ({text}); start it, or fix the host and port in "
        f"the URL ({parsed.display})"
    )
