"""The deterministic business data behind the simulator.

Everything is derived from (seed, product count) plus the business day and, for stock, the county:
two simulators with the same knobs answer the same rows, so tests can predict answers by asking
this module instead of hard-coding them. Day-dependent parts are computed lazily and cached.
"""

from __future__ import annotations

import random
import threading
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

CENT = Decimal("0.01")
ZERO = Decimal("0.00")

NOT_PROCURABLE_REASON = "商品暂不可采"
PRICE_NOT_IN_EFFECT_REASON = "价格未生效"

# The document's own example, kept as the first product so the docs' sample call works verbatim.
EXAMPLE_CODE = "GA0SZC00U"
EXAMPLE_MODEL = "EC6001-HT3"

# Models meant to break naive SQL/CSV/JSON handling; each is exactly reproduced by a round trip.
TRICKY_MODELS = (
    "EC6001-HT3'Plus",
    'LU65X81"Pro"',
    "BCD-470;WGHTD",
    "卡萨帝'云鼎\"系列; 冰箱",
)

# (group, code prefix, weight, lowest and highest supply price in yuan)
GROUPS: tuple[tuple[str, str, int, int, int], ...] = (
    ("冰箱", "BB", 20, 1800, 12000),
    ("洗衣机", "CE", 18, 1200, 8000),
    ("空调", "AA", 16, 2200, 9000),
    ("电热水器", "GA", 10, 800, 3500),
    ("燃气热水器", "JA", 6, 1500, 5000),
    ("彩电", "LU", 10, 1500, 12000),
    ("油烟机", "JV", 8, 1200, 5000),
    ("燃气灶", "JZ", 6, 600, 2500),
    ("洗碗机", "WE", 3, 2500, 7000),
    ("冷柜", "BD", 3, 900, 3000),
)
BRANDS = (("海尔", 60), ("卡萨帝", 20), ("统帅", 10), ("Leader", 10))
NO_SALES_REASONS = ("产品未投放", "产品未投放", "产品未投放", "产品已退市")
IMAGE_HOST = "https://img.haier-sim.invalid"

ORDER_CODES = ("SO.20190106.000003", "SO.20250612.004217", "SO.20250701.010388")

_LETTERS = "ABCDEFGHJKLMNPQRSTUVWXYZ"


def rng_for(*parts: object) -> random.Random:
    """A generator seeded by the parts' text: stable across processes (no hash randomisation)."""
    return random.Random("|".join(str(part) for part in parts))


def money(value: Decimal | float | int | str) -> Decimal:
    return Decimal(value).quantize(CENT, rounding=ROUND_HALF_UP)


@dataclass(frozen=True)
class Product:
    code: str
    model: str
    group: str
    brand: str
    image_url: str
    leaflet_urls: tuple[str, ...]
    is_sales: bool
    no_sales_reason: str | None
    price_in_effect: bool
    base_price: Decimal
    market_markup: Decimal | None

    def row(self) -> dict[str, Any]:
        return {
            "productCode": self.code,
            "productModel": self.model,
            "productGroupNamd": self.group,
            "productBrandName": self.brand,
            "productImageUrl": self.image_url,
            "productLageUrls": list(self.leaflet_urls),
            "isSales": "1" if self.is_sales else "0",
            "noSalesReason": self.no_sales_reason,
        }


