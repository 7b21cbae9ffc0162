"""Typed failures of the Haier API. Each message says what went wrong and what the operator should check."""

from __future__ import annotations


class HaierError(Exception):
    """Base of every failure the client raises; never a silent `None`."""


class HaierConfigurationError(HaierError):
    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        listing = "\n".join(f"  - {problem}" for problem in problems)
        super().__init__(
            f"Configuration is incomplete or malformed:\n{listing}\n"
            "Set these environment variables (or put them in .env in the working directory); "
            "`haier-pipeline check` validates the result."
        )


class HaierAuthenticationError(HaierError):
    """The token could not be obtained: wrong client id/secret, wrong token URL, or a gateway problem."""


class HaierRequestError(HaierError):
    def __init__(self, endpoint: str, status: int | None, detail: str, hint: str) -> None:
        self.endpoint = endpoint
        self.status = status
        self.detail = detail
        where = f"HTTP {status}" if status is not None else "no answer"
        super().__init__(f"{endpoint}: {where}: {detail}. {hint}")


class HaierThrottledError(HaierRequestError):
    """Still throttled (429) after every retry: another process shares the account's rate limit."""


class HaierBusinessError(HaierError):
    """HTTP 200 with a failure envelope, e.g. 约定密码错误 (wrong password). Never an empty result."""

    def __init__(self, endpoint: str, code: object, message: str) -> None:
        self.endpoint = endpoint
        self.code = code
        self.reason = message
        super().__init__(
            f"{endpoint}: the API refused the request (code {code}): {message}. "
            "Check HAIER_CUSTOMER_CODE, HAIER_SEND_TO_CODE and the passwords "
            "(HAIER_PASSWORD, HAIER_SELLER_PASSWORD, HAIER_CUSTOMER_PASSWORD)."
        )
