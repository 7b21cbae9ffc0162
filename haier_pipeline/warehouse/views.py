"""The analysts' views, created and upgraded with the tables (`Warehouse.ensure_schema`): answers that otherwise take a
hand-written join, the same columns on DuckDB and Postgres.

Each view is declared once: its grain and meaning, its key, its columns (kind and description, as a table's) and the
SELECT that computes them. Its SQL casts every column to its declared type, so the two backends agree on the types
(DuckDB sums integers into HUGEINT and divides decimals into DOUBLE), and an upgrade can tell a view that is out of
date by its columns alone. Its comment ends with a fingerprint of its SQL (`[definition …]`): a view whose comment
differs, a changed definition included, is replaced. Both databases keep a comment on a view and on each of its
columns (`COMMENT ON VIEW`, `COMMENT ON COLUMN`): DuckDB drops them when a view is replaced, so they are written
again each time.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from sqlalchemy.dialects import postgresql

from haier_pipeline.accounts import DEFAULT_ACCOUNT
from haier_pipeline.endpoints.declaration import Column
from haier_pipeline.records.kinds import AMOUNT, BIG_COUNT, COUNT, DAY, MOMENT, PRICE, TEXT, DecimalKind
from haier_pipeline.warehouse.sql import ident, literal, with_schema
from haier_pipeline.warehouse.tables import ACCOUNT

_DIALECT = postgresql.dialect()

PERCENT = DecimalKind("percent", 12, 2)

_ACCOUNT = Column(
    ACCOUNT,
    TEXT,
    f"The dealer account (HAIER_ACCOUNTS_FILE); '{DEFAULT_ACCOUNT}' for a single-account setup. Filter by it: "
    "every row belongs to one account.",
    nullable=False,
)
_PRODUCT = Column("product_code", TEXT, "Haier's internal product code, e.g. GA0SZC00U.", nullable=False)


@dataclass(frozen=True, eq=False)
class View:
    """A view of the warehouse: `select` computes `columns` by name (`{schema}` names the warehouse schema); `key`:
    the columns that identify a row (its grain)."""

    name: str
    comment: str
    key: tuple[str, ...]
    columns: tuple[Column, ...]
    select: str

    def sql(self, schema: str) -> str:
        """The view's query: `select` with every column cast to its declared type, in the declared order."""
        casts = ",\n       ".join(
            f"CAST({ident(column.name)} AS {column.kind.sql_type().compile(dialect=_DIALECT)}) AS {ident(column.name)}"
            for column in self.columns
        )
        return f"SELECT {casts}\nFROM ({with_schema(self.select.strip(), schema)}) AS {ident(self.name)}"

    @property
    def fingerprint(self) -> str:
        """Changes whenever the view's query does (the schema left as `{schema}`)."""
        return hashlib.sha256(self.sql("{schema}").encode()).hexdigest()[:12]

    @property
    def full_comment(self) -> str:
        return f"{self.comment} [definition {self.fingerprint}]"

    def comments(self) -> dict[str | None, str]:
        """The view's description (key None) and each column's, as the database keeps them."""
        return {None: self.full_comment, **{column.name: column.description for column in self.columns}}

    def column_type(self, name: str) -> str:
        column = next(column for column in self.columns if column.name == name)
        return str(column.kind.sql_type().compile(dialect=_DIALECT))


