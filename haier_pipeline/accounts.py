"""A dealer account's name: it keys every row of the warehouse, and names the account's assets, pools and runs."""

from __future__ import annotations

import re

# The one account of a setup without an accounts file, and of the rows written before accounts existed.
DEFAULT_ACCOUNT = "default"
ACCOUNT_NAME = re.compile(r"[a-z0-9_]{1,40}")


def account_key(prefix: str, account: str) -> str:
    """A resource's, pool's or sensor's name for the account: the `default` account keeps the name it always had."""
    return prefix if account == DEFAULT_ACCOUNT else f"{prefix}_{account}"


def for_account(message: str, account: str) -> str:
    """An error naming HAIER_* variables, for an account of the accounts file, where each may be set elsewhere."""
    if account == DEFAULT_ACCOUNT or "HAIER_" not in message:
        return message
    return (
        f"{message.rstrip()} (account {account}: its secrets are HAIER_{account.upper()}_<NAME>, else HAIER_<NAME>; "
        f"its other settings are in [account.{account}] of HAIER_ACCOUNTS_FILE, else [defaults], else HAIER_<NAME>)"
    )
