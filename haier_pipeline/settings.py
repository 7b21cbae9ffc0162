"""The one configuration model: read from the environment and `.env`, used by the CLI and by the Dagster
resources alike. Defaults live here and nowhere else.

Every problem is collected before anything fails (pydantic validates every field even when one is bad), so an
operator fixes the whole configuration in one pass instead of one variable per attempt.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Mapping
from contextvars import ContextVar
from pathlib import Path
from typing import Annotated, Any, Literal

from dotenv import load_dotenv
from pydantic import Field, SecretStr, ValidationError, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from haier_pipeline.haier.errors import HaierConfigurationError
from haier_pipeline.haier.urls import insecure_http_problems
from haier_pipeline.warehouse.errors import WarehouseConfigError
from haier_pipeline.warehouse.url import mask_url, parse_warehouse_url

PREFIX = "HAIER_"
DEFAULT_WAREHOUSE_URL = "duckdb:///data/warehouse.duckdb"
DEFAULT_COUNTIES_FILE = "data/counties.csv"
DEFAULT_ORDERS_FILE = "data/orders.csv"
COUNTY_CODE = re.compile(r"^\d{6}$")
SECRET_FIELDS = ("client_secret", "password", "seller_password", "customer_password")
CREDENTIAL_FIELDS = ("base_url", "client_id", "client_secret", "customer_code", "password")
COUNTIES_HINT = "set HAIER_COUNTY_CODES=110101,310104 or create the file with a county_code column"

# The Dagster code location loads without credentials (its secrets are EnvVars, resolved when a run starts) and
# reads the counties when a run starts (an edited counties.csv counts without a reload); the command line needs both
# now. Validators read this to know which of the two is validating.
_require_credentials: ContextVar[bool] = ContextVar("require_credentials", default=True)


def variable(field_name: str) -> str:
    return PREFIX + field_name.upper()


class Settings(BaseSettings):
    """HAIER_* variables (a `.env` in the working directory is read too; real variables win)."""

    model_config = SettingsConfigDict(
        env_prefix=PREFIX,
        env_file=".env",
        env_file_encoding="utf-8",
        env_ignore_empty=True,
        extra="ignore",
        frozen=True,
        str_strip_whitespace=True,
    )

    # Declared before the URLs: their validators read it.
    allow_insecure_http: bool = False
    base_url: str | None = Field(None, validate_default=True)
    token_url: str | None = None
    client_id: str | None = Field(None, validate_default=True)
    client_secret: SecretStr | None = Field(None, validate_default=True)
    customer_code: str | None = Field(None, validate_default=True)
    send_to_code: str | None = None
    supplier_code: str = "1001"
    password: SecretStr | None = Field(None, validate_default=True)
    seller_password: SecretStr | None = None
    customer_password: SecretStr | None = None
    auth_scheme: Literal["bare", "bearer"] = "bare"
    county_codes: Annotated[tuple[str, ...], NoDecode] = Field((), validate_default=True)
    orders_file: str = DEFAULT_ORDERS_FILE
    rate_limit: float = Field(100.0, gt=0, le=10_000)
    timeout: float = Field(30.0, gt=0, le=600)
    warehouse_url: str = DEFAULT_WAREHOUSE_URL
    warehouse_lock_timeout: float = Field(60.0, ge=0, le=86_400)
    max_deactivate_ratio: float = Field(0.2, ge=0, le=1)
    max_rejected_ratio: float = Field(0.1, ge=0, le=1)
    stock_cache_ttl: float = Field(300.0, ge=0, le=86_400 * 7)
    stock_call_budget: int | None = Field(None, gt=0)
    stock_deadline: float | None = Field(None, gt=0)

    # ---- validation ---------------------------------------------------------------------------------

    @field_validator(*CREDENTIAL_FIELDS)
    @classmethod
    def _required(cls, value: Any, info: ValidationInfo) -> Any:
        if value is None and _require_credentials.get():
            raise ValueError("is not set")
        return value

    @field_validator("base_url", "token_url")
    @classmethod
    def _http_url(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is None:
            return None
        if not re.match(r"^https?://[^/\s]+", value):
            raise ValueError(f"{mask_url(value)!r} is not an http(s) URL")
        base, token = (value, None) if info.field_name == "base_url" else (None, value)
        if problems := insecure_http_problems(base, token, bool(info.data.get("allow_insecure_http"))):
            raise ValueError("; ".join(problems))
        return value.rstrip("/")

    @field_validator("auth_scheme", mode="before")
    @classmethod
    def _lower(cls, value: Any) -> Any:
        return value.lower() if isinstance(value, str) else value

    @field_validator("county_codes", mode="before")
    @classmethod
    def _counties(cls, value: Any) -> tuple[str, ...]:
        raw = ",".join(value) if isinstance(value, tuple | list) else str(value or "")
        if not raw and not _require_credentials.get():
            return ()
        return parse_county_codes(raw)

    @field_validator("warehouse_url")
    @classmethod
    def _warehouse(cls, value: str) -> str:
        try:
            parse_warehouse_url(value)
        except WarehouseConfigError as error:
            raise ValueError(str(error).removeprefix("HAIER_WAREHOUSE_URL ")) from None
        return value

    def __repr_args__(self):  # type: ignore[override]
        # A Postgres URL may carry a password; pydantic builds both repr() and str() from this.
        for name, value in super().__repr_args__():
            yield name, (mask_url(value) if isinstance(value, str) else value)

    # ---- derived values -----------------------------------------------------------------------------

    def secret(self, name: str) -> str:
        """A secret's value; the optional passwords default to HAIER_PASSWORD."""
        value: SecretStr | None = getattr(self, name)
        if value is None and name in ("seller_password", "customer_password"):
            value = self.password
        return value.get_secret_value() if value is not None else ""

    @property
    def resolved_token_url(self) -> str:
        return self.token_url or (f"{self.base_url}/oauth2/auth" if self.base_url else "")

    @property
    def resolved_send_to_code(self) -> str:
        return self.send_to_code or self.customer_code or ""

    def secrets(self) -> list[str]:
        return [self.secret(name) for name in SECRET_FIELDS if self.secret(name)]

    def masked(self) -> dict[str, str]:
        """The configuration as an operator may see it: secrets by their length only, URLs without passwords."""
        shown: dict[str, str] = {}
        for name in type(self).model_fields:
            value = getattr(self, name)
            if name in SECRET_FIELDS:
                secret = self.secret(name)
                shown[name] = f"****** ({len(secret)} chars)" if secret else "(not set)"
            elif name == "token_url":
                shown[name] = mask_url(self.resolved_token_url)
            elif name == "send_to_code":
                shown[name] = self.resolved_send_to_code
            elif isinstance(value, tuple):
                shown[name] = ",".join(value)
            elif isinstance(value, str):
                shown[name] = mask_url(value)
            else:
                shown[name] = "(not set)" if value is None else str(value)
        return shown


