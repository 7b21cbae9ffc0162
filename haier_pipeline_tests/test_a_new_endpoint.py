"""A new endpoint is one declaration: a module dropped into `haier_pipeline/endpoints/` (here: a folder added to the
package's path, so the checkout is not touched) becomes an asset with its checks, automation condition and freshness
policy, a warehouse table, and a `sync --only` step, and `sync` fills its table from the simulator's answer."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import dagster as dg
import pytest

import haier_pipeline.endpoints as endpoints_package
from haier_pipeline.cli.main import main
from haier_pipeline.definitions import defs
from haier_pipeline.endpoints import endpoints, steps
from haier_pipeline.shanghai_time import SHANGHAI
from haier_pipeline.simulator import RunningSimulator
from haier_pipeline.warehouse.tables import build_tables, table_names
from haier_pipeline.warehouse.warehouse import Warehouse

PATH = "/yilihuo/jsh-service-goods-mall-search/api/promotion/list-promotions"
DECLARATION = f'''
"""Promotions of the account: one call, a history of what each fetch listed."""

from datetime import timedelta

from haier_pipeline.endpoints.declaration import AccountField, Append, Cron, Endpoint, Freshness, Request, Table
from haier_pipeline.records import Field, Record, Role
from haier_pipeline.records.kinds import MOMENT, PRICE, PRODUCT_CODE, TEXT

PROMOTION = Record(
    name="promotion row",
    endpoint="promotions",
    key=("promotion_code",),
    fields=(
        Field("fetched_at", MOMENT, Role.KEY, "When the promotions were fetched (UTC).", required=True),
        Field("promotion_code", TEXT, Role.KEY, "The promotion.", "promotionCode", required=True),
        Field("product_code", PRODUCT_CODE, Role.KEY, "The product promoted.", "productCode", required=True),
        Field("discount", PRICE, Role.MEASURE, "Discount per unit.", "discount", required=True),
        Field("title", TEXT, Role.DESCRIPTIVE, "What the dealer sees.", "title"),
    ),
)

promotions = Endpoint(
    name="promotions",
    description="The account's promotions, one row per promotion per fetch.",
    record=PROMOTION,
    request=Request(
        path="{PATH}",
        body={{"customerCode": AccountField.CUSTOMER_CODE, "passWord": AccountField.PASSWORD}},
    ),
    write=Append(),
    table=Table(comment="Promotions per fetch (history).", key=("fetched_at", "promotion_code")),
    cadence=Cron("15 9 * * *"),
    freshness=Freshness(warn_after=timedelta(days=1), fail_after=timedelta(days=2)),
)
'''
ANSWER = [
    {"promotionCode": "PR-1", "productCode": "GA0SZC00U", "discount": "120.50", "title": "双十二"},
    {"promotionCode": "PR-2", "productCode": "GA0SZC00U", "discount": "not a number", "title": "refused"},
]


@pytest.fixture
def promotions_declared(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    folder = tmp_path / "more_endpoints"
    folder.mkdir()
    (folder / "promotions.py").write_text(DECLARATION, encoding="utf-8")
    monkeypatch.setattr(endpoints_package, "__path__", [*endpoints_package.__path__, str(folder)])
    endpoints.cache_clear()
    yield
    monkeypatch.undo()
    endpoints.cache_clear()


def test_a_declared_endpoint_becomes_an_asset_a_table_a_step_and_an_automation_condition(
    promotions_declared: None, cli_env: dict[str, str], simulator: RunningSimulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert [endpoint.name for endpoint in endpoints()][-1] == "promotions", "a root, with no dependents, comes last"
    assert steps()["promotions"] == ("promotions",)
    assert "promotions" in table_names()
    table = build_tables()["promotions"]
    assert [column.name for column in table.primary_key.columns] == ["account", "fetched_at", "promotion_code"]

    definitions = defs()
    asset = definitions.resolve_assets_def("promotions")
    key = dg.AssetKey("promotions")
    spec = asset.specs_by_key[key]
    assert spec.freshness_policy is not None and spec.automation_condition is not None
    assert {check.name for check in asset.check_specs} == {"schema_gate", "field_anomalies"}
    assert [column.name for column in spec.metadata["dagster/column_schema"].columns] == [
        "account",
        "fetched_at",
        "promotion_code",
        "product_code",
        "discount",
        "title",
    ]
    # Its cadence: the 09:15 tick (Asia/Shanghai) requests it, and the 09:00 one does not.
    with dg.instance_for_test() as instance:
        morning = datetime(2026, 12, 1, 9, 0, tzinfo=SHANGHAI)
        first = dg.evaluate_automation_conditions(
            defs=definitions, instance=instance, asset_selection=dg.AssetSelection.assets(key), evaluation_time=morning
        )
        later = dg.evaluate_automation_conditions(
            defs=definitions,
            instance=instance,
            asset_selection=dg.AssetSelection.assets(key),
            evaluation_time=morning + timedelta(minutes=20),
            cursor=first.cursor,
        )
        assert first.get_num_requested(key) == 0 and later.get_num_requested(key) == 1

    simulator.config.extra_answers = {PATH: ANSWER}
    monkeypatch.setenv("HAIER_MAX_REJECTED_RATIO", "0.5")  # one of its two rows is refused, on purpose
    assert main(["sync", "--only", "promotions"]) == 0
    warehouse = Warehouse.from_url(cli_env["HAIER_WAREHOUSE_URL"])
    stored = warehouse.query("SELECT promotion_code, discount, title FROM {schema}.promotions")
    assert stored.values.tolist() == [["PR-1", pytest.approx(120.5), "双十二"]]
    refused = warehouse.query("SELECT asset, reason FROM {schema}.rejected_rows")
    assert refused.values.tolist() == [["promotions", 'discount: is not a number (got "not a number")']]
    logged = warehouse.query("SELECT sync_type, status, api_calls FROM {schema}.sync_log")
    assert logged.values.tolist() == [["promotions", "partial", 2]], "a token and the call"
