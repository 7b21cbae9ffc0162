"""Stock at scale: answers checkpointed as they arrive (a rerun asks only what was not answered), a call budget
that asks pairs by priority and records what it skipped, and a catalog that counts each county as last checked."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import pandas as pd
import pytest

from haier_pipeline.cli.main import main
from haier_pipeline.defs.haier_catalog.stock.checkpoint import answer_from_json, answer_json
from haier_pipeline.defs.haier_catalog.stock.plan import plan_day
from haier_pipeline.endpoints.stock_snapshots import STOCK_ROW
from haier_pipeline.haier.answers import parse_json
from haier_pipeline.simulator import RunningSimulator
from haier_pipeline.warehouse.warehouse import Warehouse
from haier_pipeline_tests.pipelines import Pipeline

DAY_COLUMNS = "product_code, county_code, sec_code, stock, warehouse_grade, cut_time, delivery_date, delivery_hours"


def stock_calls(simulator: RunningSimulator) -> int:
    return int(simulator.counters.snapshot()["statuses"].get("stock", {}).get("200", 0))


def staged_pairs(url: str) -> int:
    try:
        return int(Warehouse.from_url(url).query("SELECT count(*) AS n FROM {schema}.stock_answers")["n"].iloc[0])
    except Exception:  # the file may be held by the writer for a moment: ask again
        return 0


def test_a_stock_step_killed_mid_way_resumes_asking_only_the_pairs_not_yet_answered(
    cli_env: dict[str, str], simulator: RunningSimulator, tmp_path: Path
) -> None:
    url = cli_env["HAIER_WAREHOUSE_URL"]
    assert main(["sync", "--only", "products"]) == 0
    pairs = len(simulator.dataset.procurable_codes) * len(simulator.config.counties)
    simulator.reset_counters()
    # Paced at 25 calls/s the step takes several seconds, and checkpoints every 2 s: kill it after the first one.
    env = {**os.environ, **cli_env, "HAIER_RATE_LIMIT": "25"}
    command = [sys.executable, "-m", "haier_pipeline.cli.main", "sync", "--only", "stock"]
    victim = subprocess.Popen(command, env=env, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 90
        while staged_pairs(url) == 0:
            assert victim.poll() is None, "the sync ended before it was killed"
            assert time.monotonic() < deadline, "no checkpoint was written"
            time.sleep(0.1)
    finally:
        victim.send_signal(signal.SIGKILL)
        victim.wait(10)
    staged, asked_before = staged_pairs(url), stock_calls(simulator)
    assert 0 < staged <= asked_before < pairs, (staged, asked_before, pairs)
    warehouse = Warehouse.from_url(url)
    assert warehouse.table_counts()["stock_snapshots"] == 0, "nothing of the day was committed"
    parsed = warehouse.query(
        "SELECT count(*) AS n FROM (SELECT DISTINCT product_code, county_code FROM {schema}.stock_staged_rows) AS p"
    )
    assert int(parsed["n"].iloc[0]) == staged, "each checkpointed answer was parsed into rows as it arrived"

    simulator.reset_counters()
    assert main(["sync", "--only", "stock"]) == 0
    assert stock_calls(simulator) == pairs - staged, "the answered pairs are not asked again"
    assert warehouse.table_counts()["stock_answers"] == 0, "the checkpoint is cleared once the day is committed"
    resumed = warehouse.query(f"SELECT {DAY_COLUMNS} FROM {{schema}}.stock_snapshots ORDER BY 1, 2, 3")
    log = warehouse.query("SELECT message FROM {schema}.sync_log WHERE sync_type = 'stock_snapshots'")
    assert f"{pairs - staged} asked, {staged} resumed, 0 skipped" in log["message"].iloc[-1]

    uninterrupted = f"duckdb:///{tmp_path / 'uninterrupted.duckdb'}"
    os.environ["HAIER_WAREHOUSE_URL"] = uninterrupted
    assert main(["sync", "--only", "products,stock"]) == 0
    expected = Warehouse.from_url(uninterrupted).query(
        f"SELECT {DAY_COLUMNS} FROM {{schema}}.stock_snapshots ORDER BY 1, 2, 3"
    )
    assert resumed.equals(expected), "the resumed day equals an uninterrupted one"


def test_a_failed_commit_keeps_the_usable_answers_and_asks_again_for_the_rest(pipeline: Pipeline) -> None:
    assert pipeline.run(only=["products"]).success
    sim = pipeline.simulator
    pairs = len(sim.dataset.procurable_codes) * len(sim.config.counties)
    sim.config.bad_row_rate = 0.5
    assert not pipeline.run(only=["stock"]).success, "too many bad rows: the gate fails and nothing is written"
    assert pipeline.counts()["stock_snapshots"] == 0
    kept = pipeline.counts()["stock_answers"]
    assert 0 < kept < pairs, "the pairs whose answers could be used stay checkpointed"
    sim.config.bad_row_rate = 0.0
    sim.reset_counters()
    assert pipeline.run(only=["stock"]).success
    assert stock_calls(sim) == pairs - kept
    assert pipeline.counts()["stock_answers"] == 0
    stored = pipeline.warehouse.query(
        "SELECT count(*) AS n FROM (SELECT DISTINCT product_code, county_code FROM {schema}.stock_snapshots) AS p"
    )
    assert int(stored["n"].iloc[0]) == pairs


def test_answers_an_earlier_run_checkpointed_are_parsed_again_so_their_refusals_are_recorded(
    pipeline: Pipeline,
) -> None:
    """A run that died after checkpointing never wrote its refused rows: the run that commits the day parses
    those answers again, and its record (rejected_rows, the gate's counts) includes them."""
    assert pipeline.run(only=["products"]).success
    sim, day = pipeline.simulator, pipeline.today
    pairs = len(sim.dataset.procurable_codes) * len(sim.config.counties)
    county, client = sim.config.counties[0], pipeline.resources()["haier"]
    answered = ((code, client.stock(code, county)) for code in sorted(sim.dataset.procurable_codes))
    (good, good_answer), (bad, bad_answer) = [(code, rows) for code, rows in answered if rows][:2]
    bad_answer[0]["stock"] = -5  # out of range: the pair is refused whole
    fetched_at = datetime.now(UTC)
    with pipeline.warehouse.transaction() as tx:
        tx.upsert(
            "stock_answers",
            pd.DataFrame(
                [
                    (day, code, county, fetched_at, json.dumps(answer), None, "a-run-that-died")
                    for code, answer in ((good, good_answer), (bad, bad_answer))
                ],
                columns=["snapshot_date", "product_code", "county_code", "fetched_at", "answer", "refusal", "run_id"],
            ),
        )
    sim.reset_counters()
    result = pipeline.run(only=["stock"])
    assert result.success
    assert stock_calls(sim) == pairs - 2, "the checkpointed pairs are not asked again"
    rejected = pipeline.warehouse.query("SELECT reason, payload FROM {schema}.rejected_rows")
    assert len(rejected) == 1 and "stock" in rejected["reason"].iloc[0] and bad in rejected["payload"].iloc[0]
    stored = pipeline.warehouse.query(
        "SELECT product_code, sum(stock) AS stock FROM {schema}.stock_snapshots WHERE county_code = :county "
        "AND product_code IN (:good, :bad) GROUP BY product_code",
        {"county": county, "good": good, "bad": bad},
    )
    assert stored.to_dict("records") == [{"product_code": good, "stock": sum(int(row["stock"]) for row in good_answer)}]
    counts = pipeline.counts()
    assert counts["stock_answers"] == counts["stock_staged_rows"] == 0, "the checkpoint is cleared with the commit"


def test_a_call_budget_asks_by_priority_records_the_skipped_and_asks_them_first_next_time(pipeline: Pipeline) -> None:
    assert pipeline.run(only=["products"]).success
    sim = pipeline.simulator
    pairs = len(sim.dataset.procurable_codes) * len(sim.config.counties)
    budget = pairs // 3
    pipeline.stock_call_budget = budget
    sim.reset_counters()
    result = pipeline.run(only=["stock"])
    assert result.success
    stock = sim.counters.snapshot()["calls"]["stock"]
    assert stock == budget, "no new pair once the budget is spent"
    metadata = next(iter(result.get_asset_materialization_events())).materialization.metadata
    skipped = metadata["pairs_skipped"].value
    assert skipped == pairs - metadata["pairs_asked"].value > 0
    assert metadata["coverage"].value == pytest.approx((pairs - skipped) / pairs, abs=1e-4)
    coverage_check = next(e for e in result.get_asset_check_evaluations() if e.check_name == "coverage")
    assert not coverage_check.passed and f"skipped {skipped}" in coverage_check.description

    warehouse = pipeline.warehouse
    recorded = warehouse.query(
        "SELECT product_code, county_code FROM {schema}.stock_coverage WHERE skipped_at IS NOT NULL"
    )
    assert len(recorded) == skipped
    plan = plan_day(warehouse, "default", pipeline.today, dict.fromkeys(sim.config.counties, 1.0))
    first = set(plan.ordered[:skipped])
    assert first == set(zip(recorded["product_code"], recorded["county_code"], strict=True)), "skipped go first"

    pipeline.stock_call_budget = None
    assert pipeline.run(only=["stock"]).success
    left = warehouse.query("SELECT count(*) AS n FROM {schema}.stock_coverage WHERE skipped_at > last_checked_at")
    assert int(left["n"].iloc[0]) == 0, "checked since it was skipped"


def test_pairs_are_planned_by_the_documented_priority(pipeline: Pipeline) -> None:
    assert pipeline.run(only=["products", "prices", "stock"]).success
    warehouse, sim, today = pipeline.warehouse, pipeline.simulator, pipeline.today
    codes = sorted(sim.dataset.procurable_codes)
    counties = list(sim.config.counties)
    never, skipped, in_stock, empty = codes[:4]
    with warehouse.transaction() as tx:
        tx.execute("DELETE FROM {schema}.stock_coverage WHERE product_code = :code", {"code": never})
        tx.execute(
            "UPDATE {schema}.stock_coverage SET skipped_at = last_checked_at + INTERVAL '1 hour' "
            "WHERE product_code = :code",
            {"code": skipped},
        )
        tx.execute("UPDATE {schema}.stock_coverage SET last_stock = 5 WHERE product_code = :code", {"code": in_stock})
        tx.execute("UPDATE {schema}.stock_coverage SET last_stock = 0 WHERE product_code <> :code", {"code": in_stock})
        tx.execute("DELETE FROM {schema}.price_history")
    weights = {county: 1.0 for county in counties} | {counties[-1]: 5.0}
    order = plan_day(warehouse, "default", today, weights).ordered
    position = {pair: index for index, pair in enumerate(order)}
    first_class = {(code, county) for code in (never, skipped) for county in counties}
    assert set(order[: len(first_class)]) == first_class, "never checked, or skipped since last checked, first"
    lively = [(in_stock, county) for county in counties]
    assert sorted(position[pair] for pair in lively) == list(range(len(first_class), len(first_class) + len(lively)))
    rest = order[len(first_class) + len(lively) :]
    assert all(county == counties[-1] for _, county in rest[: len(codes) - 3]), "then the heaviest county"
    assert (empty, counties[-1]) in rest[: len(codes) - 3]


def test_the_catalog_counts_each_county_as_last_checked(pipeline: Pipeline) -> None:
    day_one = pipeline.today
    assert pipeline.run(only=["products", "stock", "catalog"]).success
    sim = pipeline.simulator
    pipeline.next_day()
    day_two = pipeline.today
    pairs = len(sim.dataset.procurable_codes) * len(sim.config.counties)
    pipeline.stock_call_budget = pairs // 2
    assert pipeline.run(only=["stock", "catalog"], day=day_two).success
    catalog = pipeline.warehouse.query("SELECT * FROM {schema}.catalog").set_index("product_code")
    coverage = pipeline.warehouse.query("SELECT * FROM {schema}.stock_coverage")
    mixed = 0
    for code in sim.dataset.procurable_codes:
        row = catalog.loc[code]
        checked = json.loads(row["counties_last_checked"])
        mine = coverage[coverage["product_code"] == code]
        assert checked == {r.county_code: str(r.last_checked_day)[:10] for r in mine.itertuples()}
        expected = sum(
            int(vendor["stock"])
            for r in mine.itertuples()
            for vendor in sim.dataset.stock_rows(code, r.county_code, date.fromisoformat(checked[r.county_code]))
        )
        assert row["total_stock"] == expected, "each county's stock as of the day it was last checked"
        assert row["stock_snapshot_date"] == min(date.fromisoformat(day) for day in checked.values())
        mixed += set(checked.values()) == {day_one.isoformat(), day_two.isoformat()}
    assert mixed, "the budget left some counties to the day before"


def test_a_deadline_stops_new_calls_and_the_rest_is_skipped(pipeline: Pipeline) -> None:
    assert pipeline.run(only=["products"]).success
    sim = pipeline.simulator
    sim.config.latency_ms = 100
    pipeline.stock_deadline = 0.1  # the first calls are in flight; what would start after it is skipped
    result = pipeline.run(only=["stock"])
    assert result.success
    metadata = next(iter(result.get_asset_materialization_events())).materialization.metadata
    pairs = len(sim.dataset.procurable_codes) * len(sim.config.counties)
    assert 0 < metadata["pairs_asked"].value < pairs
    assert metadata["pairs_skipped"].value == pairs - metadata["pairs_asked"].value


TEN_COUNTIES = ("110101", "110102", "110105", "110106", "310101", "310104", "310115", "440103", "440104", "440106")


def test_the_end_of_the_shanghai_day_stops_new_calls_and_the_rest_is_skipped_for_the_next_day(
    pipeline: Pipeline,
) -> None:
    """An answer after midnight is the next day's stock: a step still asking then stops, and what it did not ask is
    skipped, asked first by the next day's run. The simulated Shanghai day turns once the step has made 10 calls."""
    sim = pipeline.simulator
    sim.config.update({"counties": TEN_COUNTIES})  # more pairs than the stream's queue takes at once
    assert pipeline.run(only=["products"]).success
    sim.config.latency_ms = 50
    sim.counters.reset()
    asking = threading.Event()

    def turn_the_day_once_asking() -> None:
        while not asking.is_set():
            if sim.counters.calls("stock") >= 10:
                pipeline.next_day()
                return
            time.sleep(0.005)

    watcher = threading.Thread(target=turn_the_day_once_asking, daemon=True)
    watcher.start()
    try:
        result = pipeline.run(only=["stock"])
    finally:
        asking.set()
        watcher.join()
    assert result.success
    metadata = next(iter(result.get_asset_materialization_events())).materialization.metadata
    pairs = len(sim.dataset.procurable_codes) * len(sim.config.counties)
    assert 0 < metadata["pairs_asked"].value < pairs
    assert metadata["pairs_skipped"].value == pairs - metadata["pairs_asked"].value
    messages = [entry.user_message for entry in pipeline.instance.all_logs(result.run_id)]
    assert any("the Shanghai day" in message and "asked first next time" in message for message in messages)
    skipped = pipeline.warehouse.query("SELECT count(*) AS n FROM {schema}.stock_coverage WHERE skipped_at IS NOT NULL")
    assert int(skipped["n"].iloc[0]) == metadata["pairs_skipped"].value, "recorded, to be asked first next time"


def test_a_checkpointed_answer_reads_back_as_the_answer_the_client_read() -> None:
    """Decimals were checkpointed as text: a run resuming the day read a flag of 1.0 or a delivery date in epoch
    milliseconds as text, and stored NULL with an anomaly where the run that asked had stored a value."""
    body = (
        '[{"secCode": "S1", "stock": "5", "warehouseGrade": 0, "timelinessData": {"isTranfer": 1.0, '
        '"achieveUserOrderCut": 1764288000000.0, "hour": 4.0E+1, "cutTime": "16:00"}}, '
        '{"secCode": "S2", "stock": 7, "note": "\\"quoted\\" 库存", "n": 123456789012345678901234567890}]'
    )
    answer = parse_json(body.encode(), parse_float=Decimal)
    assert answer_from_json(answer_json(answer)) == answer
    context = {"product_code": "GA0SZC00U", "county_code": "110101", "snapshot_date": date(2026, 11, 26)}
    context["fetched_at"] = datetime(2026, 11, 26, 1, tzinfo=UTC)
    asked = STOCK_ROW.parse(answer, context)
    resumed = STOCK_ROW.parse(answer_from_json(answer_json(answer)), context)
    assert resumed.rows == asked.rows and not resumed.anomalies
    assert [row["is_transfer"] for row in resumed.rows] == [True, None]


def test_the_catalog_counts_only_configured_counties_and_no_stock_for_a_product_not_procurable(
    pipeline: Pipeline,
) -> None:
    """A county removed from the configuration stayed in every product's sums, and its day pinned
    stock_snapshot_date, for ever; a product no longer procurable (its stock no longer asked) kept the stock it had
    when it last was, and ranked among the best-stocked."""
    assert pipeline.run(only=["products", "stock", "catalog"]).success
    sim = pipeline.simulator
    counties = list(sim.config.counties)
    kept = counties[:-1]
    stocked = pipeline.warehouse.query(
        "SELECT product_code FROM {schema}.catalog WHERE total_stock > 0 ORDER BY product_code LIMIT 1"
    )["product_code"].iloc[0]
    sim.config.update({"counties": kept})
    with pipeline.warehouse.transaction() as tx:
        tx.execute("UPDATE {schema}.products SET is_sales = false WHERE product_code = :code", {"code": stocked})
    assert pipeline.run(only=["catalog"]).success
    catalog = pipeline.warehouse.query("SELECT * FROM {schema}.catalog").set_index("product_code")
    for code in sorted(set(sim.dataset.procurable_codes) - {stocked}):
        row = catalog.loc[code]
        assert sorted(json.loads(row["counties_last_checked"])) == sorted(kept)
        assert row["counties_checked"] == len(kept)
        expected = sum(int(r["stock"]) for county in kept for r in sim.dataset.stock_rows(code, county, pipeline.today))
        assert row["total_stock"] == expected
    gone = catalog.loc[stocked]
    assert (gone["counties_in_stock"], gone["counties_checked"]) == (0, 0)
    assert pd.isna(gone["total_stock"]), "its stock is no longer asked: no total (NULL), not 'checked, none' (0)"
    assert gone["counties_last_checked"] is None and gone["stock_snapshot_date"] is None
