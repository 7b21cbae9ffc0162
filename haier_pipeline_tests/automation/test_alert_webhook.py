"""Alerts that reach someone: HAIER_ALERT_WEBHOOK_URL gets one JSON POST per failed run, on a real HTTP server on
loopback, for a sync that really failed against the simulator. A receiver that does not answer is retried, never
fails the sensor, and is tried again on the next tick; a sensor just enabled does not replay history."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from haier_pipeline.cli.main import main
from haier_pipeline.defs.alerts import webhook as alert_webhook
from haier_pipeline.simulator import RunningSimulator
from haier_pipeline_tests.automation.test_alerts import alert_lines, evaluate_alerts, last_run_id
from haier_pipeline_tests.simulated import SIMULATOR_CREDENTIALS

WRONG_PASSWORD = "wrong-password-5150x"


class Receiver:
    """An incoming-webhook endpoint on 127.0.0.1: records every body; answers `statuses` in turn (then 200)."""

    def __init__(self) -> None:
        self.bodies: list[dict[str, Any]] = []
        self.raw: list[str] = []
        self.statuses: list[int] = []
        self.paths: list[str] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                text = self.rfile.read(int(self.headers.get("Content-Length", 0))).decode("utf-8")
                receiver.raw.append(text)
                receiver.paths.append(self.path)
                receiver.bodies.append(json.loads(text))
                status = receiver.statuses.pop(0) if receiver.statuses else 200
                answer = b"ok" if status == 200 else b"try later"
                self.send_response(status)
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks/T0001/B0002/webhook-secret-path"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver(monkeypatch: pytest.MonkeyPatch) -> Iterator[Receiver]:
    running = Receiver()
    monkeypatch.setenv("HAIER_ALERT_WEBHOOK_URL", running.url)
    yield running
    running.close()


def enable_sensor(cli_env: dict[str, str], enabled_at: float | None = None) -> str | None:
    """The sensor's first tick (the instance created first, as `make ui` creates it): its cursor."""
    Path(cli_env["DAGSTER_HOME"]).mkdir(parents=True, exist_ok=True)
    return evaluate_alerts(cli_env, None, enabled_at).cursor


