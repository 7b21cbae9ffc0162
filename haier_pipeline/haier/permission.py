"""A permission the gateway does not grant: told apart from a dead token and from a refusal of one item (issue 25)."""

from __future__ import annotations

from haier_pipeline.haier.errors import HaierRequestError


class HaierPermissionError(HaierRequestError):
    """The gateway answers, and refuses this machine or client id the endpoint: a 403 (IP not whitelisted, interface
    not granted), or a 401 on one endpoint for tokens the other endpoints accept. Asking again, with this token or a
    new one, will not help: not retried, and it stops a whole fan-out at its first answer instead of being refused
    item by item."""

    def __init__(self, endpoint: str, status: int, detail: str, hint: str) -> None:
        super().__init__(endpoint, status, detail, hint, transient=False)


def forbidden_hint(endpoint: str) -> str:
    return (
        f"No permission (HTTP 403): the gateway refuses this machine or client the {endpoint} interface. Ask Haier to "
        "whitelist this machine's public IP for the account and to grant HAIER_CLIENT_ID this interface; not retried"
    )


def unauthorized_hint(endpoint: str, others: list[str]) -> str:
    accepting = ", ".join(others) or "other endpoints"
    return (
        f"The same client's tokens are accepted by {accepting} but refused by {endpoint}: HAIER_CLIENT_ID lacks "
        f"permission for the {endpoint} interface, and a new token will not help. Ask Haier to grant it"
    )
