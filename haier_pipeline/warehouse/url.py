"""Parsing of HAIER_WAREHOUSE_URL into something a backend can open."""

from __future__ import annotations

import difflib
import os
import re
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from haier_pipeline.warehouse.errors import ENV_VAR, WarehouseConfigError

ACCEPTED_FORMS = (
    "duckdb:///data/warehouse.duckdb (a DuckDB file, relative to the current directory; "
    "duckdb:////abs/path/warehouse.duckdb for an absolute path)",
    "postgresql://user:password@host:5432/database",
)

PERCENT_ENCODE_HINT = (
    "Percent-encode special characters in the password (and user): / as %2F, @ as %40, # as %23, ? as %3F, "
    "% as %25 (an @ in an option value as %40 too)."
)

# Every spelling SQLAlchemy users tend to paste; all of them are served by psycopg 3.
_POSTGRES_SCHEMES = ("postgresql", "postgres", "postgresql+psycopg", "postgresql+psycopg2")

# A string that is one URL (a setting's value): the password runs from `://user:` to the LAST `@`, blanks included,
# so an unencoded `/`, `?`, `#`, `@` or space in it is masked whole.
_WHOLE_URL_PASSWORD = re.compile(r"\A([A-Za-z][A-Za-z0-9+.-]*://[^:\n]*:)(.*)(@)", re.DOTALL)
# A URL whose scheme lost a slash or its colon (postgresql:/u:pw@h, postgresql//u:pw@h): the same, to the LAST `@`.
_SCHEMELESS_PASSWORD = re.compile(r"\A([A-Za-z][A-Za-z0-9+.-]*:?/*[^:/\n]*:)(.*)(@)", re.DOTALL)
# A URL inside free text (an error message) ends at a blank.
_TEXT_URL_PASSWORD = re.compile(r"(://[^\s:]*:)(\S*)(@)")
# `?password=…`, `&sslpassword=…`, `token=…`, libpq's `password=…` keyword form: any parameter whose name says secret.
# The value runs to the next `&` or blank: an unencoded `#` does not end it.
_SECRET_PARAMETER = re.compile(r"(?i)(\b[\w.-]*(?:password|passwd|pwd|secret|token|key)\s*=\s*)('[^']*'|[^\s&;]+)")


def mask_url(url: str) -> str:
    """The URL with every password-like part (userinfo, secret query parameters) replaced by ***: the one masking
    function for every URL shown to a person (errors, `check`, reprs, the UI). When in doubt it masks too much: a
    password may hold any character, a host or port never holds a secret."""
    if "\n" not in url and _WHOLE_URL_PASSWORD.match(url):
        masked = _WHOLE_URL_PASSWORD.sub(r"\1***\3", url, count=1)
    else:
        masked = _TEXT_URL_PASSWORD.sub(r"\1***\3", url)
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


def _error(url: str, problem: str, hint: str = "") -> WarehouseConfigError:
    forms = "\n".join(f"  {form}" for form in ACCEPTED_FORMS)
    hint = f" {hint.rstrip('.')}." if hint else ""
    shown = mask_url(url)
    if "://" not in shown:
        # A scheme a slash short (postgresql:/u:pw@h) or without its colon (postgresql//u:pw@h) escapes mask_url's
        # patterns: as there, the password runs from the user's colon to the LAST @ (an unencoded @ is part of it).
        masked = _SCHEMELESS_PASSWORD.sub(r"\1***\3", shown, count=1)
        shown = masked if masked != shown else re.sub(r":[^:@]*@", ":***@", shown)
    return WarehouseConfigError(f"{ENV_VAR} is malformed ({problem}): {shown!r}.{hint} Use one of:\n{forms}")


def parse_warehouse_url(url: str, cwd: Path | None = None, *, allow_memory: bool = False) -> WarehouseURL:
    """Parse a warehouse URL; relative DuckDB paths are resolved against `cwd` (default: now). `allow_memory` lets
    code that keeps its Warehouse for as long as it needs the data (tests, one process) use duckdb:///:memory:; a
    configured URL never may."""
    if not isinstance(url, str) or not url.strip():
        raise _error(str(url or ""), "empty")
    url = url.strip()
    if mistake := _scheme_mistake(url):
        raise _error(url, *mistake)
    scheme, _, rest = url.partition("://")
    scheme = scheme.lower()
    if scheme == "duckdb":
        return _parse_duckdb(url, rest, cwd, allow_memory)
    if scheme in _POSTGRES_SCHEMES:
        return _parse_postgres(url, rest)
    raise _error(url, f"unsupported scheme {scheme!r}")


