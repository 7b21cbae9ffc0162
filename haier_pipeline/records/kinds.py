"""Value kinds: how one vendor value is read, what column type stores it, and which stored values are valid.

`read` is total: it returns a value the column accepts, None for "not given", or raises `Invalid` with a
reason a person can act on. `arrow_type` is the typed column the parse builds from the values read, which the gate
checks and the warehouse stores as they are. It never lets a value through that the database would refuse (out of range,
a NUL character, text that is not valid unicode), so a load never fails on a value that passed here.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from decimal import Context, Decimal, InvalidOperation
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
import pyarrow as pa
from sqlalchemy import BigInteger, Boolean, Date, DateTime, Integer, Numeric, Text
from sqlalchemy.types import TypeEngine

SHANGHAI = ZoneInfo("Asia/Shanghai")
INT32_MAX = 2**31 - 1
_WIDE = Context(prec=80)
# Epoch timestamps in milliseconds from 2001 to 2286; the vendor's Java services send dates this way too.
_EPOCH_MS = (10**12, 10**13)
_CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")


class Invalid(ValueError):
    """A value that cannot be read as its kind; the message says why, `value` is what was read."""

    def __init__(self, reason: str, value: Any = None) -> None:
        super().__init__(reason)
        self.value = value


def is_missing(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def has_cjk(value: Any) -> bool:
    return isinstance(value, str) and _CJK.search(value) is not None


def storable_text(text: str) -> str:
    """Both databases refuse NUL in text and lone surrogates (they are not UTF-8)."""
    if "\x00" in text:
        raise Invalid("contains a NUL character")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise Invalid("is not valid unicode") from None
    return text


def _number(value: Any) -> Decimal:
    if isinstance(value, np.generic):  # numpy scalars, as pandas hands them out
        value = value.item()
    if isinstance(value, bool):
        raise Invalid("is a boolean, not a number")
    if isinstance(value, Decimal | int):
        number = Decimal(value)
    elif isinstance(value, float):
        number = Decimal(repr(value))  # the shortest text that round-trips: 0.1 stays 0.1
    elif isinstance(value, str):
        try:
            number = Decimal(value.strip())
        except InvalidOperation:
            raise Invalid("is not a number") from None
    else:
        raise Invalid(f"is a {type(value).__name__}, not a number")
    if not number.is_finite():
        raise Invalid("is not a finite number")
    return number


def _without_double_noise(number: Decimal, scale: int) -> Decimal | None:
    """`number` rounded to `scale` places when it is binary floating-point arithmetic printed in full, as a Java
    service prints 1299 x (1 - 0.035): 1253.5349999999999 for 1253.535; None when its digits past `scale` are real.
    Such a number has 15 or more significant digits and lies within a few units in the last place of a double from
    its rounding; a number with real digits past `scale` (1253.53501) lies farther."""
    if len(number.normalize(_WIDE).as_tuple().digits) < 15:
        return None
    rounded = number.quantize(Decimal(1).scaleb(-scale), context=_WIDE)
    # Near zero a double's spacing is tiny, but arithmetic leaves residues of its operands' size (0.1 + 0.2 - 0.3).
    noise = max(4 * Decimal(math.ulp(float(rounded))), Decimal("1e-12"))
    # Only where a double is finer than half the last kept place: beyond, its digits past `scale` could be real.
    if noise < Decimal(1).scaleb(-scale) / 2 and abs(number - rounded) <= noise:
        return rounded.copy_abs() if rounded.is_zero() else rounded  # -1.1e-16 is 0, not -0
    return None


@dataclass(frozen=True)
class Kind:
    name: str

    def read(self, value: Any) -> Any:
        raise NotImplementedError

    def sql_type(self) -> TypeEngine:
        raise NotImplementedError

    def arrow_type(self) -> pa.DataType:
        raise NotImplementedError

    def accepts(self, value: Any) -> bool:
        """Whether a stored (already read) value is of this kind: the pandera gate's element check."""
        if value is None:
            return True
        try:
            return self.read(value) == value
        except Invalid:
            return False


@dataclass(frozen=True)
class TextKind(Kind):
    pattern: str | None = None

    def read(self, value: Any) -> str | None:
        if is_missing(value):
            return None
        if isinstance(value, bool) or not isinstance(value, str | int | Decimal):
            raise Invalid(f"is a {type(value).__name__}, not text")
        text = storable_text(value.strip() if isinstance(value, str) else str(value))
        if self.pattern is not None and not re.fullmatch(self.pattern, text):
            raise Invalid(f"does not look like a {self.name}")
        return text

    def sql_type(self) -> TypeEngine:
        return Text()

    def arrow_type(self) -> pa.DataType:
        return pa.string()


