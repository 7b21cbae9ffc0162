"""What to say of a permission the gateway does not grant (`HaierPermissionError`): told apart from a dead token and
from a refusal of one item (issue 25)."""

from __future__ import annotations


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
