"""The files the configuration reads besides variables (`.env`, data/counties.csv, HAIER_ORDERS_FILE), as users
produce them: GBK from a Chinese Windows, a byte order mark from Excel's "CSV UTF-8", a typo, a folder. Each is a
configuration error naming the file and what to do (exit 2, no traceback), found by `check` before any call."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from haier_pipeline.cli.main import main
from haier_pipeline.config_files import TrackedOrder, orders_file_problem, read_orders
from haier_pipeline.haier import HaierConfigurationError
from haier_pipeline.settings import load_dotenv_file, load_settings
from haier_pipeline.simulator import RunningSimulator
from haier_pipeline_tests.test_settings import MINIMAL, problems_of

GBK_VALUE = "海尔".encode("gbk")
BOM = b"\xef\xbb\xbf"


@pytest.fixture
def bare_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A working directory with no HAIER_* variable set, so `.env` and data/ are all the configuration there is."""
    monkeypatch.chdir(tmp_path)
    for name in [key for key in os.environ if key.startswith("HAIER_")]:
        monkeypatch.delenv(name)
    return tmp_path


def dotenv_with(folder: Path, *lines: bytes) -> Path:
    lines = tuple(f"{name}={value}".encode() for name, value in MINIMAL.items()) + lines
    path = folder / ".env"
    path.write_bytes(b"\n".join(lines) + b"\n")
    return path


def test_a_dotenv_not_in_utf8_is_a_configuration_error_naming_the_file(
    bare_folder: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = dotenv_with(bare_folder, b"HAIER_SEND_TO_CODE=" + GBK_VALUE)
    assert main(["check"]) == 2
    err = capsys.readouterr().err
    assert f"{path} line 7 is not UTF-8 text: save the file as UTF-8" in err
    assert "Traceback" not in err and "UnicodeDecodeError" not in err
    # `ui`, `demo` and the Dagster definitions put `.env` into the environment first: the same error, not a crash.
    with pytest.raises(HaierConfigurationError, match="is not UTF-8 text"):
        load_dotenv_file()


def test_a_dotenv_line_that_cannot_be_parsed_is_named_with_its_file_line_and_fix(
    bare_folder: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = dotenv_with(bare_folder, b'HAIER_SELLER_PASSWORD="seller-pass-314', b"just words")
    assert main(["check"]) == 2
    err = capsys.readouterr().err
    assert f"{path} line 7: the line setting HAIER_SELLER_PASSWORD cannot be parsed: write it as NAME=value" in err
    assert f"{path} line 8: this line cannot be parsed" in err
    assert "start it with # to comment it out" in err
    assert "seller-pass-314" not in err  # a half-written secret is still a secret
    with pytest.raises(HaierConfigurationError, match="line 7"):
        load_dotenv_file()


def test_csv_files_excel_saves_as_csv_utf8_are_read(bare_folder: Path) -> None:
    (bare_folder / "data").mkdir()
    (bare_folder / "data" / "counties.csv").write_bytes(BOM + b"county_code,county_name\r\n110101,x\r\n")
    orders = bare_folder / "data" / "orders.csv"
    orders.write_bytes(BOM + b"order_code,member_id\r\nSO.20190106.000003,42\r\n")
    env = {key: value for key, value in MINIMAL.items() if key != "HAIER_COUNTY_CODES"}
    assert tuple(load_settings(env).county_codes) == ("110101",)
    assert orders_file_problem(str(orders)) is None
    assert read_orders(str(orders)) == [TrackedOrder("SO.20190106.000003", None, 42)]


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"code\n110101\n", "data/counties.csv needs a header row with a county_code column: add one as its first"),
        (b"county_code,name\n110101," + GBK_VALUE + b"\n", "data/counties.csv is not UTF-8 text: save it as UTF-8"),
        (b"county_code,weight\n110101,1\n310104,heavy\n", "data/counties.csv line 3: weight 'heavy' is not a number"),
        (
            "county_code\n110101\n３１０１０４\n11010\n".encode(),
            "data/counties.csv line 3: county code '３１０１０４' has characters that are not ASCII (full-width digits "
            "or commas, as a Chinese input method types them, are not accepted): type it as 310104; "
            "data/counties.csv line 4: county code '11010' is not 6 digits (county codes are 6 ASCII digits",
        ),
    ],
)
def test_a_counties_file_problem_names_the_file_not_the_unset_variable(
    bare_folder: Path, content: bytes, expected: str
) -> None:
    (bare_folder / "data").mkdir()
    (bare_folder / "data" / "counties.csv").write_bytes(content)
    problems = problems_of({key: value for key, value in MINIMAL.items() if key != "HAIER_COUNTY_CODES"})
    assert problems.startswith(expected), problems
    assert "HAIER_COUNTY_CODES='" not in problems  # it was shown as HAIER_COUNTY_CODES='()'


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"code\nSO.1\n", "needs a header row with an order_code column"),
        (b"order_code,note\nSO.1," + GBK_VALUE + b"\n", "is not UTF-8 text: save it as UTF-8"),
    ],
)
def test_an_unreadable_orders_file_is_named_by_check_and_by_the_step(
    tmp_path: Path, content: bytes, expected: str
) -> None:
    orders = tmp_path / "orders.csv"
    orders.write_bytes(content)
    problem = orders_file_problem(str(orders))
    assert problem is not None and problem.startswith(f"HAIER_ORDERS_FILE={str(orders)!r} {expected}")
    with pytest.raises(HaierConfigurationError) as raised:
        read_orders(str(orders))
    assert raised.value.problems == [problem]