def fail_a_sync(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> str:
    """A real failure: the simulator refuses the agreed password. The run's id."""
    monkeypatch.setenv("HAIER_PASSWORD", WRONG_PASSWORD)
    assert main(["sync", "--only", "products"]) == 1
    captured = capsys.readouterr()
    assert "step products failed" in captured.err, captured.err
    return last_run_id(captured.out)


def test_a_failed_sync_posts_one_alert_with_account_step_cause_run_and_link(
    cli_env: dict[str, str],
    simulator: RunningSimulator,
    receiver: Receiver,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    enabled = enable_sensor(cli_env)  # the sensor's first tick: nothing to say, nothing posted
    assert receiver.bodies == []

    run_id = fail_a_sync(monkeypatch, capsys)
    evaluate_alerts(cli_env, enabled)
    (line,) = alert_lines(capsys.readouterr().err)
    assert line.startswith(f"ALERT haier-pipeline [default]: products failed in run {run_id}: ")

    (body,) = receiver.bodies
    assert receiver.paths == ["/hooks/T0001/B0002/webhook-secret-path"]
    assert body["account"] == "default" and body["step"] == "products" and body["run_id"] == run_id
    assert body["event"] == "run_failed"
    assert body["cause"] and body["cause"] in line, "the cause the ALERT line gives"
    assert body["url"] == f"http://127.0.0.1:3000/runs/{run_id}", "HAIER_UI_URL's default"
    # Slack reads `text`, Feishu `msg_type` and `content.text`: the same words.
    assert isinstance(body["text"], str) and run_id in body["text"] and body["url"] in body["text"]
    assert "products failed (account default)" in body["text"] and body["cause"] in body["text"]
    assert body["msg_type"] == "text" and body["content"] == {"text": body["text"]}
    (raw,) = receiver.raw
    for secret in (WRONG_PASSWORD, SIMULATOR_CREDENTIALS["password"], SIMULATOR_CREDENTIALS["client_secret"]):
        assert secret not in raw
    assert "webhook-secret-path" not in raw


def test_the_account_and_the_ui_url_are_used(
    cli_env: dict[str, str],
    simulator: RunningSimulator,
    receiver: Receiver,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    accounts = tmp_path / "accounts.toml"
    accounts.write_text(f'[account.north]\nbase_url = "{simulator.base_url}"\n', encoding="utf-8")
    monkeypatch.setenv("HAIER_ACCOUNTS_FILE", str(accounts))
    monkeypatch.setenv("HAIER_UI_URL", "https://dagster.example.com/")
    enabled = enable_sensor(cli_env)
    monkeypatch.setenv("HAIER_PASSWORD", WRONG_PASSWORD)
    assert main(["sync", "--only", "products"]) == 1
    run_id = last_run_id(capsys.readouterr().out)
    evaluate_alerts(cli_env, enabled)
    (line,) = alert_lines(capsys.readouterr().err)
    assert line.startswith(f"ALERT haier-pipeline [north]: north__products failed in run {run_id}: ")
    (body,) = receiver.bodies
    assert body["account"] == "north" and "(account north)" in body["text"]
    assert body["url"] == f"https://dagster.example.com/runs/{run_id}"


def test_a_sensor_just_enabled_does_not_replay_history(
    cli_env: dict[str, str],
    simulator: RunningSimulator,
    receiver: Receiver,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """On its first start it printed 13 alerts at once, for old CLI failures."""
    old = [fail_a_sync(monkeypatch, capsys) for _ in range(2)]
    first = enable_sensor(cli_env, time.time())
    assert alert_lines(capsys.readouterr().err) == [] and receiver.bodies == [], "failures before it was enabled"

    new = fail_a_sync(monkeypatch, capsys)
    second = evaluate_alerts(cli_env, first)
    assert [body["run_id"] for body in receiver.bodies] == [new]
    assert len(alert_lines(capsys.readouterr().err)) == 1
    evaluate_alerts(cli_env, second.cursor)
    assert [body["run_id"] for body in receiver.bodies] == [new], "once"
    assert not set(old) & {body["run_id"] for body in receiver.bodies}


def test_a_receiver_that_does_not_answer_is_retried_and_never_fails_the_sensor(
    cli_env: dict[str, str],
    simulator: RunningSimulator,
    receiver: Receiver,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    enabled = enable_sensor(cli_env)
    run_id = fail_a_sync(monkeypatch, capsys)

    # Every attempt of this tick answered 503: logged, kept in the cursor, and the tick itself succeeds.
    receiver.statuses = [503] * alert_webhook.ATTEMPTS
    failed_tick = evaluate_alerts(cli_env, enabled)
    err = capsys.readouterr().err
    assert len(receiver.bodies) == alert_webhook.ATTEMPTS, "retried within the tick, a bounded number of times"
    assert f"the alert for run {run_id} is not delivered yet" in err and "HTTP 503" in err
    assert "webhook-secret-path" not in err, "the hook's path is its secret"
    assert len(alert_lines(err)) == 1, "the ALERT line is raised once, whatever the webhook does"
    assert json.loads(failed_tick.cursor or "{}")["pending"], "kept for the next tick"

    # The next tick delivers it, once; the one after has nothing left to send.
    delivered_tick = evaluate_alerts(cli_env, failed_tick.cursor)
    assert [body["run_id"] for body in receiver.bodies] == [run_id] * (alert_webhook.ATTEMPTS + 1)
    assert alert_lines(capsys.readouterr().err) == [], "not alerted again"
    assert json.loads(delivered_tick.cursor or "{}")["pending"] == []
    evaluate_alerts(cli_env, delivered_tick.cursor)
    assert len(receiver.bodies) == alert_webhook.ATTEMPTS + 1


def test_a_webhook_nobody_listens_on_costs_the_tick_nothing_but_a_log_line(
    cli_env: dict[str, str],
    simulator: RunningSimulator,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    import socket

    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    monkeypatch.setenv("HAIER_ALERT_WEBHOOK_URL", f"http://127.0.0.1:{port}/hook/secret-path-77")
    enabled = enable_sensor(cli_env)
    run_id = fail_a_sync(monkeypatch, capsys)
    result = evaluate_alerts(cli_env, enabled)
    err = capsys.readouterr().err
    assert f"the alert for run {run_id} is not delivered yet: no answer from http://127.0.0.1:{port}/***" in err
    assert "secret-path-77" not in err and "secret-path-77" not in (result.cursor or "")
    (pending,) = json.loads(result.cursor or "{}")["pending"]
    assert pending["body"]["run_id"] == run_id and pending["ticks"] == 1


def test_a_refusal_is_not_retried_and_dingtalk_gets_its_own_shape() -> None:
    body = alert_webhook.alert_body(
        run_id="r1", tags={}, failures=[("prices", "boom")], failed=True, ui_url=alert_webhook.DEFAULT_UI_URL
    )
    dingtalk = alert_webhook.body_for("https://oapi.dingtalk.com/robot/send?access_token=abc", body)
    assert dingtalk["msgtype"] == "text" and dingtalk["text"] == {"content": body["text"]}
    assert alert_webhook.body_for("https://hooks.slack.com/services/x", body)["text"] == body["text"]
    assert alert_webhook.mask_webhook_url("https://oapi.dingtalk.com/robot/send?access_token=abc") == (
        "https://oapi.dingtalk.com/***"
    )

    receiver = Receiver()
    try:
        receiver.statuses = [404]
        assert alert_webhook.deliver(receiver.url, body, sleep=lambda _: None) is False
        assert len(receiver.bodies) == 1, "a refusal is not asked again"
    finally:
        receiver.close()