def _scheme_mistake(url: str) -> tuple[str, str] | None:
    """(the problem, how to write it) for the mistakes people make before the path: quotes kept around the value, a
    slash short (`duckdb:/x.db`, `duckdb:x.db`), the colon missing (`duckdb//x.db`), a misspelt scheme
    (`postgress://`), a file path without the scheme, a JDBC URL, an async driver."""
    if len(url) >= 2 and url[0] == url[-1] and url[0] in "'\"":
        return "it is quoted", f"Remove the quotes: {mask_url(url[1:-1])}"
    scheme, sep, rest = url.partition("://")
    lowered = scheme.lower()
    if sep and lowered.startswith("jdbc:"):
        return "a JDBC URL", f"Drop the jdbc: prefix: {mask_url(url[5:])}"
    if sep and lowered.startswith("postgresql+") and lowered not in _POSTGRES_SCHEMES:
        return f"driver {lowered.partition('+')[2]!r} is not used here", f"Write {mask_url('postgresql://' + rest)}"
    if sep and lowered != "duckdb" and lowered not in _POSTGRES_SCHEMES:
        # A misspelt scheme (postgress://, duckbd://): the URL to write; another database's is refused as unsupported.
        close = difflib.get_close_matches(lowered, ("duckdb", *_POSTGRES_SCHEMES), n=1, cutoff=0.75)
        if not close:
            return None
        meant = "duckdb" if close[0] == "duckdb" else "postgresql"
        fixed = f"duckdb:///{rest}" if meant == "duckdb" and not rest.startswith("/") else f"{meant}://{rest}"
        return f"unsupported scheme {lowered!r}: did you mean {meant}?", f"Write {mask_url(fixed)}"
    if sep:
        return None
    colonless = re.match(r"(?i)\A(duckdb|postgres(?:ql)?(?:\+psycopg2?)?)(//+)(.*)", url)
    if colonless:
        # duckdb//x.db: the scheme without its colon, not a file path in a folder called duckdb.
        name, slashes, path = colonless.group(1).lower(), colonless.group(2), colonless.group(3)
        if name != "duckdb":
            return "the colon is missing: the scheme ends with ://", f"Write {mask_url(f'{name}:{slashes}{path}')}"
        if slashes == "//":
            slashes = "///"  # duckdb:// then a host is no DuckDB URL: the path was meant
        where = "relative to the current folder" if slashes == "///" else "an absolute path"
        return "the colon is missing: the scheme ends with ://", f"Write duckdb:{slashes}{path} ({where})"
    short = re.match(r"(?i)\A(duckdb|postgres(?:ql)?(?:\+psycopg2?)?):(/{0,2})(?!/)(.*)", url)
    if short:
        name, slashes, path = short.group(1).lower(), short.group(2), short.group(3)
        if name != "duckdb":
            return "a slash short: the scheme ends with ://", f"Write {mask_url(f'{name}://{path}')}"
        if slashes == "/":
            return (
                "a slash short: duckdb:/ is not a DuckDB URL",
                f"Write duckdb:///{path} for {path} in the current folder, or duckdb:////{path} for /{path}",
            )
        return "a slash short: the scheme ends with ://", f"Write duckdb:///{path} (relative to the current folder)"
    if re.search(r"(?i)\.(duckdb|db)\Z", url) and "://" not in url:
        # duckdb:/// then the path: relative as it is, absolute with its own leading slash (four in all).
        return "no scheme: a file path", f"Write a DuckDB file as duckdb:///{url}"
    return "no scheme", ""


def _parse_duckdb(url: str, rest: str, cwd: Path | None, allow_memory: bool) -> WarehouseURL:
    # Same convention as SQLAlchemy: three slashes then a relative path, four for an absolute one.
    if not rest.startswith("/"):
        raise _error(
            url,
            "a DuckDB URL has no host",
            f"Write duckdb:///{rest} for {rest} in the current folder (three slashes), duckdb:////abs/path for an "
            "absolute one.",
        )
    path_text = rest[1:]
    if path_text.startswith("~"):
        home = os.path.expanduser(path_text.split("/", 1)[0])
        raise _error(
            url,
            "~ is not expanded in a URL",
            f"Write the absolute path: duckdb:///{os.path.expanduser(path_text)}"
            if home != path_text.split("/", 1)[0]
            else "Write the absolute path.",
        )
    if not path_text or path_text.endswith("/"):
        raise _error(url, "no database file")
    if "?" in path_text or "#" in path_text:
        raise _error(url, "DuckDB URLs take no options")
    if path_text == ":memory:":
        if not allow_memory:
            # Each step, and each command, opens its own connection: an in-memory database would vanish with it,
            # so a sync would report success and keep nothing.
            raise WarehouseConfigError(
                f"{ENV_VAR}={url!r} is an in-memory database, which keeps nothing between the steps of a sync: give "
                "a file path, such as duckdb:///data/warehouse.duckdb (a relative path) or duckdb:////abs/path/warehouse.duckdb"
            )
        return WarehouseURL(backend="duckdb", display=url)
    path = Path(path_text)
    if not path.is_absolute():
        path = (cwd or Path.cwd()) / path
    # normpath, not resolve(): the file may not exist yet and symlinked data dirs should stay as named.
    return WarehouseURL(backend="duckdb", display=url, path=Path(os.path.normpath(path)))


