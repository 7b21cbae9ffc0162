"""The simulator's knobs: one mutable object, read on every request so a change applies at once."""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Annotated, Any, Literal
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

from haier_pipeline.simulator.quirks import QUIRKS

SHANGHAI = ZoneInfo("Asia/Shanghai")

Share = Annotated[float, Field(ge=0, le=1)]
Seconds = Annotated[float, Field(ge=0)]
County = Annotated[str, StringConstraints(pattern=r"^[0-9]{6}$")]
Endpoint = Literal["products", "prices", "stock", "logistics", "balance"]

# A quirk's name: one of QUIRKS, each refused by name otherwise. The literal is built from the table, which a type
# checker cannot read; to it, a name is a string.
if TYPE_CHECKING:
    Quirk = str
else:
    Quirk = Literal[tuple(QUIRKS)]


class SimulatorConfig(BaseModel):
    """Every value is checked when set, so a typo fails loudly instead of serving something the simulator cannot."""

    model_config = ConfigDict(validate_assignment=True, extra="forbid", allow_inf_nan=False)

    seed: int = 7
    products: int = Field(120, ge=0)
    counties: tuple[County, ...] = ("110101", "310104", "440106", "510107")
    latency_ms: float = Field(0, ge=0)
    latency_jitter_ms: float = Field(0, ge=0)
    rate_limit: float | None = Field(None, gt=0)
    token_ttl: Seconds = 3600
    advertised_expires_in: int = 3600
    fault_rate: Share = 0.0
    bad_row_rate: Share = 0.0
    envelope: Literal["bare", "success", "code", "mixed"] = "mixed"
    token_shape: Literal["access_token", "token", "data.access_token", "data.token"] = "access_token"
    expires_in_at: Literal["top", "data", "none"] = "top"
    auth_path_fails: bool = False
    client_id: str = "demo-client"
    client_secret: str = "demo-secret"
    customer_code: str = "8800633175"
    send_to_code: str = "8800633175"
    password: str = "demo-password"
    customer_password: str = "demo-password"
    day_offset: int = 0
    hidden_products: int = Field(0, ge=0)
    empty_listing: bool = False
    # A paging gateway: the whole listing answers only its first N products, saying `total` and `hasNextPage`.
    listing_page_size: int = Field(0, ge=0)
    # Data quirks (simulator/quirks.py): the names of those on ("all" for every one), and the share they touch.
    quirks: tuple[Quirk, ...] = ()
    quirk_rate: Share = 0.1
    # Fault knobs (client under fire); every default is off.
    token_revoke_every: Seconds = 0.0  # seconds between revocations of every live token (token churn)
    throttle_rate: Share = 0.0  # share of data calls answered 429, whatever the rate limit
    retry_after: Seconds = 1.0  # seconds in the Retry-After header of every 429
    hang_rate: Share = 0.0  # share of calls (token included) left unanswered until the client hangs up
    token_hang: bool = False  # every token call left unanswered: the token endpoint down, the data gateway up
    # Calls to these endpoints wait, counted as arrived, until the knob no longer names them: a gateway stalled for
    # exactly as long as a test needs (e.g. until several clients are all mid-call), then answering as usual.
    held_endpoints: tuple[Endpoint, ...] = ()
    refused_products: tuple[str, ...] = ()  # product codes whose calls get a failure envelope
    unavailable_products: tuple[str, ...] = ()  # product codes whose calls are always answered 503
    account_refusal: str = ""  # when set, every data call gets a failure envelope with this message
    success_code: str = ""  # when set, `code` envelopes carry it instead of 200
    # Paths beyond the document's, each answered with this payload: an endpoint declared in a test.
    extra_answers: dict[str, Any] = Field(default_factory=dict)
    # First contact: forms the vendor's document does not rule out, each a switch (every default is the form the
    # simulator served before, except the listing: procurable products only, as §1 says).
    success_msg: str = "ok"  # the msg of a `code` success envelope ("" leaves the key out)
    listing_requires_codes: bool = False  # the listing without productCodes is a 400 (§1 marks it required)
    listing_not_procurable: bool = False  # the listing also returns products not procurable (isSales "0")
    status_in_body: bool = False  # 401/403/429/500/503 of data calls answered HTTP 200 with the status as `code`
    server_errors: int = Field(0, ge=0)  # the next N data calls answer 500 (系统异常)
    throttle_next: int = Field(0, ge=0)  # the next N data calls answer 429: a storm of a known length
    auth_path_html: bool = False  # /oauth2/auth answers 200 with a browser login page; tokens at /oauth2/token
    auth_scheme: Literal["any", "bare", "bearer"] = "any"  # the Authorization forms the data gateway accepts
    forbidden_endpoints: tuple[Endpoint, ...] = ()  # answered 403 (IP not whitelisted), each body with a trace id
    unauthorized_endpoints: tuple[Endpoint, ...] = ()  # answered 401 to every token: no permission for them
    numeral_prices: tuple[str, ...] = ()  # product codes whose supplyPrice is written in Chinese numerals
    text_market_prices: tuple[str, ...] = ()  # product codes whose marketPrice is the text 暂无
    percent_discounts: tuple[str, ...] = ()  # product codes with a 5 % direct discount sent as "5%"
    two_payer_accounts: bool = False  # the balance lists a second payer account in the first sales organisation
    logistics_extra_key: str = ""  # when set, logistics answers carry one more list under this key

    @field_validator("quirks", mode="before")
    @classmethod
    def _all_quirks(cls, names: Any) -> Any:
        """Expand "all" to every quirk, keeping an unknown name beside it to be refused."""
        if isinstance(names, list | tuple) and "all" in names:
            return (*QUIRKS, *(name for name in names if name != "all" and name not in QUIRKS))
        return tuple(names) if isinstance(names, list) else names

    def update(self, changes: dict[str, Any]) -> None:
        """Apply knob -> value pairs (from JSON), all or nothing; read as JSON strictly, so `true` is no number."""
        checked = self.model_validate_json(json.dumps({**self.as_dict(), **changes}), strict=True)
        for name in changes:
            setattr(self, name, getattr(checked, name))

    def as_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json")

    def today(self) -> date:
        """The simulator's business day: the vendor lives in China, so its day turns in Shanghai."""
        return datetime.now(SHANGHAI).date() + timedelta(days=self.day_offset)
