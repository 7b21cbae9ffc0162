"""Shapes the vendor document does not rule out, each a knob: `quirks` names the ones on, `quirk_rate` is the
share of rows (or answers) each touches. Which rows a quirk touches is fixed by the seed and the row's
identity, so tests can ask `hits()` what the simulator sent instead of hard-coding it.
"""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from haier_pipeline.simulator.dataset import rng_for

QUIRKS: dict[str, str] = {
    "side_fields": 'stock rows with odd side fields: hour "24小时", a delivery date that is not a date, '
    "timelinessData sent as a string",
    "string_rows": "a listing, price or stock row sent as a string instead of an object",
    "scalar_answers": "a stock answer whose data is a number",
    "duplicates": "price and stock rows sent twice, identically or with another value",
    "text_prices": "supplyPrice sent as the text 价格未生效",
    "rebate_codes": "the rebate type code (COM, FHQ, BF, DTDBF) sent under stockRebatePolicy",
    "missing_is_sales": "listing rows without isSales",
    "zoned_times": "delivery dates sent as UTC times late in the evening (the next day in Shanghai)",
    "out_of_range": "values no column holds: a price of 12345678901234567.5, a stock of 3000000000 or -5, "
    "a discount of 3",
    "unknown_keys": "keys the document does not know, as when the vendor renames a field",
    "stray_rows": "a price answer that also carries a row, at 1.00, for a procurable product the call did not ask for",
}


def hits(seed: int, rate: float, enabled: tuple[str, ...], quirk: str, *key: object) -> bool:
    """Whether `quirk` touches the row (or answer) identified by `key`."""
    return quirk in enabled and rng_for("quirk", seed, quirk, *key).random() < rate


def _pick(seed: int, quirk: str, *key: object) -> float:
    return rng_for("quirk-variant", seed, quirk, *key).random()


def products(rows: list[dict[str, Any]], seed: int, rate: float, on: tuple[str, ...]) -> list[Any]:
    shaped: list[Any] = []
    for n, row in enumerate(rows):
        code = row.get("productCode")
        row = dict(row)
        if hits(seed, rate, on, "missing_is_sales", code):
            row.pop("isSales", None)
        if hits(seed, rate, on, "unknown_keys", code):
            row["productSeries"] = "云鼎系列"
        shaped.append(f"{code}|{row.get('productModel')}" if hits(seed, rate, on, "string_rows", code, n) else row)
    return shaped


def prices(
    rows: list[dict[str, Any]], seed: int, rate: float, on: tuple[str, ...], day: date, catalog: list[str]
) -> list[Any]:
    """`catalog`: the codes a stray row may be for (one the call did not ask for)."""
    shaped: list[Any] = []
    for row in rows:
        code, key = row.get("productCode"), day.isoformat()
        row = dict(row)
        if hits(seed, rate, on, "text_prices", code, key):
            row.update(supplyPrice="价格未生效", invoicePrice=None)
        if hits(seed, rate, on, "rebate_codes", code, key):
            row["stockRebatePolicy"] = row.pop("rebateType", None) or "COM"
        if hits(seed, rate, on, "out_of_range", code, key):
            if _pick(seed, "out_of_range", code, key) < 0.5:
                row["supplyPrice"] = Decimal("12345678901234567.5")
            else:
                row["stockRebatePolicy"] = 3
        if hits(seed, rate, on, "unknown_keys", code, key):
            row["priceVersion"] = "v2"
        if hits(seed, rate, on, "string_rows", code, key):
            shaped.append(f"{code}:{row.get('supplyPrice')}")
            continue
        shaped.append(row)
        if hits(seed, rate, on, "duplicates", code, key):
            identical = _pick(seed, "duplicates", code, key) < 0.5
            shaped.append(row if identical else {**row, "supplyPrice": Decimal("1.00")})
    asked = {row.get("productCode") for row in rows}
    if rows and hits(seed, rate, on, "stray_rows", *sorted(map(str, asked)), day.isoformat()):
        stray = stray_code(seed, day, asked, catalog)
        if stray is not None:
            shaped.append({**rows[0], "productCode": stray, "supplyPrice": Decimal("1.00")})
    return shaped


def stray_code(seed: int, day: date, asked: set[Any], catalog: list[str]) -> str | None:
    """The code of the stray row a price answer for `asked` carries (see the `stray_rows` quirk)."""
    others = [code for code in catalog if code not in asked]
    if not others:
        return None
    return others[int(_pick(seed, "stray_rows", *sorted(map(str, asked)), day.isoformat()) * len(others))]


def stock(
    rows: list[dict[str, Any]], seed: int, rate: float, on: tuple[str, ...], code: str, county: str, day: date
) -> Any:
    key = (code, county, day.isoformat())
    if hits(seed, rate, on, "scalar_answers", *key):
        return 42
    shaped: list[Any] = []
    for n, row in enumerate(rows):
        row = {**row, "timelinessData": dict(row.get("timelinessData") or {})}
        timeliness = row["timelinessData"]
        if hits(seed, rate, on, "zoned_times", *key, n) and timeliness.get("achieveUserOrderCut"):
            # 20:30 UTC the evening before is the early morning of the Shanghai day.
            shanghai_day = date.fromisoformat(timeliness["achieveUserOrderCut"])
            timeliness["achieveUserOrderCut"] = f"{shanghai_day - timedelta(days=1)}T20:30:00Z"
        if hits(seed, rate, on, "side_fields", *key, n):
            variant = _pick(seed, "side_fields", *key, n)
            if variant < 1 / 3:
                timeliness["hour"] = f"{timeliness.get('hour')}小时"
            elif variant < 2 / 3:
                timeliness["achieveUserOrderCut"] = "下周"
            else:
                row["timelinessData"] = f"{timeliness.get('hour')}h"
        if hits(seed, rate, on, "out_of_range", *key, n):
            row["stock"] = "3000000000" if _pick(seed, "out_of_range", *key, n) < 0.5 else "-5"
        if hits(seed, rate, on, "unknown_keys", *key, n):
            row["stockNew"] = row.get("stock")
        if hits(seed, rate, on, "string_rows", *key, n):
            shaped.append(f"{row.get('secCode')}:{row.get('stock')}")
            continue
        shaped.append(row)
        if hits(seed, rate, on, "duplicates", *key, n):
            identical = _pick(seed, "duplicates", *key, n) < 0.5
            shaped.append(row if identical else {**row, "stock": f"{row.get('stock')}7"})
    return shaped