def test_orders_file_problem_reports_every_problem_the_step_would_raise(tmp_path: Path) -> None:
    orders = tmp_path / "orders.csv"
    orders.write_text("order_code, member_id\nSO.1,abc\nSO.2,7\nSO.3,-1\nSO.4,３\nSO.5,²\nSO.6,0\n", encoding="utf-8")
    problem = orders_file_problem(str(orders)) or ""
    named = f"HAIER_ORDERS_FILE={str(orders)!r}"
    assert (
        f"{named} line 2: member_id 'abc' is not a whole number of 1 or more: write the member's digits (ASCII, not "
        "full-width) or leave it empty" in problem
    )
    for line, member in ((4, "-1"), (5, "３"), (6, "²"), (7, "0")):
        assert f"{named} line {line}: member_id {member!r}" in problem, member
    with pytest.raises(HaierConfigurationError) as raised:
        read_orders(str(orders))
    assert "; ".join(raised.value.problems) == problem


def test_an_orders_file_that_is_a_folder_is_named_as_a_folder(tmp_path: Path) -> None:
    problem = orders_file_problem(str(tmp_path)) or ""
    assert problem.startswith(f"HAIER_ORDERS_FILE={str(tmp_path)!r} is a folder; name a CSV file with an order_code")
    with pytest.raises(HaierConfigurationError, match="is a folder"):
        read_orders(str(tmp_path))


def test_check_and_sync_refuse_a_bad_member_id_before_any_call(
    cli_env: dict[str, str],
    simulator: RunningSimulator,
    capsys: pytest.CaptureFixture[str],
) -> None:
    Path(cli_env["HAIER_ORDERS_FILE"]).write_text(
        "order_code,delivery_record_code,member_id\nSO.20190106.000003,,abc\n", encoding="utf-8"
    )
    simulator.counters.reset()
    assert main(["check"]) == 2
    assert main(["sync", "--only", "logistics"]) == 2
    err = capsys.readouterr().err
    assert err.count("line 2: member_id 'abc' is not a whole number") == 2, err
    assert "Traceback" not in err
    assert simulator.counters.snapshot()["total_requests"] == 0


def test_the_counties_file_names_every_bad_line_at_once_with_duplicates_and_misspelt_columns(bare_folder: Path) -> None:
    """The first bad weight stopped the reading; a county listed twice and a misspelt column passed without a word."""
    (bare_folder / "data").mkdir()
    (bare_folder / "data" / "counties.csv").write_text(
        "county_code,weight,county_name\n"
        "110101,1,东城区\n"
        "310104,heavy,徐汇区\n"
        "110101,2,东城区\n"
        "440106,-1\n"
        ",3,no code\n"
        "510107,1,武侯区,extra\n"
        "510108,inf\n",
        encoding="utf-8",
    )
    problems = problems_of({key: value for key, value in MINIMAL.items() if key != "HAIER_COUNTY_CODES"})
    expected = [
        "data/counties.csv line 3: weight 'heavy' is not a number >= 0",
        "data/counties.csv line 4: county 110101 is already on line 2 (keep one of the two lines)",
        "data/counties.csv line 5: weight '-1' is not a number >= 0",
        "data/counties.csv line 6: no county_code",
        "data/counties.csv line 7: more fields than the header row has columns",
        "data/counties.csv line 8: weight 'inf' is not a number >= 0",
    ]
    assert problems == "; ".join(expected), problems

    (bare_folder / "data" / "counties.csv").write_text("county_code,wieght\n110101,5\n", encoding="utf-8")
    problems = problems_of({key: value for key, value in MINIMAL.items() if key != "HAIER_COUNTY_CODES"})
    assert "data/counties.csv: the column 'wieght' is not read: did you mean 'weight'?" in problems, problems


def test_the_orders_file_names_every_bad_line_at_once_with_duplicates_and_misspelt_columns(tmp_path: Path) -> None:
    orders = tmp_path / "orders.csv"
    orders.write_text(
        "order_code,delivery_record_code,member_id,note\n"
        "SO.1,,abc,first\n"
        "SO.2,D.2,7\n"
        "SO.2,D.2,7,again\n"
        ",D.3,\n"
        "SO.4,,0\n",
        encoding="utf-8",
    )
    named = f"HAIER_ORDERS_FILE={str(orders)!r}"
    with pytest.raises(HaierConfigurationError) as raised:
        read_orders(str(orders))
    assert [problem.removeprefix(named) for problem in raised.value.problems] == [
        " line 2: member_id 'abc' is not a whole number of 1 or more: write the member's digits (ASCII, not "
        "full-width) or leave it empty",
        " line 4: order SO.2 is already on line 3 (keep one of the two lines)",
        " line 5: no order_code",
        " line 6: member_id '0' is not a whole number of 1 or more: write the member's digits (ASCII, not "
        "full-width) or leave it empty",
    ]
    orders.write_text("order_code,Member ID\nSO.1,7\n", encoding="utf-8")
    assert "the column 'Member ID' is not read: did you mean 'member_id'?" in (orders_file_problem(str(orders)) or "")


def test_check_names_the_columns_nothing_reads(
    cli_env: dict[str, str], simulator: RunningSimulator, capsys: pytest.CaptureFixture[str]
) -> None:
    Path(cli_env["HAIER_ORDERS_FILE"]).write_text(
        "order_code,note\nSO.20190106.000003,for the audit\n", encoding="utf-8"
    )
    assert main(["check"]) == 0
    out = capsys.readouterr().out
    assert f"{cli_env['HAIER_ORDERS_FILE']}: note not read (only order_code, delivery_record_code, member_id)" in out
