"""The data dictionary: every table and view of the warehouse, every column with its type, key and meaning, generated
from the declarations (the endpoints' records and tables, the pipeline's own tables, the views), so it never says
other than the database's comments do.

    python -m haier_pipeline.warehouse.dictionary > docs/data-dictionary.md      (or: make dictionary)

`haier_pipeline_tests/warehouse/test_dictionary.py` fails while the committed file differs from what this prints.
"""

from __future__ import annotations

import sys

from sqlalchemy import Table

from haier_pipeline.endpoints import endpoints
from haier_pipeline.records import Field
from haier_pipeline.warehouse.tables import BOOKKEEPING_TABLES, DEFAULT_SCHEMA, build_tables, column_type_sql
from haier_pipeline.warehouse.views import VIEWS, View

COMMAND = "make dictionary"
GENERATE = "python -m haier_pipeline.warehouse.dictionary > docs/data-dictionary.md"
PATH = "docs/data-dictionary.md"


def _cell(text: str) -> str:
    return " ".join(str(text).split()).replace("|", "\\|")


def _vendor_fields() -> dict[str, dict[str, Field]]:
    """Per endpoint table, its columns read from a vendor record: where each comes from and what a bad value costs."""
    found: dict[str, dict[str, Field]] = {}
    for declared in endpoints():
        if declared.record is not None:
            found[declared.name] = {f.column: f for f in declared.record.fields}
    return found


def _key_text(key: list[str]) -> str:
    return "(" + ", ".join(key) + ")"


def _table_section(table: Table, vendor: dict[str, Field]) -> list[str]:
    key = [column.name for column in table.primary_key.columns]
    lines = [f"### `{table.name}`", "", _cell(table.comment or ""), ""]
    lines.append(f"Key: {_key_text(key)}." if key else "No primary key (the description says what a row is).")
    lines += ["", "| column | type | key | null | meaning | from the vendor |", "|---|---|---|---|---|---|"]
    for column in table.columns:
        field = vendor.get(column.name)
        source = f"`{field.vendor}` ({field.role.value})" if field is not None and field.vendor else ""
        position = f"{key.index(column.name) + 1}" if column.name in key else ""
        lines.append(
            f"| `{column.name}` | {column_type_sql(column)} | {position} | {'yes' if column.nullable else 'no'} | "
            f"{_cell(column.comment or '')} | {source} |"
        )
    return [*lines, ""]


def _view_section(view: View) -> list[str]:
    lines = [f"### `{view.name}` (view)", "", _cell(view.comment), "", f"Key (grain): {_key_text(list(view.key))}."]
    lines += ["", "| column | type | key | meaning |", "|---|---|---|---|"]
    for column in view.columns:
        position = f"{view.key.index(column.name) + 1}" if column.name in view.key else ""
        lines.append(
            f"| `{column.name}` | {view.column_type(column.name)} | {position} | {_cell(column.description)} |"
        )
    return [*lines, ""]


def render(schema: str = DEFAULT_SCHEMA) -> str:
    tables = build_tables(schema)
    vendor = _vendor_fields()
    endpoint_tables = [declared.name for declared in endpoints()]
    lines = [
        "# Data dictionary: the warehouse schema `haier`",
        "",
        f"Generated from the declarations by `{COMMAND}`, i.e.",
        f"`{GENERATE}`: do not edit it by hand, a test",
        "fails while this file differs from what the command prints. The same descriptions are the database's comments",
        "(`COMMENT ON`, in DuckDB and Postgres) and the column schemas of the Dagster UI.",
        "",
        "Types are as declared (Postgres spelling; DuckDB reports `VARCHAR` for `TEXT` and `DECIMAL` for `NUMERIC`).",
        "*key*: the column's position in the table's primary key (a view's: in the columns that identify a row).",
        "*from the vendor*: the key of the vendor's answer the column is read from, and its role (a bad *key* or",
        "*measure* refuses the row into `rejected_rows`; a bad *descriptive* value is stored as NULL and recorded in",
        "`field_anomalies`). Every table and view has `account` (the dealer account) leading its key: filter by it.",
        "",
        "Contents: "
        + ", ".join(f"[`{name}`](#{name})" for name in [*endpoint_tables, *BOOKKEEPING_TABLES])
        + "; views: "
        + ", ".join(f"[`{view.name}`](#{view.name}-view)" for view in VIEWS)
        + ".",
        "",
        "## Tables of the assets (one per endpoint)",
        "",
    ]
    for name in endpoint_tables:
        lines += _table_section(tables[name], vendor.get(name, {}))
    lines += ["## The pipeline's own tables", ""]
    for name in BOOKKEEPING_TABLES:
        lines += _table_section(tables[name], {})
    lines += ["## Views for analysts", ""]
    for view in VIEWS:
        lines += _view_section(view)
    return "\n".join(lines).rstrip() + "\n"


def main() -> int:
    sys.stdout.write(render())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