@dataclass(frozen=True)
class DecimalKind(Kind):
    precision: int = 18
    scale: int = 4
    minimum: Decimal | None = None
    maximum: Decimal | None = None

    def read(self, value: Any) -> Decimal | None:
        if is_missing(value):
            return None
        number = _number(value)
        if not number.is_zero() and number.adjusted() >= self.precision - self.scale:
            raise Invalid(f"is out of range for NUMERIC({self.precision}, {self.scale})")
        if number.normalize(_WIDE).as_tuple().exponent < -self.scale:  # type: ignore[operator]
            # Rounded before the range checks: 1.0000000000000002 is 1, not above it.
            rounded = _without_double_noise(number, self.scale)
            if rounded is None:
                raise Invalid(f"has more than {self.scale} decimal places")
            number = rounded
        if self.minimum is not None and number < self.minimum:
            raise Invalid(f"is below {self.minimum}")
        if self.maximum is not None and number > self.maximum:
            raise Invalid(f"is above {self.maximum}")
        return number.quantize(Decimal(1).scaleb(-self.scale), context=_WIDE)

    def sql_type(self) -> TypeEngine:
        return Numeric(self.precision, self.scale)

    def arrow_type(self) -> pa.DataType:
        return pa.decimal128(self.precision, self.scale)


@dataclass(frozen=True)
class IntegerKind(Kind):
    minimum: int = 0
    maximum: int = INT32_MAX

    def read(self, value: Any) -> int | None:
        if is_missing(value):
            return None
        number = _number(value)
        # Range before int(): "1e999999999" must not become a billion-digit integer.
        if not number.is_zero() and number.adjusted() > len(str(self.maximum)):
            raise Invalid(f"is out of range ({self.minimum} to {self.maximum})")
        if number != number.to_integral_value():
            raise Invalid("is not a whole number")
        whole = int(number)
        if not self.minimum <= whole <= self.maximum:
            raise Invalid(f"is out of range ({self.minimum} to {self.maximum})")
        return whole

    def sql_type(self) -> TypeEngine:
        return Integer() if self.maximum <= INT32_MAX else BigInteger()

    def arrow_type(self) -> pa.DataType:
        return pa.int32() if self.maximum <= INT32_MAX else pa.int64()


@dataclass(frozen=True)
class FlagKind(Kind):
    def read(self, value: Any) -> bool | None:
        if is_missing(value):
            return None
        key = value.strip() if isinstance(value, str) else value
        if isinstance(key, bool):
            return key
        # A signalling NaN raises on any comparison, `in` included: refused before it is compared.
        if isinstance(key, Decimal) and key.is_nan():
            raise Invalid('is not "1" or "0"')
        if key in ("1", 1):
            return True
        if key in ("0", 0):
            return False
        raise Invalid('is not "1" or "0"')

    def sql_type(self) -> TypeEngine:
        return Boolean()

    def arrow_type(self) -> pa.DataType:
        return pa.bool_()


_UNPADDED_DAY = re.compile(r"^(\d{4})-(\d{1,2})-(\d{1,2})(?=$|[ T])")


@dataclass(frozen=True)
class DayKind(Kind):
    """A calendar day in Asia/Shanghai. A time with a zone is converted to Shanghai before the date is
    taken (a UTC evening is the next Shanghai day); a time without a zone is already Shanghai's."""

    def read(self, value: Any) -> date | None:
        if is_missing(value):
            return None
        if isinstance(value, datetime):
            # A naive midnight is what pandas makes of a date; any other time would be lost.
            if value.tzinfo is None and value.time() == time(0):
                return value.date()
            raise Invalid("is a datetime with a time or a zone, not a date")
        if isinstance(value, date):
            return value
        if isinstance(value, int | Decimal) and not isinstance(value, bool):
            if not (Decimal(value).is_finite() and _EPOCH_MS[0] <= value < _EPOCH_MS[1]):
                raise Invalid("is a number, not a date or a millisecond timestamp")
            return datetime.fromtimestamp(int(value) / 1000, UTC).astimezone(SHANGHAI).date()
        if not isinstance(value, str):
            raise Invalid(f"is a {type(value).__name__}, not a date")
        text = value.strip().replace("/", "-")
        if text.isascii() and text.isdigit() and len(text) == 13:  # milliseconds sent as text
            return self.read(int(text))
        # 2026-1-5 and 2026/1/5: the month and day without their leading zero.
        text = _UNPADDED_DAY.sub(lambda m: f"{m[1]}-{int(m[2]):02d}-{int(m[3]):02d}", text, count=1)
        try:
            moment = datetime.fromisoformat(text)
            return moment.astimezone(SHANGHAI).date() if moment.tzinfo else moment.date()
        except (ValueError, OverflowError):
            raise Invalid("is not a date (YYYY-MM-DD, optionally with a time and zone)") from None

    def sql_type(self) -> TypeEngine:
        return Date()

    def arrow_type(self) -> pa.DataType:
        return pa.date32()


