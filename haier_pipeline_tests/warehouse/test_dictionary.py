"""The data dictionary (docs/data-dictionary.md) is generated from the declarations, names every table, view and
column, and the committed file is what the command prints now."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from haier_pipeline.warehouse import dictionary
from haier_pipeline.warehouse.tables import build_tables, table_names
from haier_pipeline.warehouse.views import VIEWS

ROOT = Path(__file__).resolve().parents[2]
COMMITTED = ROOT / dictionary.PATH


def test_the_committed_data_dictionary_is_current() -> None:
    assert COMMITTED.is_file(), f"{dictionary.PATH} is missing: generate it with `{dictionary.COMMAND}`"
    assert COMMITTED.read_text(encoding="utf-8") == dictionary.render(), (
        f"{dictionary.PATH} is stale (a declaration changed since it was generated): regenerate it with "
        f"`{dictionary.COMMAND}` ({dictionary.GENERATE}) and commit it"
    )


def test_the_command_prints_it() -> None:
    printed = subprocess.run(
        [sys.executable, "-m", "haier_pipeline.warehouse.dictionary"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout
    assert printed == dictionary.render()
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    assert "\ndictionary: setup\n\t$(BIN)/python -m haier_pipeline.warehouse.dictionary > docs/data-dictionary.md" in (
        makefile
    ), f"`{dictionary.COMMAND}` runs it"


def test_every_table_view_and_column_is_there_with_its_type_and_meaning() -> None:
    text = dictionary.render()
    sections = dict(re.findall(r"^### `(\w+)`(?: \(view\))?\n(.*?)(?=^### |\Z)", text, flags=re.M | re.S))
    assert list(sections) == [*table_names(), *(view.name for view in VIEWS)]
    tables = build_tables()
    for name, body in sections.items():
        rows = {row.split("|")[1].strip(" `"): row for row in body.splitlines() if row.startswith("| `")}
        declared = tables[name].columns if name in tables else next(v for v in VIEWS if v.name == name).columns
        assert list(rows) == [column.name for column in declared], name
        for column in declared:
            description = column.comment if name in tables else column.description
            assert " ".join(description.split()) in rows[column.name], f"{name}.{column.name}: its meaning"
    catalog = sections["catalog"]
    assert "Key: (account, product_code)." in catalog
    assert "| `total_stock` | BIGINT |  | yes | " in catalog
    assert "| `supply_price` | NUMERIC(18, 4) |  | yes | Ordinary supply price" in sections["prices"]
    assert "`supplyPrice` (measure)" in sections["prices"], "where a column comes from, and what a bad value costs"
    assert "Key (grain): (account, product_code, county_code)." in sections["current_stock"]


def test_the_readme_links_it() -> None:
    assert f"]({dictionary.PATH})" in (ROOT / "README.md").read_text(encoding="utf-8")