def _parse_postgres(url: str, rest: str) -> WarehouseURL:
    # The user and password end at the last `@`: urlsplit ends them at the first `/`, `?` or `#` and libpq at the
    # first `@`, so a raw special character in a password would put part of it in the host, port or database we
    # name in messages. Refused here, before anything is shown or connected. The parsers' own reasons are never
    # shown either: they quote the text they choked on, which may be part of the password.
    userinfo, at, _ = rest.rpartition("@")
    if at and any(character in userinfo for character in "/?#@"):
        raise _error(url, "a character in the user or password is not percent-encoded", PERCENT_ENCODE_HINT)
    conninfo = "postgresql://" + rest
    try:
        parts = urlsplit(conninfo)
        port = parts.port or 5432
    except ValueError:
        raise _error(url, "the host or port is not valid: write host:port, the port a number from 1 to 65535") from None
    if parts.fragment or conninfo.endswith("#"):
        raise _error(url, "a '#' is not allowed", PERCENT_ENCODE_HINT)
    database = unquote(parts.path.lstrip("/"))
    if "/" in database:
        raise _error(url, "the path must be a single database name")
    _check_options(url, parts.query)
    # libpq lets `?host=`, `?port=` and `?dbname=` override the URL's parts: name the server it will reach.
    read = _check_libpq_accepts(url, conninfo)
    return WarehouseURL(
        backend="postgres",
        display=mask_url(url),
        conninfo=conninfo,
        host=read.get("host") or parts.hostname or "localhost",
        port=int(read["port"]) if str(read.get("port") or "").isdigit() else port,
        database=read.get("dbname") or database or (unquote(parts.username or "") or "postgres"),
    )


@cache
def _libpq_options() -> frozenset[str]:
    from psycopg import pq

    return frozenset(option.keyword.decode() for option in pq.Conninfo.get_defaults())


def _check_options(url: str, query: str) -> None:
    """libpq refuses a query parameter it does not know (psycopg raises it on every connect, as a traceback)."""
    if not query:
        return
    names = [unquote(item.partition("=")[0]) for item in query.split("&") if item]
    unknown = [name for name in dict.fromkeys(names) if name not in _libpq_options()]
    if not unknown:
        return
    # Only the names are shown: the value of an unknown option might be a secret mask_url does not recognise.
    shown = ", ".join(repr(name) for name in unknown)
    masked = mask_url(url).partition("?")[0] + "?" + "&".join(f"{name}=***" for name in names)
    raise WarehouseConfigError(
        f"{ENV_VAR} has {'an unknown connection option' if len(unknown) == 1 else 'unknown connection options'} "
        f"{shown} ({masked}): remove it, or use one of libpq's options (e.g. sslmode, connect_timeout, "
        "application_name, options); see https://www.postgresql.org/docs/current/libpq-connect.html#LIBPQ-PARAMKEYWORDS"
    )


def _check_libpq_accepts(url: str, conninfo: str) -> dict[str, Any]:
    """The connection parameters as libpq reads them."""
    import psycopg
    from psycopg.conninfo import conninfo_to_dict

    try:
        return conninfo_to_dict(conninfo)
    except psycopg.ProgrammingError:
        # libpq's message quotes the text it refused, e.g. a bad %-escape inside the password: not shown.
        raise _error(
            url, "libpq cannot read it, e.g. a '%' not followed by two hex digits", PERCENT_ENCODE_HINT
        ) from None


def warehouse_label(url: str, schema: str = "haier") -> str:
    """What names a warehouse to a person and to the Dagster instance that records its runs (the `haier/warehouse` run
    tag): the DuckDB file's absolute path, or Postgres's host, port and database, plus the schema when it is not
    `haier`. No user and no password: the same database reached as its owner or as the pipeline's role is one
    warehouse. Passed through mask_url all the same."""
    parsed = parse_warehouse_url(url, allow_memory=True)
    if parsed.backend == "duckdb":
        where = f"duckdb:///{parsed.path}" if parsed.path is not None else "duckdb:///:memory:"
    else:
        where = f"postgresql://{parsed.host}:{parsed.port}/{parsed.database}"
    return mask_url(where + (f" (schema {schema})" if schema != "haier" else ""))
