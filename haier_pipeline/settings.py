"""The one configuration model: read from the environment and `.env`, used by the CLI and by the Dagster
resources alike. Defaults live here and nowhere else.

Every problem is collected before anything fails (pydantic validates every field even when one is bad), so an
operator fixes the whole configuration in one pass instead of one variable per attempt.
"""

from __future__ import annotations

import io
import re
from collections.abc import Mapping
from contextvars import ContextVar
from pathlib import Path
from typing import Annotated, Any, Literal

from dotenv import load_dotenv
from dotenv.parser import parse_stream
from pydantic import Field, PrivateAttr, SecretStr, ValidationError, ValidationInfo, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from haier_pipeline.api_urls import http_url_problem, insecure_http_problems, mask_webhook_url
from haier_pipeline.config_files import COUNTIES_HINT, county_code_problem, read_county_file
from haier_pipeline.errors import HaierConfigurationError
from haier_pipeline.haier.envelopes import success_codes_from
from haier_pipeline.warehouse.errors import WarehouseConfigError
from haier_pipeline.warehouse.url import mask_url, parse_warehouse_url

PREFIX = "HAIER_"
# An optional field left unset takes the value of another: the goods go to the customer itself, and one password
# serves every endpoint unless the account has several.
FALLBACKS = {"send_to_code": "customer_code", "seller_password": "password", "customer_password": "password"}
DEFAULT_WAREHOUSE_URL = "duckdb:///data/warehouse.duckdb"
DEFAULT_COUNTIES_FILE = "data/counties.csv"
DEFAULT_ORDERS_FILE = "data/orders.csv"
DOTENV_FILE = ".env"
SECRET_FIELDS = ("client_secret", "password", "seller_password", "customer_password")
CREDENTIAL_FIELDS = ("base_url", "client_id", "client_secret", "customer_code", "password")

# The Dagster code location loads without credentials (its secrets are EnvVars, resolved when a run starts) and
# reads the counties when a run starts (an edited counties.csv counts without a reload); the command line needs both
# now. Validators read this to know which of the two is validating.
_require_credentials: ContextVar[bool] = ContextVar("require_credentials", default=True)


def default_token_url(base_url: str) -> str:
    """The token URL when HAIER_TOKEN_URL is not set."""
    return f"{base_url.rstrip('/')}/oauth2/auth"


def variable(field_name: str) -> str:
    return PREFIX + field_name.upper()


