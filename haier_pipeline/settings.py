"""The one configuration model: read from the environment and `.env`, used by the CLI and by the Dagster
resources alike. Defaults live here and nowhere else.

Every problem is collected before anything fails (pydantic validates every field even when one is bad), so an
operator fixes the whole configuration in one pass instead of one variable per attempt.
"""

from __future__ import annotations

import io
import os
import re
from collections.abc import Iterator, Mapping
from contextvars import ContextVar
from pathlib import Path
from typing import Annotated, Any, Literal

from dotenv import dotenv_values, load_dotenv
from dotenv.parser import parse_stream
from pydantic import Field, PrivateAttr, SecretStr, ValidationError, ValidationInfo, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from haier_pipeline.accounts import ACCOUNT_NAME, DEFAULT_ACCOUNT
from haier_pipeline.api_urls import http_url_problem, insecure_http_problems, mask_webhook_url
from haier_pipeline.config_files import (
    ACCOUNT_SECRETS,
    ACCOUNTS_EXAMPLE,
    COUNTIES_HINT,
    county_code_problem,
    read_accounts_file,
    read_county_file,
)
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
# Read when it exists and HAIER_ACCOUNTS_FILE is not set; without either, the variables describe one account.
DEFAULT_ACCOUNTS_FILE = "data/accounts.toml"
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
    # Declared before the counties: their validator reads it.
    counties_file: str = DEFAULT_COUNTIES_FILE
    # County code -> weight (the counties file's `weight` column; 1 each when HAIER_COUNTY_CODES names them).
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
    # The dealer accounts (contract: HAIER_ACCOUNTS_FILE); unset, data/accounts.toml when it exists.
    accounts_file: str | None = None
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
    def _counties(cls, value: Any, info: ValidationInfo) -> dict[str, float]:
        if isinstance(value, dict) and value:
            return value
        raw = ",".join(value) if isinstance(value, tuple | list) else str(value or "")
        if not raw and not _require_credentials.get():
            return {}
        return county_weights(raw, info.data.get("counties_file", DEFAULT_COUNTIES_FILE))

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

    # The dealer account these settings describe, and every account of the configuration (see load_settings).
    _name: str = PrivateAttr(DEFAULT_ACCOUNT)
    _accounts: dict[str, Settings] | None = PrivateAttr(None)

    # The variable each secret was read from when it is not HAIER_<SECRET> (an account's HAIER_<NAME>_<SECRET>).
    _variables: dict[str, str] = PrivateAttr(default_factory=dict)

    @property
    def name(self) -> str:
        return self._name

    def variable_of(self, field_name: str) -> str:
        """The variable a setting was read from: the code location passes that one on as an EnvVar."""
        return self._variables.get(field_name, variable(field_name))

    @property
    def accounts(self) -> dict[str, Settings]:
        """Each account's settings by name: the accounts file's, or this one alone (`default`)."""
        return self._accounts if self._accounts is not None else {self._name: self}

    def account(self, name: str) -> Settings:
        if name not in self.accounts:
            raise HaierConfigurationError([self.unknown_account(name)])
        return self.accounts[name]

    def unknown_account(self, name: str) -> str:
        return f"no account is named {name!r}: the accounts are {', '.join(self.accounts)} ({self.accounts_source})"

    @property
    def accounts_source(self) -> str:
        return f"HAIER_ACCOUNTS_FILE={self.accounts_file}" if self._accounts is not None else "the HAIER_* variables"

    @field_validator("warehouse_url")
    @classmethod
    def _warehouse(cls, value: str) -> str:
        try:
            parse_warehouse_url(value)
        except WarehouseConfigError as error:
            raise ValueError(str(error).removeprefix("HAIER_WAREHOUSE_URL ")) from None
        return value

    def __repr_args__(self) -> Iterator[tuple[str | None, Any]]:
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
    """The settings from `environ` (default: the process environment and `.env`, real variables winning), each
    account's included (`Settings.accounts`), or one error naming every problem of every account.
    `require_credentials=False` is for loading the Dagster definitions: their secrets are EnvVars."""
    token = _require_credentials.set(require_credentials)
    try:
        if environ is None:
            if problems := dotenv_problems(Path.cwd() / DOTENV_FILE):
                raise HaierConfigurationError(problems)
            written = dotenv_values(Path.cwd() / DOTENV_FILE)
            environ = {**{key: value for key, value in written.items() if value is not None}, **os.environ}
        values = {
            key[len(PREFIX) :].lower(): value.strip()
            for key, value in environ.items()
            if key.startswith(PREFIX) and value and value.strip()
        }
        path = values.get("accounts_file") or (DEFAULT_ACCOUNTS_FILE if Path(DEFAULT_ACCOUNTS_FILE).is_file() else None)
        # With an accounts file, the variables are what every account falls back to: each account is validated
        # whole below, so the shared settings may leave its credentials to the file.
        shared = _require_credentials.set(require_credentials and path is None)
        try:
            settings = Settings.model_validate({**values, "accounts_file": path} if path else values)
        except ValidationError as error:
            raise HaierConfigurationError(describe_problems(error)) from None
        finally:
            _require_credentials.reset(shared)
        if path is not None:
            settings._accounts = load_accounts(Path(path), values, environ)
        return settings
    finally:
        _require_credentials.reset(token)


