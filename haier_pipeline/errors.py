"""Typed failures of the Haier API. Each message says what went wrong and what the operator should check.

Every error says whether the item it concerns went *unanswered* (`transient`: throttled, server trouble,
no answer, a garbled body; asking again later may deliver it) or was *refused* (the vendor answered, and
the answer is a refusal or unusable; asking again will not help).
"""

from __future__ import annotations

# HTTP statuses that mean "not answered yet": throttled, the token died, or server trouble.
TRANSIENT_STATUSES = frozenset({401, 429, 500, 502, 503, 504})


class HaierError(Exception):
    """Base of every failure the client raises; never a silent `None`."""

    transient: bool = False


class HaierConfigurationError(HaierError):
    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        listing = "\n".join(f"  - {problem}" for problem in problems)
        super().__init__(
            f"Configuration is incomplete or malformed:\n{listing}\n"
            "Fix each (the variables can also go in .env in the working directory); "
            "`haier-pipeline check` validates the result."
        )


class HaierAuthenticationError(HaierError):
    """No usable token: wrong client id/secret or auth scheme, wrong token URL, or a gateway revoking
    every token it issues. Stops a whole fan-out: every other item would fail the same way."""


class HaierRequestError(HaierError):
    """An HTTP call that failed after every retry: no answer, an error status, or an unreadable body."""

    def __init__(self, endpoint: str, status: int | None, detail: str, hint: str, *, transient: bool | None = None):
        self.endpoint = endpoint
        self.status = status
        self.detail = detail
        self.transient = status is None or status in TRANSIENT_STATUSES if transient is None else transient
        where = f"HTTP {status}" if status is not None else "no answer"
        super().__init__(f"{endpoint}: {where}: {detail}. {hint}")


class HaierPermissionError(HaierRequestError):
    """The gateway answers, and refuses this machine or client id the endpoint: a 403 (IP not whitelisted, interface
    not granted), or a 401 on one endpoint for tokens the other endpoints accept. Asking again, with this token or a
    new one, will not help: not retried, and it stops a whole fan-out at its first answer instead of being refused
    item by item."""

    def __init__(self, endpoint: str, status: int, detail: str, hint: str) -> None:
        super().__init__(endpoint, status, detail, hint, transient=False)


class HaierThrottledError(HaierRequestError):
    """Still throttled (429) after every retry: another process shares the account's rate limit."""


class HaierAnswerShapeError(HaierRequestError):
    """HTTP 200 with a payload of the wrong kind (e.g. `{"success": true, "data": 42}` for a list):
    the vendor answered, and the answer is unusable. Refused, not transient."""

    def __init__(self, endpoint: str, detail: str) -> None:
        super().__init__(
            endpoint, 200, detail, "The vendor's answer has an unusable shape; not retried.", transient=False
        )


class HaierUnavailableError(HaierError):
    """The circuit breaker: an endpoint gave no answer at all for a while. Stops the whole fan-out."""

    transient = True

    def __init__(
        self,
        endpoint: str,
        cause: str,
        calls: int,
        seconds: float,
        hint: str = "check HAIER_BASE_URL and HAIER_TIMEOUT",
    ) -> None:
        self.endpoint = endpoint
        self.cause = cause
        self.calls = calls
        self.seconds = seconds
        what = "1 call" if calls == 1 else f"{calls} consecutive calls"
        super().__init__(f"{endpoint}: no answer, {cause} on {what} over {seconds:.0f} s; {hint}")


class HaierBusinessError(HaierError):
    """HTTP 200 with a failure envelope. Never an empty result.

    `account_refused` is true when the refusal concerns the whole account (约定密码错误, 客户编码与授权信息
    不匹配, an expired contract, or the same refusal on a fan-out's first answers): that stops a fan-out.
    Otherwise it concerns one item (one product, one batch), which the fan-out records and passes over.
    """

    def __init__(self, endpoint: str, code: object, message: str, *, account_refused: bool = False) -> None:
        self.endpoint = endpoint
        self.code = code
        self.reason = message
        self.account_refused = account_refused
        if account_refused:
            hint = (
                "Check HAIER_CUSTOMER_CODE, HAIER_SEND_TO_CODE and the passwords "
                "(HAIER_PASSWORD, HAIER_SELLER_PASSWORD, HAIER_CUSTOMER_PASSWORD), and the account's contract."
            )
        else:
            hint = (
                "The vendor refused this request, not the account (its message says why): a refused stock pair, "
                "price code or order is recorded in rejected_rows and the sync goes on with the rest, a refused "
                "listing or balance fails its step; ask Haier about the message if it persists."
            )
        super().__init__(f"{endpoint}: the API refused the request (code {code}): {message}. {hint}")