class Settings(BaseSettings):
    """HAIER_* variables (a `.env` in the working directory is read too; real variables win)."""

    model_config = SettingsConfigDict(
        env_prefix=PREFIX,
        env_file=DOTENV_FILE,
        env_file_encoding="utf-8",
        env_ignore_empty=True,
        extra="ignore",
        frozen=True,
        str_strip_whitespace=True,
        # Else "nan" is refused for a bound it does not break ("less than or equal to 10000"), and "inf" passes an
        # upper bound that is not there.
        allow_inf_nan=False,
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
    # Unset: detected (the bare token first, Bearer when a fresh token is refused); `check` shows what was found.
    auth_scheme: Literal["bare", "bearer"] | None = None
    # Unset: envelope codes the client does not know are read by meaning (haier.envelopes).
    success_codes: str | None = None
    # County code -> weight (data/counties.csv's `weight` column; 1 each when HAIER_COUNTY_CODES names them).
    county_codes: Annotated[dict[str, float], NoDecode] = Field(default_factory=dict, validate_default=True)
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
    # Alerts: one JSON POST per failed run (defs/alerts/webhook.py), linking to the run in the UI at ui_url.
    alert_webhook_url: str | None = None
    ui_url: str = "http://127.0.0.1:3000"

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
        value, problem = http_url_problem(value, base=info.field_name == "base_url")
        if problem:
            raise ValueError(mask_url(problem))
        base, token = (value, None) if info.field_name == "base_url" else (None, value)
        if problems := insecure_http_problems(base, token, bool(info.data.get("allow_insecure_http"))):
            raise ValueError("; ".join(problems))
        return value.rstrip("/")

    @field_validator("alert_webhook_url", "ui_url")
    @classmethod
    def _link(cls, value: str | None, info: ValidationInfo) -> str | None:
        """The webhook receives the alerts (plain http only to loopback, as the API's URLs); the UI URL is only
        linked to from them."""
        if value is None:
            return None
        webhook = info.field_name == "alert_webhook_url"
        url, problem = http_url_problem(value, base=not webhook)
        if problem and webhook:
            # Its path or query is the secret that lets anyone post: the problem is named, the URL never repeated.
            what = problem.partition(":")[0]
            raise ValueError(f"{what}: paste the URL exactly as the chat service gave it (https://...)")
        if problem:
            raise ValueError(mask_url(problem))
        if webhook and insecure_http_problems(url, None, bool(info.data.get("allow_insecure_http"))):
            raise ValueError(
                "uses plain http to a host that is not loopback: use https://, or set HAIER_ALLOW_INSECURE_HTTP=1 "
                "if this network is trusted"
            )
        return url

    @field_validator("auth_scheme", mode="before")
    @classmethod
    def _lower(cls, value: Any) -> Any:
        return value.lower() if isinstance(value, str) else value

    @field_validator("success_codes")
    @classmethod
    def _success_codes(cls, value: str | None) -> str | None:
        if value is None:
            return None
        codes = [code.strip() for code in value.split(",") if code.strip()]
        success_codes_from(",".join(codes))  # ValueError: a code that is an HTTP status
        return ",".join(codes) or None

    @field_validator("county_codes", mode="before")
    @classmethod
    def _counties(cls, value: Any) -> dict[str, float]:
        if isinstance(value, dict) and value:
            return value
        raw = ",".join(value) if isinstance(value, tuple | list) else str(value or "")
        if not raw and not _require_credentials.get():
            return {}
        return county_weights(raw)

    # HAIER_COUNTY_CODES unset: the counties (and their weights) are data/counties.csv's, read again where the stock
    # step runs, so the weights count and an edited file needs no reload of the code location.
    _counties_from_file: bool = PrivateAttr(False)

    @model_validator(mode="wrap")
    @classmethod
    def _note_county_source(cls, data: Any, handler: Any) -> Settings:
        settings = handler(data)
        raw = data.get("county_codes") if isinstance(data, dict) else None
        settings._counties_from_file = not (",".join(raw) if isinstance(raw, tuple | list) else str(raw or "")).strip()
        return settings

    @property
    def counties_from_file(self) -> bool:
        return self._counties_from_file

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
            if name == "alert_webhook_url" and value:
                value = mask_webhook_url(value)
            yield name, (mask_url(value) if isinstance(value, str) else value)

    # ---- derived values -----------------------------------------------------------------------------

    def secret(self, name: str) -> str:
        """A secret's value; the optional passwords default to HAIER_PASSWORD, as the client's do (FALLBACKS)."""
        value: SecretStr | None = getattr(self, name) or getattr(self, FALLBACKS.get(name, name))
        return value.get_secret_value() if value is not None else ""

    @property
    def resolved_token_url(self) -> str:
        """The token URL the client asks (shown by `check`)."""
        return self.token_url or (default_token_url(self.base_url) if self.base_url else "")

    @property
    def resolved_send_to_code(self) -> str:
        return self.send_to_code or getattr(self, FALLBACKS["send_to_code"]) or ""

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
            elif name == "alert_webhook_url":
                shown[name] = mask_webhook_url(value)
            elif name == "send_to_code":
                shown[name] = self.resolved_send_to_code
            elif isinstance(value, dict):
                shown[name] = ",".join(value)
            elif isinstance(value, str):
                shown[name] = mask_url(value)
            else:
                shown[name] = "(not set)" if value is None else str(value)
        return shown


def default(name: str) -> Any:
    """A setting's default, for the objects built from the settings (the client, the resources): written once."""
    return Settings.model_fields[name].default


def load_dotenv_file(directory: Path | None = None) -> None:
    """Put `.env` into os.environ (real variables win): Dagster's EnvVar resources read the process environment."""
    path = (directory or Path.cwd()) / DOTENV_FILE
    if problems := dotenv_problems(path):
        raise HaierConfigurationError(problems)
    load_dotenv(path, override=False)


def dotenv_problems(path: Path) -> list[str]:
    """Why `path` (a `.env`) cannot be read as written: not UTF-8 (python-dotenv would raise UnicodeDecodeError), or
    lines python-dotenv cannot parse (it would skip them, warning without the file or the variable)."""
    if not path.is_file():
        return []
    try:
        data = path.read_bytes()
    except OSError as error:
        return [f"{path} cannot be read ({error.strerror}): make it readable, or remove it"]
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        line = data.count(b"\n", 0, error.start) + 1
        return [f"{path} line {line} is not UTF-8 text: save the file as UTF-8 (GBK, for one, is not read)"]
    problems = []
    for binding in parse_stream(io.StringIO(text)):
        if binding.error:
            # The name only: the rest of the line may be a secret.
            name = re.match(r"\s*(?:export\s+)?([A-Za-z_][\w.]*)\s*=", binding.original.string)
            what = f"the line setting {name.group(1)}" if name else "this line"
            problems.append(
                f"{path} line {binding.original.line}: {what} cannot be parsed: write it as NAME=value (quote a value "
                "with spaces or quotes in it, e.g. NAME='a b'), or start it with # to comment it out"
            )
    return problems


def load_settings(environ: Mapping[str, str] | None = None, *, require_credentials: bool = True) -> Settings:
    """The settings from `environ` (default: the process environment and `.env`), or one error naming every
    problem. `require_credentials=False` is for loading the Dagster definitions: their secrets are EnvVars."""
    token = _require_credentials.set(require_credentials)
    try:
        if environ is None:
            if problems := dotenv_problems(Path.cwd() / DOTENV_FILE):
                raise HaierConfigurationError(problems)
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
        # An unset variable's input is its default (the counties' is `()`): the message names the file read instead.
        if message.startswith(name) or (field == "county_codes" and not item["input"]):
            problems.append(message)
        elif message == "is not set" or item["type"] == "missing":
            problems.append(f"{name} is not set")
        elif field in SECRET_FIELDS:
            problems.append(f"{name}: {message}")
        elif field == "alert_webhook_url":
            problems.append(f"{name}={mask_webhook_url(str(item['input']))!r}: {message}")
        else:
            problems.append(f"{name}={mask_url(str(item['input']))!r}: {message}")
    return problems


def county_weights(raw: str) -> dict[str, float]:
    """County code -> weight (the optional `weight` column of data/counties.csv; 1 for every county of
    HAIER_COUNTY_CODES). A stock call budget asks heavier counties first. Raises ValueError naming the source."""
    if not raw.strip():
        return counties_in_file(Path(DEFAULT_COUNTIES_FILE))
    weights = {code.strip(): 1.0 for code in raw.split(",") if code.strip()}
    if bad := [problem for code in weights if (problem := county_code_problem(code))]:
        raise ValueError(f"HAIER_COUNTY_CODES: county codes are 6 ASCII digits (e.g. 110101): {'; '.join(bad)}")
    if not weights:
        raise ValueError(f"HAIER_COUNTY_CODES: no county codes configured ({COUNTIES_HINT})")
    return weights


def counties_in_file(path: Path) -> dict[str, float]:
    """County code -> weight, from a counties file; raises ValueError naming it."""
    if not (weights := read_county_file(path)):
        raise ValueError(f"{path}: no county codes configured ({COUNTIES_HINT})")
    return weights