def load_accounts(path: Path, values: Mapping[str, str], environ: Mapping[str, str]) -> dict[str, Settings]:
    """Each account of the accounts file: its fields, else [defaults]'s, else the HAIER_* variables'; its secrets from
    HAIER_<NAME>_<SECRET>, else HAIER_<SECRET>. Every problem of every account at once."""
    named = f"HAIER_ACCOUNTS_FILE={str(path)!r}"
    if not path.is_file():
        raise HaierConfigurationError([f"{named} does not exist: create it ({ACCOUNTS_EXAMPLE}) or unset the variable"])
    written = read_accounts_file(path)
    problems = list(written.problems)
    accounts: dict[str, Settings] = {}
    for name, fields in written.accounts.items():
        if not ACCOUNT_NAME.fullmatch(name):
            continue  # its name is the problem (named above): its HAIER_<NAME>_* variables could not even be set
        prefixed = {secret: variable(f"{name}_{secret}") for secret in ACCOUNT_SECRETS}
        own = {secret: held for secret, held in prefixed.items() if environ.get(held, "").strip()}
        secrets = {secret: environ[held].strip() for secret, held in own.items()}
        merged = {**values, **_as_settings(written.defaults), **_as_settings(fields), **secrets}
        try:
            account = Settings.model_validate(merged)
        except ValidationError as error:
            names = {
                **{secret: f"{variable(f'{name}_{secret}')} (or {variable(secret)})" for secret in ACCOUNT_SECRETS},
                **{field: f"{named} [defaults] {key}" for key, field in _fields_of(written.defaults)},
                **{field: f"{named} [account.{name}] {key}" for key, field in _fields_of(fields)},
            }
            problems += [
                problem if problem.startswith(f"{named} [defaults]") else f"account {name}: {problem}"
                for problem in describe_problems(error, names)
            ]
            continue
        account._name = name
        account._variables = own
        accounts[name] = account
    if problems:
        raise HaierConfigurationError(list(dict.fromkeys(problems)))
    return accounts


def _fields_of(fields: Mapping[str, Any]) -> list[tuple[str, str]]:
    """An accounts-file table's keys with the settings they set."""
    return [(key, "county_codes" if key == "counties" else key) for key in fields]


def _as_settings(fields: Mapping[str, Any]) -> dict[str, Any]:
    """An accounts-file table as settings: `counties` (a list) is what HAIER_COUNTY_CODES says; a counties_file
    without counties drops the variable's, so the file's counties are read."""
    found = {field: fields[key] for key, field in _fields_of(fields)}
    if isinstance(found.get("county_codes"), list):
        found["county_codes"] = [str(code) for code in found["county_codes"]]
    if "counties_file" in fields and "counties" not in fields:
        found["county_codes"] = ""
    return found


def describe_problems(error: ValidationError, names: Mapping[str, str] | None = None) -> list[str]:
    """One line per bad setting, naming it (by its variable, or by `names`: where an account's setting was written);
    a secret's value is never repeated."""
    problems = []
    for item in error.errors(include_url=False):
        field = str(item["loc"][0]) if item["loc"] else ""
        name = (names or {}).get(field, variable(field))
        message = str(item["msg"]).removeprefix("Value error, ")
        if field == "county_codes" and name != variable(field):
            message = message.replace(variable(field), name)
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


def county_weights(raw: str, counties_file: str = DEFAULT_COUNTIES_FILE) -> dict[str, float]:
    """County code -> weight (the optional `weight` column of the counties file; 1 for every county of
    HAIER_COUNTY_CODES). A stock call budget asks heavier counties first. Raises ValueError naming the source."""
    if not raw.strip():
        return counties_in_file(Path(counties_file))
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
