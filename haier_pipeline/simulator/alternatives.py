"""First contact (issue 25): answers the vendor's document does not rule out, each behind a switch of SimulatorConfig,
so that tests prove the client reads both forms. The request-side switches (the listing requiring productCodes, error
statuses in the body, the token URL's login page, the accepted Authorization form, refused endpoints) live in
app.py; the data-side ones rewrite a payload here."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from haier_pipeline.simulator.config import SimulatorConfig
from haier_pipeline.simulator.dataset import money

NUMERAL_DIGITS = "零一二三四五六七八九"
NUMERAL_UNITS = (("千", 1000), ("百", 100), ("十", 10), ("", 1))
NUMERAL_GROUPS = ("", "万", "亿")
NO_MARKET_PRICE = "暂无"
PERCENT_DISCOUNT = Decimal("0.05")

LOGIN_PAGE = (
    '<!DOCTYPE html><html><head><meta charset="utf-8"><title>海尔开放平台 - 登录</title></head>'
    '<body><form method="post" action="/oauth2/auth"><input name="username"><input name="password" '
    'type="password"><button>登录</button></form></body></html>'
).encode()


def chinese_numerals(value: Decimal) -> str:
    """An amount written in Chinese numerals, as a clerk types it: 1299.5 -> 一千二百九十九点五元."""
    whole, _, fraction = f"{abs(value):f}".partition(".")
    text = _whole_number(int(whole))
    fraction = fraction.rstrip("0")
    if fraction:
        text += "点" + "".join(NUMERAL_DIGITS[int(digit)] for digit in fraction)
    return ("负" if value < 0 else "") + text + "元"


def _whole_number(number: int) -> str:
    if number == 0:
        return NUMERAL_DIGITS[0]
    groups = []
    while number:
        groups.append(number % 10000)
        number //= 10000
    text = ""
    for index in reversed(range(len(groups))):
        group = groups[index]
        if group:
            if text and group < 1000:
                text += NUMERAL_DIGITS[0]
            text += _below_ten_thousand(group) + NUMERAL_GROUPS[index]
    return text


def _below_ten_thousand(number: int) -> str:
    text, zero = "", False
    for unit, power in NUMERAL_UNITS:
        digit = number // power % 10
        if digit:
            text += (NUMERAL_DIGITS[0] if zero else "") + NUMERAL_DIGITS[digit] + unit
            zero = False
        elif text:
            zero = True
    return text


def prices(rows: list[dict[str, Any]], config: SimulatorConfig) -> list[dict[str, Any]]:
    """Price rows with the switched products' values written otherwise."""
    if not (config.numeral_prices or config.text_market_prices or config.percent_discounts):
        return rows
    shaped = []
    for row in rows:
        code = row.get("productCode")
        row = dict(row)
        priced = isinstance(row.get("supplyPrice"), Decimal)
        if code in config.percent_discounts and priced:
            supply, rebate = row["supplyPrice"], row.get("rebateMoney") or Decimal(0)
            row["invoicePrice"] = money(supply * (1 - PERCENT_DISCOUNT) - rebate)
            row["stockRebatePolicy"] = f"{PERCENT_DISCOUNT * 100:f}".rstrip("0").rstrip(".") + "%"
            row.setdefault("rebateType", "COM")
        if code in config.text_market_prices:
            row["marketPrice"] = NO_MARKET_PRICE
        if code in config.numeral_prices and priced:
            row["supplyPrice"] = chinese_numerals(row["supplyPrice"])
        shaped.append(row)
    return shaped


def balances(rows: list[dict[str, Any]], config: SimulatorConfig) -> list[dict[str, Any]]:
    """With two_payer_accounts, the first sales organisation pays from a second payer account too."""
    if not config.two_payer_accounts or not rows:
        return rows
    first = rows[0]
    second = {
        **first,
        "payerAccountCode": f"{first['payerAccountCode']}01",
        "payerAccountName": f"{first['payerAccountName']}（工程）",
        "payerAccountBalance": money(Decimal(first["payerAccountBalance"]) / 3),
    }
    return [first, second, *rows[1:]]


def logistics(answer: dict[str, Any], config: SimulatorConfig, order_code: str) -> dict[str, Any]:
    """With logistics_extra_key, one more list the document does not name (as when the vendor adds or renames one)."""
    if not config.logistics_extra_key:
        return answer
    extra = [{"orderCode": order_code, "trackNo": f"TRK{order_code[-6:]}", "trackStatus": "运输中"}]
    return {**answer, config.logistics_extra_key: extra}