def load_dotenv_file(directory: Path | None = None) -> None:
    """Put `.env` into os.environ (real variables win): Dagster's EnvVar resources read the process environment."""
    load_dotenv((directory or Path.cwd()) / ".env", override=False)


def load_settings(environ: Mapping[str, str] | None = None, *, require_credentials: bool = True) -> Settings:
    """The settings from `environ` (default: the process environment and `.env`), or one error naming every
    problem. `require_credentials=False` is for loading the Dagster definitions: their secrets are EnvVars."""
    token = _require_credentials.set(require_credentials)
    try:
        if environ is None:
            return Settings()
        values = {
            key[len(PREFIX) :].lower(): value.strip()
            for key, value in environ.items()
            if key.startswith(PREFIX) and value.strip()
        }
        return Settings.model_validate(values)
    except ValidationError as error:
        raise HaierConfigurationError(describe_problems(error)) from None
    finally:
        _require_credentials.reset(token)


def describe_problems(error: ValidationError) -> list[str]:
    """One line per bad variable, naming it; a secret's value is never repeated."""
    problems = []
    for item in error.errors(include_url=False):
        field = str(item["loc"][0]) if item["loc"] else ""
        name = variable(field)
        message = str(item["msg"]).removeprefix("Value error, ")
        if message.startswith(name):
            problems.append(message)
        elif message == "is not set" or item["type"] == "missing":
            problems.append(f"{name} is not set")
        elif field in SECRET_FIELDS:
            problems.append(f"{name}: {message}")
        else:
            problems.append(f"{name}={mask_url(str(item['input']))!r}: {message}")
    return problems


def parse_county_codes(raw: str) -> tuple[str, ...]:
    """County codes from `HAIER_COUNTY_CODES`, else from data/counties.csv. Raises ValueError naming the source."""
    return tuple(county_weights(raw))


def county_weights(raw: str) -> dict[str, float]:
    """County code -> weight (the optional `weight` column of data/counties.csv; 1 for every county of
    HAIER_COUNTY_CODES). A stock call budget asks heavier counties first. Raises ValueError naming the source."""
    if raw.strip():
        weights = {code.strip(): 1.0 for code in raw.split(",") if code.strip()}
        source = "HAIER_COUNTY_CODES"
    else:
        weights = read_county_file(Path(DEFAULT_COUNTIES_FILE))
        source = DEFAULT_COUNTIES_FILE
    codes = list(weights)
    bad = [code for code in codes if not COUNTY_CODE.match(code)]
    if bad:
        raise ValueError(f"{source}: county codes must be 6 digits, got {', '.join(map(repr, bad))}")
    if not codes:
        raise ValueError(f"{source}: no county codes configured ({COUNTIES_HINT})")
    return weights


def read_county_file(path: Path) -> dict[str, float]:
    if not path.exists():
        raise ValueError(f"HAIER_COUNTY_CODES is not set and {path} does not exist: {COUNTIES_HINT}")
    weights: dict[str, float] = {}
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        if not reader.fieldnames or "county_code" not in reader.fieldnames:
            raise ValueError(f"{path} needs a header row with a county_code column")
        for line, row in enumerate(reader, start=2):
            code, weight = (row.get("county_code") or "").strip(), (row.get("weight") or "").strip()
            if not code:
                continue
            try:
                weights.setdefault(code, float(weight) if weight else 1.0)
            except ValueError:
                weights[code] = -1.0
            if not weights[code] >= 0:
                raise ValueError(f"{path} line {line}: weight {weight!r} is not a number >= 0")
    return weights


def orders_file_problem(path: str) -> str | None:
    """What is wrong with HAIER_ORDERS_FILE, if anything (checked by `check`, and by `sync` when it tracks orders)."""
    file = Path(path)
    if not file.is_file():
        return (
            f"HAIER_ORDERS_FILE={path!r} does not exist: create it (a CSV with an order_code column, optional "
            "delivery_record_code and member_id) or point HAIER_ORDERS_FILE at one"
        )
    try:
        with file.open(newline="", encoding="utf-8") as handle:
            header = next(csv.reader(handle), [])
    except (OSError, UnicodeDecodeError) as error:
        return f"HAIER_ORDERS_FILE={path!r} cannot be read ({error}): it must be a UTF-8 CSV file"
    if "order_code" not in [column.strip() for column in header]:
        return f"HAIER_ORDERS_FILE={path!r} needs a header row with an order_code column"
    return None
