"""The simulator's knobs: one mutable object, read on every request so a change applies at once."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

SHANGHAI = ZoneInfo("Asia/Shanghai")

ENVELOPES = ("bare", "success", "code", "mixed")
TOKEN_SHAPES = ("access_token", "token", "data.access_token", "data.token")
EXPIRES_IN_PLACES = ("top", "data", "none")


@dataclass
class SimulatorConfig:
    seed: int = 7
    products: int = 120
    counties: tuple[str, ...] = ("110101", "310104", "440106", "510107")
    latency_ms: float = 0
    latency_jitter_ms: float = 0
    rate_limit: float | None = None
    token_ttl: float = 3600
    advertised_expires_in: int = 3600
    fault_rate: float = 0.0
    bad_row_rate: float = 0.0
    envelope: str = "mixed"
    token_shape: str = "access_token"
    expires_in_at: str = "top"
    auth_path_fails: bool = False
    client_id: str = "demo-client"
    client_secret: str = "demo-secret"
    customer_code: str = "8800633175"
    send_to_code: str = "8800633175"
    password: str = "demo-password"
    customer_password: str = "demo-password"
    day_offset: int = 0
    hidden_products: int = 0
    empty_listing: bool = False
    # A paging gateway: the whole listing answers only its first N products, saying `total` and `hasNextPage`.
    listing_page_size: int = 0
    # Data quirks (simulator/quirks.py): the names of those on ("all" for every one), and the share they touch.
    quirks: tuple[str, ...] = ()
    quirk_rate: float = 0.1
    # Fault knobs (client under fire); every default is off.
    token_revoke_every: float = 0.0  # seconds between revocations of every live token (token churn)
    throttle_rate: float = 0.0  # share of data calls answered 429, whatever the rate limit
    retry_after: float = 1.0  # seconds in the Retry-After header of every 429
    hang_rate: float = 0.0  # share of calls (token included) left unanswered until the client hangs up
    refused_products: tuple[str, ...] = ()  # product codes whose calls get a failure envelope
    unavailable_products: tuple[str, ...] = ()  # product codes whose calls are always answered 503
    account_refusal: str = ""  # when set, every data call gets a failure envelope with this message
    success_code: str = ""  # when set, `code` envelopes carry it instead of 200

    def __post_init__(self) -> None:
        self.counties = tuple(self.counties)
        self.quirks = tuple(self.quirks)
        self.refused_products = tuple(self.refused_products)
        self.unavailable_products = tuple(self.unavailable_products)
        self.validate()

    def validate(self) -> None:
        """Raise ValueError on a value the simulator could not serve, so a typo fails loudly."""
        if self.envelope not in ENVELOPES:
            raise ValueError(f"envelope must be one of {ENVELOPES}, not {self.envelope!r}")
        if self.token_shape not in TOKEN_SHAPES:
            raise ValueError(f"token_shape must be one of {TOKEN_SHAPES}, not {self.token_shape!r}")
        if self.expires_in_at not in EXPIRES_IN_PLACES:
            raise ValueError(f"expires_in_at must be one of {EXPIRES_IN_PLACES}, not {self.expires_in_at!r}")
        if self.products < 0 or self.hidden_products < 0 or self.listing_page_size < 0:
            raise ValueError("products, hidden_products and listing_page_size must be >= 0")
        if not 0.0 <= self.fault_rate <= 1.0 or not 0.0 <= self.bad_row_rate <= 1.0:
            raise ValueError("fault_rate and bad_row_rate must be within [0, 1]")
        for name in ("throttle_rate", "hang_rate"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be within [0, 1]")
        if self.token_revoke_every < 0 or self.retry_after < 0:
            raise ValueError("token_revoke_every and retry_after must be >= 0")
        if self.rate_limit is not None and self.rate_limit <= 0:
            raise ValueError("rate_limit must be positive or None")
        from haier_pipeline.simulator.quirks import QUIRKS  # the quirks read the dataset, which reads this module

        if "all" in self.quirks:
            self.quirks = tuple(QUIRKS)
        unknown = sorted(set(self.quirks) - set(QUIRKS))
        if unknown or not 0.0 <= self.quirk_rate <= 1.0:
            raise ValueError(f"quirks must be among {', '.join(QUIRKS)} (or all), quirk_rate within [0, 1]: {unknown}")
        for county in self.counties:
            if not (isinstance(county, str) and len(county) == 6 and county.isdigit()):
                raise ValueError(f"county codes must be 6-digit strings, not {county!r}")

    def update(self, changes: dict[str, Any]) -> None:
        """Apply knob -> value pairs (from JSON), all or nothing."""
        fields = {f.name: f for f in dataclasses.fields(self)}
        unknown = sorted(set(changes) - set(fields))
        if unknown:
            raise ValueError(f"unknown knob(s): {', '.join(unknown)}")
        candidate = dataclasses.replace(self)
        for name, value in changes.items():
            setattr(candidate, name, _coerce(name, fields[name].type, value))
        candidate.counties = tuple(candidate.counties)
        candidate.quirks = tuple(candidate.quirks)
        candidate.refused_products = tuple(candidate.refused_products)
        candidate.unavailable_products = tuple(candidate.unavailable_products)
        candidate.validate()
        for name in changes:
            setattr(self, name, getattr(candidate, name))

    def as_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["counties"] = list(self.counties)
        data["quirks"] = list(self.quirks)
        data["refused_products"] = list(self.refused_products)
        data["unavailable_products"] = list(self.unavailable_products)
        return data

    def today(self) -> date:
        """The simulator's business day: the vendor lives in China, so its day turns in Shanghai."""
        return datetime.now(SHANGHAI).date() + timedelta(days=self.day_offset)


def _coerce(name: str, annotation: Any, value: Any) -> Any:
    # Annotations are strings under `from __future__ import annotations`.
    kind = str(annotation)
    if value is None:
        if "None" in kind:
            return None
        raise ValueError(f"{name} cannot be null")
    if isinstance(value, bool) and not kind.startswith("bool"):
        raise ValueError(f"{name} must not be a boolean")
    if kind.startswith("bool"):
        if not isinstance(value, bool):
            raise ValueError(f"{name} must be true or false")
        return value
    if kind.startswith("int"):
        if isinstance(value, float) and not value.is_integer():
            raise ValueError(f"{name} must be an integer")
        return int(value)
    if kind.startswith("float"):
        return float(value)
    if kind.startswith("tuple"):
        if isinstance(value, str):
            value = [part.strip() for part in value.split(",") if part.strip()]
        return tuple(str(item) for item in value)
    if kind.startswith("str"):
        if not isinstance(value, str):
            raise ValueError(f"{name} must be a string")
        return value
    return value
