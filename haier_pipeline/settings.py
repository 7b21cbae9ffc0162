"""Configuration from the environment (and a `.env` file in the working directory).

Every problem is collected before anything fails, so an operator fixes the whole configuration in one
pass instead of one variable per attempt.
"""

from __future__ import annotations

import csv
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path

from dotenv import load_dotenv

from haier_pipeline.haier.errors import HaierConfigurationError

DEFAULT_WAREHOUSE_URL = "duckdb:///data/haier.duckdb"
DEFAULT_COUNTIES_FILE = "data/counties.csv"
DEFAULT_ORDERS_FILE = "data/orders.csv"
COUNTY_CODE = re.compile(r"^\d{6}$")
SECRET_FIELDS = ("client_secret", "password", "seller_password", "customer_password")


@dataclass(frozen=True)
class Settings:
    base_url: str
    token_url: str
    client_id: str
    client_secret: str = field(repr=False)
    customer_code: str
    send_to_code: str
    supplier_code: str
    password: str = field(repr=False)
    seller_password: str = field(repr=False)
    customer_password: str = field(repr=False)
    auth_scheme: str = "bare"
    rate_limit: float = 100.0
    timeout: float = 30.0
    county_codes: tuple[str, ...] = ()
    orders_file: str = DEFAULT_ORDERS_FILE
    warehouse_url: str = field(default=DEFAULT_WAREHOUSE_URL, repr=False)
    max_deactivate_ratio: float = 0.2
    max_rejected_ratio: float = 0.1
    stock_cache_ttl: float = 300.0

    def masked(self) -> dict[str, str]:
        """The configuration as an operator may see it: secrets replaced by their length only."""
        shown: dict[str, str] = {}
        for item in fields(self):
            value = getattr(self, item.name)
            if item.name in SECRET_FIELDS:
                shown[item.name] = f"****** ({len(value)} chars)" if value else "(not set)"
            elif isinstance(value, tuple):
                shown[item.name] = ",".join(value)
            else:
                shown[item.name] = str(value)
        shown["warehouse_url"] = mask_url_password(self.warehouse_url)
        return shown

    def secrets(self) -> list[str]:
        return [getattr(self, name) for name in SECRET_FIELDS if getattr(self, name)]


def mask_url_password(url: str) -> str:
    return re.sub(r"(://[^:/@]+:)[^@]*@", r"\1******@", url)


def load_dotenv_file(directory: Path | None = None) -> None:
    """Read `.env` from the working directory; real environment variables win over it."""
    load_dotenv((directory or Path.cwd()) / ".env", override=False)


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    """Build `Settings` from the environment, raising one error that names every bad variable."""
    if environ is None:
        load_dotenv_file()
        environ = os.environ
    env = {key: value.strip() for key, value in environ.items() if key.startswith("HAIER_")}
    problems: list[str] = []

    def required(name: str) -> str:
        value = env.get(name, "")
        if not value:
            problems.append(f"{name} is not set")
        return value

    def number(name: str, default: float, low: float, high: float) -> float:
        raw = env.get(name)
        if not raw:
            return default
        try:
            value = float(raw)
        except ValueError:
            problems.append(f"{name}={raw!r} is not a number")
            return default
        if not low <= value <= high:
            problems.append(f"{name}={raw!r} must be between {low:g} and {high:g}")
        return value

    base_url = required("HAIER_BASE_URL").rstrip("/")
    if base_url and not re.match(r"^https?://[^/\s]+", base_url):
        problems.append(f"HAIER_BASE_URL={base_url!r} is not an http(s) URL")
    token_url = env.get("HAIER_TOKEN_URL") or (f"{base_url}/oauth2/auth" if base_url else "")
    if env.get("HAIER_TOKEN_URL") and not re.match(r"^https?://", token_url):
        problems.append(f"HAIER_TOKEN_URL={token_url!r} is not an http(s) URL")
    client_id = required("HAIER_CLIENT_ID")
    client_secret = required("HAIER_CLIENT_SECRET")
    customer_code = required("HAIER_CUSTOMER_CODE")
    password = required("HAIER_PASSWORD")
    auth_scheme = env.get("HAIER_AUTH_SCHEME", "bare").lower() or "bare"
    if auth_scheme not in ("bare", "bearer"):
        problems.append(f"HAIER_AUTH_SCHEME={auth_scheme!r} must be 'bare' or 'bearer'")

    county_codes = _county_codes(env.get("HAIER_COUNTY_CODES", ""), problems)
    settings = Settings(
        base_url=base_url,
        token_url=token_url,
        client_id=client_id,
        client_secret=client_secret,
        customer_code=customer_code,
        send_to_code=env.get("HAIER_SEND_TO_CODE") or customer_code,
        supplier_code=env.get("HAIER_SUPPLIER_CODE") or "1001",
        password=password,
        seller_password=env.get("HAIER_SELLER_PASSWORD") or password,
        customer_password=env.get("HAIER_CUSTOMER_PASSWORD") or password,
        auth_scheme=auth_scheme,
        rate_limit=number("HAIER_RATE_LIMIT", 100.0, 0.1, 10_000),
        timeout=number("HAIER_TIMEOUT", 30.0, 0.1, 600),
        county_codes=county_codes,
        orders_file=env.get("HAIER_ORDERS_FILE") or DEFAULT_ORDERS_FILE,
        warehouse_url=env.get("HAIER_WAREHOUSE_URL") or DEFAULT_WAREHOUSE_URL,
        max_deactivate_ratio=number("HAIER_MAX_DEACTIVATE_RATIO", 0.2, 0.0, 1.0),
        max_rejected_ratio=number("HAIER_MAX_REJECTED_RATIO", 0.1, 0.0, 1.0),
        stock_cache_ttl=number("HAIER_STOCK_CACHE_TTL", 300.0, 0.0, 86_400 * 7),
    )
    if problems:
        raise HaierConfigurationError(problems)
    return settings


def parse_county_codes(raw: str) -> tuple[str, ...]:
    """County codes from `HAIER_COUNTY_CODES`, else from data/counties.csv; raises naming the source."""
    problems: list[str] = []
    codes = _county_codes(raw, problems)
    if problems:
        raise HaierConfigurationError(problems)
    return codes


def _county_codes(raw: str, problems: list[str]) -> tuple[str, ...]:
    if raw:
        codes = [code.strip() for code in raw.split(",") if code.strip()]
        source = "HAIER_COUNTY_CODES"
    else:
        codes = read_county_file(Path(DEFAULT_COUNTIES_FILE), problems)
        source = DEFAULT_COUNTIES_FILE
    bad = [code for code in codes if not COUNTY_CODE.match(code)]
    if bad:
        problems.append(f"{source}: county codes must be 6 digits, got {', '.join(map(repr, bad))}")
    if not codes and not problems:
        problems.append(f"{source}: no county codes configured (set HAIER_COUNTY_CODES=110101,310104)")
    return tuple(dict.fromkeys(codes))


def read_county_file(path: Path, problems: list[str]) -> list[str]:
    if not path.exists():
        problems.append(
            f"HAIER_COUNTY_CODES is not set and {path} does not exist: "
            "set HAIER_COUNTY_CODES=110101,310104 or create the file with a county_code column"
        )
        return []
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        if not reader.fieldnames or "county_code" not in reader.fieldnames:
            problems.append(f"{path} needs a header row with a county_code column")
            return []
        return [row["county_code"].strip() for row in reader if (row.get("county_code") or "").strip()]