def _model_for(group: str, rng: random.Random) -> str:
    c = rng.choice
    if group == "冰箱":
        return f"BCD-{c([218, 252, 335, 470, 510, 521, 650])}{c(['WDPW', 'WGHTDEDS9', 'WLHFD7DS9', 'WDCI'])}"
    if group == "洗衣机":
        series = c(["HB", "MATE", "BD"])
        return f"{c(['EG', 'XQG', 'G'])}{c([80, 90, 100, 120])}{series}{rng.randint(10, 99)}S"
    if group == "空调":
        series = c(["KBB", "PAA", "XDA"])
        return f"KFR-{c([26, 35, 50, 72])}{c(['GW', 'LW'])}/{rng.randint(1, 99):02d}{series}81U1"
    if group == "电热水器":
        return f"EC{c([5001, 6001, 6002, 8001])}-{c(['HT3', 'GD5', 'MC3', 'JA5'])}"
    if group == "燃气热水器":
        return f"JSQ{c([25, 30, 31])}-{c(['13', '16'])}{c(['WN3S', 'JM6', 'TE7'])}(12T)"
    if group == "彩电":
        return f"LU{c([43, 50, 55, 65, 75, 85])}{c(['C51', 'X81', 'J71', 'R5'])}"
    if group == "油烟机":
        return f"CXW-{c([200, 219, 258])}-{c(['E900C6J', 'C12', 'ET902'])}"
    if group == "燃气灶":
        return f"JZT-{c(['Q2BE', 'QE5B0', 'Q8'])}(12T)"
    if group == "洗碗机":
        return f"EW{c([13, 15])}{rng.randint(100, 999)}{c(['S', 'BK'])}"
    return f"BC/BD-{c([102, 143, 203, 301])}{c(['HTD', 'HCZ', 'GHB'])}"


def _code_for(prefix: str, rng: random.Random) -> str:
    letters = "".join(rng.choice(_LETTERS) for _ in range(3))
    return f"{prefix}{rng.randint(0, 9)}{letters}{rng.randint(0, 99):02d}{rng.choice(_LETTERS)}"


def _share(total: int, fraction: float) -> int:
    # At least one of each kind once the catalog is big enough to need tests for it.
    count = round(total * fraction)
    return max(count, 1) if total >= 10 else count