@dataclass(frozen=True)
class MomentKind(Kind):
    """A timezone-aware instant; set by the pipeline, never read from the vendor."""

    def read(self, value: Any) -> datetime | None:
        if value is None:
            return None
        if not isinstance(value, datetime):
            raise Invalid("is not a datetime")
        if value.tzinfo is None or value.utcoffset() is None:
            raise Invalid("is a naive datetime: a timezone is required")
        if isinstance(value, pd.Timestamp):
            value = value.to_pydatetime(warn=False)
        return value.astimezone(UTC)

    def sql_type(self) -> TypeEngine:
        return DateTime(timezone=True)

    def arrow_type(self) -> pa.DataType:
        return pa.timestamp("us", tz="UTC")


@dataclass(frozen=True)
class JsonKind(Kind):
    """Any JSON value, stored as its text. `url_list` insists on a list of URLs (one URL is a list of one)."""

    url_list: bool = False

    def read(self, value: Any) -> str | None:
        if value is None or value == []:
            return None
        if self.url_list:
            items = _url_items(value) if isinstance(value, str) else value
            if items == []:  # "", "[]": no URL, as a real [] is
                return None
            if not isinstance(items, list) or not all(isinstance(item, str) and item.strip() for item in items):
                raise Invalid("is not a list of URLs")
            value = [storable_text(item.strip()) for item in items]
        try:
            text = json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)
        except (RecursionError, TypeError, ValueError):
            raise Invalid("cannot be stored as JSON text (nested too deeply)") from None
        try:
            return storable_text(text)
        except Invalid:
            return json.dumps(value, sort_keys=True, default=str)  # \u escapes: plain ASCII, always storable

    def accepts(self, value: Any) -> bool:
        try:
            return value is None or (isinstance(value, str) and storable_text(value) == value)
        except Invalid:
            return False

    def sql_type(self) -> TypeEngine:
        return Text()

    def arrow_type(self) -> pa.DataType:
        return pa.string()


def _url_items(text: str) -> Any:
    """URLs sent as one string: a JSON list in text, several joined by commas or spaces, or just one."""
    text = text.strip()
    if text.startswith("["):
        try:
            return json.loads(text)
        except ValueError:
            pass
    return [part for part in _BEFORE_A_URL.split(text) if part]


# A separator followed by the next URL; a comma inside a URL is left alone.
_BEFORE_A_URL = re.compile(r"[\s,;]+(?=https?://)")

TEXT = TextKind("text")
PRODUCT_CODE = TextKind("product code", pattern=r"[A-Za-z0-9][A-Za-z0-9._-]{0,39}")
# [0-9], not \d: \d takes any script's digits (full-width ３), which the API refuses.
COUNTY_CODE = TextKind("6-digit county code", pattern=r"[0-9]{6}")
REBATE_TYPE = TextKind("rebate type code", pattern=r"[A-Z]{2,6}")
# A logistics member id: a whole number of 1 or more in ASCII digits (str.isdigit and int() also take ３ and ²).
MEMBER_ID = TextKind("member id", pattern=r"0*[1-9][0-9]*")
WAREHOUSE_GRADE = TextKind('warehouse grade ("0" local, "1" upper level)', pattern=r"[01]")
PRICE = DecimalKind("price", 18, 4, minimum=Decimal(0))
AMOUNT = DecimalKind("amount", 18, 4)
FRACTION = DecimalKind("fraction", 12, 6, minimum=Decimal(0), maximum=Decimal(1))
COUNT = IntegerKind("count")
BIG_COUNT = IntegerKind("count", maximum=2**63 - 1)
FLAG = FlagKind("flag")
DAY = DayKind("date")
MOMENT = MomentKind("timestamp")
JSON = JsonKind("JSON")
URL_LIST = JsonKind("URL list", url_list=True)