CURRENT_STOCK = View(
    name="current_stock",
    comment="Per (account, product, county): the newest stock day answered for the pair, its total over the "
    "warehouses answered, how many warehouse rows and when it was checked. Every pair ever answered, whether or not "
    "its county is still configured (catalog sums only the configured ones).",
    key=(ACCOUNT, "product_code", "county_code"),
    columns=(
        _ACCOUNT,
        _PRODUCT,
        Column("county_code", TEXT, "The 6-digit county code.", nullable=False),
        Column("snapshot_date", DAY, "The newest Asia/Shanghai day with an answer for this product and county."),
        Column(
            "total_stock",
            BIG_COUNT,
            "Units over the county's warehouses that day; 0 when checked and none (no warehouse serves it).",
        ),
        Column(
            "warehouses",
            COUNT,
            "Warehouse rows (storage locations, sec_code) answered that day; 0 when no warehouse serves the county.",
        ),
        Column("checked_at", MOMENT, "When that day's answer arrived (UTC)."),
    ),
    select="""
SELECT s.account, s.product_code, s.county_code, s.snapshot_date, sum(s.stock) AS total_stock,
       count(s.sec_code) AS warehouses, max(s.fetched_at) AS checked_at
FROM {schema}.stock_snapshots s
JOIN (SELECT account, product_code, county_code, max(snapshot_date) AS snapshot_date
      FROM {schema}.stock_snapshots GROUP BY account, product_code, county_code) newest
  ON newest.account = s.account AND newest.product_code = s.product_code AND newest.county_code = s.county_code
 AND newest.snapshot_date = s.snapshot_date
GROUP BY s.account, s.product_code, s.county_code, s.snapshot_date
""",
)

PRICE_CHANGES = View(
    name="price_changes",
    comment="Per price version that replaced another (price_history, per account and product): the supply and "
    "invoice prices before and after, the change and when. A version also opens when only the discount, rebate or "
    "procurability changed: its change is then 0. A NULL price is one not in effect.",
    key=(ACCOUNT, "product_code", "changed_at"),
    columns=(
        _ACCOUNT,
        _PRODUCT,
        Column("changed_at", MOMENT, "When the new version was first observed (its valid_from)."),
        Column("old_supply_price", PRICE, "The supply price of the version before; null when not in effect."),
        Column("new_supply_price", PRICE, "The supply price of this version; null when not in effect."),
        Column("change", AMOUNT, "new_supply_price - old_supply_price; null when either is null."),
        Column(
            "change_pct",
            PERCENT,
            "The change in percent of the old supply price, rounded to 2 places; null when either price is null or "
            "the old one is 0.",
        ),
        Column("old_invoice_price", PRICE, "The invoice price of the version before."),
        Column("new_invoice_price", PRICE, "The invoice price of this version."),
    ),
    select="""
SELECT account, product_code, changed_at, old_supply_price, new_supply_price,
       new_supply_price - old_supply_price AS change,
       round(100 * (new_supply_price - old_supply_price) / nullif(old_supply_price, 0), 2) AS change_pct,
       old_invoice_price, new_invoice_price
FROM (SELECT account, product_code, valid_from AS changed_at,
             lag(supply_price) OVER (PARTITION BY account, product_code ORDER BY valid_from) AS old_supply_price,
             supply_price AS new_supply_price,
             lag(invoice_price) OVER (PARTITION BY account, product_code ORDER BY valid_from) AS old_invoice_price,
             invoice_price AS new_invoice_price,
             row_number() OVER (PARTITION BY account, product_code ORDER BY valid_from) AS version
      FROM {schema}.price_history) versions
WHERE version > 1
""",
)

# Every view, in the order they are created (after every table).
VIEWS: tuple[View, ...] = (CURRENT_STOCK, PRICE_CHANGES)


def view_names() -> tuple[str, ...]:
    return tuple(view.name for view in VIEWS)


def create_view_sql(view: View, schema: str, *, replace: bool = True) -> str:
    verb = "CREATE OR REPLACE VIEW" if replace else "CREATE VIEW"
    return f"{verb} {ident(schema)}.{ident(view.name)} AS\n{view.sql(schema)}"


def drop_view_sql(view: View, schema: str) -> str:
    return f"DROP VIEW IF EXISTS {ident(schema)}.{ident(view.name)}"


def view_comment_sql(view: View, schema: str, column: str | None, text: str) -> str:
    target = f"{ident(schema)}.{ident(view.name)}"
    if column is None:
        return f"COMMENT ON VIEW {target} IS {literal(text)}"
    return f"COMMENT ON COLUMN {target}.{ident(column)} IS {literal(text)}"