class Dataset:
    """Catalog, prices, stock, logistics and balances for one (seed, product count)."""

    def __init__(self, seed: int, size: int) -> None:
        self.seed = seed
        self.size = size
        self._lock = threading.Lock()
        self._prices: dict[date, dict[str, dict[str, Any]]] = {}
        self.products: list[Product] = self._build_catalog()
        self.by_code: dict[str, Product] = {p.code: p for p in self.products}
        self.codes: list[str] = [p.code for p in self.products]
        self.not_procurable_codes: list[str] = [p.code for p in self.products if not p.is_sales]
        self.price_not_in_effect_codes: list[str] = [
            p.code for p in self.products if p.is_sales and not p.price_in_effect
        ]
        self.procurable_codes: list[str] = [p.code for p in self.products if p.is_sales]
        self.priced_codes: list[str] = [p.code for p in self.products if p.is_sales and p.price_in_effect]
        self.tricky_codes: list[str] = [p.code for p in self.products if p.model in TRICKY_MODELS]
        self.duplicate_codes: list[str] = self._pick_duplicates()
        self.order_codes: tuple[str, ...] = ORDER_CODES

    # ---- catalog -------------------------------------------------------------------------------
    def _build_catalog(self) -> list[Product]:
        rng = rng_for("catalog", self.seed)
        weights = [g[2] for g in GROUPS]
        seen: set[str] = set()
        drafts: list[dict[str, Any]] = []
        for index in range(self.size):
            group, prefix, _, low, high = rng.choices(GROUPS, weights)[0]
            brand = rng.choices([b[0] for b in BRANDS], [b[1] for b in BRANDS])[0]
            model = _model_for(group, rng)
            if index == 0:
                group, prefix, low, high, brand, model = "电热水器", "GA", 800, 3500, "海尔", EXAMPLE_MODEL
                code = EXAMPLE_CODE
            else:
                code = _code_for(prefix, rng)
                while code in seen:
                    code = _code_for(prefix, rng)
            seen.add(code)
            price = Decimal(rng.randint(low * 10, high * 10)) / 10
            if brand == "卡萨帝":
                price *= Decimal("1.8")
            leaflets = tuple(f"{IMAGE_HOST}/products/{code}/detail-{n}.jpg" for n in range(rng.randint(0, 4)))
            markup = Decimal(rng.choice(["1.15", "1.25", "1.35"])) if rng.random() < 0.6 else None
            drafts.append(
                {
                    "code": code,
                    "model": model,
                    "group": group,
                    "brand": brand,
                    "image_url": f"{IMAGE_HOST}/products/{code}/main.jpg",
                    "leaflet_urls": leaflets,
                    "is_sales": True,
                    "no_sales_reason": None,
                    "price_in_effect": True,
                    "base_price": money(price),
                    "market_markup": markup,
                }
            )
        # Special roles go to distinct products (never the documented example at index 0).
        pool = list(range(1, self.size))
        rng.shuffle(pool)
        n_not_sales = _share(self.size, 0.08)
        n_no_price = _share(self.size, 0.05)
        for i in pool[:n_not_sales]:
            drafts[i]["is_sales"] = False
            drafts[i]["no_sales_reason"] = rng.choice(NO_SALES_REASONS)
        for i in pool[n_not_sales : n_not_sales + n_no_price]:
            drafts[i]["price_in_effect"] = False
        start = n_not_sales + n_no_price
        for i, model in zip(pool[start : start + len(TRICKY_MODELS)], TRICKY_MODELS, strict=False):
            drafts[i]["model"] = model
        return [Product(**d) for d in drafts]

    def _pick_duplicates(self) -> list[str]:
        # From the first half of the catalog so that hiding the tail keeps them listed.
        rng = rng_for("duplicates", self.seed)
        candidates = [c for c in self.codes[1 : max(2, self.size // 2)] if c not in self.tricky_codes]
        return rng.sample(candidates, min(len(candidates), rng.choice([2, 3])))

    def visible_codes(self, hidden: int = 0) -> list[str]:
        """Catalog codes the listing shows when the last `hidden` products are withheld."""
        return self.codes[: max(0, self.size - hidden)]

    def hidden_codes(self, hidden: int) -> list[str]:
        return self.codes[max(0, self.size - hidden) :]

    def listing(self, hidden: int = 0, *, everything: bool = False) -> list[dict[str, Any]]:
        """The answer without codes: the visible procurable products in catalog order, some of them twice (§1: "omit
        it to list every procurable product"); `everything` lists the products not procurable too (isSales "0")."""
        visible = self.visible_codes(hidden)
        rows = [self.by_code[c].row() for c in visible]
        rng = rng_for("duplicate-positions", self.seed, hidden)
        for code in self.duplicate_codes:
            if code in visible:
                position = visible.index(code)
                rows.insert(rng.randint(position + 1, len(rows)), self.by_code[code].row())
        return rows if everything else [row for row in rows if row["isSales"] == "1"]

    def product_rows(self, codes: list[str], hidden: int = 0) -> list[dict[str, Any]]:
        """The filtered answer: one row per asked code that is listed; unknown codes are left out."""
        visible = set(self.visible_codes(hidden))
        return [self.by_code[c].row() for c in codes if c in visible]

    # ---- prices --------------------------------------------------------------------------------
    def prices(self, day: date) -> dict[str, dict[str, Any]]:
        """One price row per catalog product for `day` (cached: rows must be treated as read-only)."""
        with self._lock:
            cached = self._prices.get(day)
        if cached is None:
            cached = {p.code: self._price_row(p, day) for p in self.products}
            with self._lock:
                if len(self._prices) > 64:
                    self._prices.clear()
                self._prices[day] = cached
        return cached

    def price_row(self, code: str, day: date) -> dict[str, Any]:
        row = self.prices(day).get(code)
        return row if row is not None else not_procurable_price(code)

    def price_version_day(self, code: str, day: date) -> date | None:
        """The last day on or before `day` when the product's price changed (~10 % of days)."""
        for back in range(120):
            candidate = day - timedelta(days=back)
            if rng_for("price-change", self.seed, code, candidate.isoformat()).random() < 0.10:
                return candidate
        return None

    def _price_row(self, product: Product, day: date) -> dict[str, Any]:
        if not product.is_sales:
            return not_procurable_price(product.code)
        if not product.price_in_effect:
            return {
                "productCode": product.code,
                "stockRebatePolicy": 0,
                "rebateMoney": ZERO,
                "isSales": "0",
                "reason": PRICE_NOT_IN_EFFECT_REASON,
            }
        version = self.price_version_day(product.code, day)
        rng = rng_for("price", self.seed, product.code, version.isoformat() if version else "base")
        supply = product.base_price
        if version is not None:
            supply = money(supply * Decimal(rng.randint(900, 1100)) / 1000)
        policy = rng.choices([Decimal("0"), Decimal("0.03"), Decimal("0.05")], [70, 20, 10])[0]
        rebate = money(rng.choices([0, 20, 50, 100], [75, 10, 10, 5])[0])
        row: dict[str, Any] = {
            "productCode": product.code,
            "supplyPrice": supply,
            "invoicePrice": money(supply * (1 - policy) - rebate),
            "stockRebatePolicy": policy if policy else 0,
            "rebateMoney": rebate,
            "isSales": "1",
            "reason": None,
        }
        if policy:
            # The vendor's rebate type; the document files it under stockRebatePolicy, reality does not.
            row["rebateType"] = rng.choice(["COM", "FHQ", "BF", "DTDBF"])
        if product.market_markup is not None:
            row["marketPrice"] = money((supply * product.market_markup / 100).to_integral_value() * 100 - 1)
        return row

    # ---- stock ---------------------------------------------------------------------------------
    def stock_rows(self, code: str, county: str, day: date) -> list[dict[str, Any]]:
        """Warehouse rows for (product, county, day), derived from the seed each time (30 µs). Not cached: a cache
        growing by one entry per pair made the gateway pause 0.2 s in full garbage collections during a 55,000-call
        sync, and count the requests that queued meanwhile as a burst over the limit."""
        product = self.by_code.get(code)
        if product is None or not product.is_sales:
            return []
        pair = rng_for("stock-pair", self.seed, code, county)
        if pair.random() < 0.25:
            return []
        count = pair.choices([1, 2, 3], [50, 35, 15])[0]
        rows = []
        for n in range(count):
            place = rng_for("stock-row", self.seed, code, county, n)
            today = rng_for("stock-day", self.seed, code, county, n, day.isoformat())
            base = place.randint(0, 120)
            quantity = base if today.random() < 0.5 else today.randint(0, 150)
            local = n == 0
            hours = place.choice([24, 48]) if local else place.choice([48, 72, 96])
            rows.append(
                {
                    "secCode": f"{place.choice(_LETTERS)}{place.randint(1, 9)}"
                    f"{place.choice(_LETTERS)}{place.randint(1, 9)}",
                    "stock": str(quantity),
                    "warehouseGrade": "0" if local else "1",
                    "timelinessData": {
                        "cutTime": place.choice(["12:00", "16:00", "17:00", "18:30"]),
                        "achieveUserOrderCut": (day + timedelta(days=hours // 24)).isoformat(),
                        "hour": str(hours),
                        "isTranfer": "0" if local or place.random() < 0.2 else "1",
                    },
                }
            )
        return rows

    # ---- logistics and balance -----------------------------------------------------------------
    def logistics(self, order_code: str) -> dict[str, list[dict[str, Any]]]:
        return _logistics(order_code)

    def balances(self, customer_code: str) -> list[dict[str, Any]]:
        rng = rng_for("balance", self.seed, customer_code)
        return [
            {
                "saleGroupCode": "GA01",
                "saleGroupName": "海尔智家股份有限公司-家电销售组织",
                "payerAccountCode": customer_code,
                "payerAccountName": "北京海联家电销售有限公司",
                "payerAccountBalance": money(Decimal(rng.randint(1_000_000, 50_000_000)) / 100),
            },
            {
                "saleGroupCode": "GC02",
                "saleGroupName": "卡萨帝高端品牌销售组织",
                "payerAccountCode": customer_code,
                "payerAccountName": "北京海联家电销售有限公司",
                "payerAccountBalance": money(Decimal(rng.randint(0, 5_000_000)) / 100),
            },
        ]


def not_procurable_price(code: str) -> dict[str, Any]:
    return {
        "productCode": code,
        "supplyPrice": None,
        "invoicePrice": None,
        "stockRebatePolicy": 0,
        "rebateMoney": ZERO,
        "isSales": "0",
        "reason": NOT_PROCURABLE_REASON,
    }


def _logistics(order_code: str) -> dict[str, list[dict[str, Any]]]:
    empty: dict[str, list[dict[str, Any]]] = {
        "getAllLogisticsInfoByOrderCode": [],
        "getStockDeliveryLogisticsRecord": [],
        "getStockDeliveryLogisticsRecordThirdparty": [],
    }
    if order_code not in ORDER_CODES:
        return empty
    digits = order_code.split(".")[1]
    day = date(int(digits[:4]), int(digits[4:6]), int(digits[6:8]))
    delivery = f"{order_code}.F1"

    def at(days: int, clock: str) -> str:
        return f"{(day + timedelta(days=days)).isoformat()} {clock}"

    unified = [
        {
            "orderCode": order_code,
            "deliveryRecordCode": delivery,
            "warehouseName": "青岛黄岛统仓",
            "operateTime": at(0, "18:20:05"),
            "operateDesc": "【青岛黄岛统仓】订单已审核，等待出库",
            "logisticsStatus": "已审核",
        },
        {
            "orderCode": order_code,
            "deliveryRecordCode": delivery,
            "warehouseName": "青岛黄岛统仓",
            "operateTime": at(1, "09:41:37"),
            "operateDesc": "【青岛黄岛统仓】已出库，交由日日顺物流配送",
            "logisticsStatus": "已出库",
        },
    ]
    records = [
        {
            "deliveryRecordCode": delivery,
            "carrierName": "日日顺物流",
            "waybillNo": f"RRS{digits}{order_code[-6:]}",
            "nodeName": "干线运输",
            "nodeTime": at(1, "14:02:11"),
            "remark": "车辆已发出，预计次日到达网点",
        },
        {
            "deliveryRecordCode": delivery,
            "carrierName": "日日顺物流",
            "waybillNo": f"RRS{digits}{order_code[-6:]}",
            "nodeName": "已签收",
            "nodeTime": at(3, "10:15:48"),
            "remark": "客户本人签收；安装师傅：王师傅 138****5521",
        },
    ]
    thirdparty = [
        {
            "deliveryRecordCode": delivery,
            "expressCompany": "顺丰速运",
            "expressNo": f"SF{digits}{order_code[-4:]}",
            "traces": [
                {"time": at(1, "20:11:00"), "context": "快件已发车"},
                {"time": at(2, "08:30:12"), "context": "快件到达【北京顺义集散中心】"},
                {"time": at(2, "16:45:03"), "context": "快件已签收，签收人：前台"},
            ],
        }
    ]
    if order_code == ORDER_CODES[2]:
        # A fresh order: out of the warehouse, not yet handed to any courier.
        return {**empty, "getAllLogisticsInfoByOrderCode": unified}
    return {
        "getAllLogisticsInfoByOrderCode": unified,
        "getStockDeliveryLogisticsRecord": records,
        "getStockDeliveryLogisticsRecordThirdparty": thirdparty,
    }


# ---- malformed rows for quarantine tests --------------------------------------------------------
def is_bad_row(seed: int, rate: float, *key: object) -> bool:
    """Whether the row identified by `key` is served malformed at this rate (stable per key)."""
    return rate > 0 and rng_for("bad-row", seed, *key).random() < rate


def corrupt_product(row: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in row.items() if k != "productCode"}


def corrupt_price(row: dict[str, Any]) -> dict[str, Any]:
    return {**row, "supplyPrice": "abc"}


def corrupt_stock(row: dict[str, Any]) -> dict[str, Any]:
    return {**row, "stock": "N/A"}


_CACHE: dict[tuple[int, int], Dataset] = {}
_CACHE_LOCK = threading.Lock()


def dataset_for(seed: int, products: int) -> Dataset:
    """The dataset a simulator with this seed and catalog size serves (shared and cached)."""
    key = (seed, products)
    with _CACHE_LOCK:
        found = _CACHE.get(key)
        if found is None:
            if len(_CACHE) > 16:
                _CACHE.clear()
            found = _CACHE[key] = Dataset(*key)
        return found
