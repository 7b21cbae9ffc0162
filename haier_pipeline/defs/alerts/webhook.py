"""Alerts that reach someone: one JSON POST per alerted run to `HAIER_ALERT_WEBHOOK_URL`.

The body carries the alert as fields (account, step, cause, run id, a link to the run in the UI) and as a
Slack-compatible `text`, so a Slack incoming webhook takes it as it is; it also carries Feishu's (Lark's) `msg_type`
and `content`, so a Feishu custom bot does too. A DingTalk robot (`oapi.dingtalk.com`) reads `text` as an object,
so for that host the text goes there as `{"content": ...}` instead.

A delivery that fails is logged and retried a few times with backoff; what is still undelivered is handed back to
the sensor, which keeps it in its cursor and tries again on its next ticks. Nothing here raises: an alert that
cannot be delivered never fails the run or the sensor. Nothing secret goes in: the causes are already redacted,
and the body is redacted again with the configured secrets before it is sent; the webhook URL itself (a Slack
hook's path is its secret) is never logged, only its host.

Standard library and `requests` only at import time: `settings` imports `mask_webhook_url` from here.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import requests

from haier_pipeline.api_urls import mask_webhook_url
from haier_pipeline.defs.outcomes import account_of
from haier_pipeline.errors import HaierConfigurationError
from haier_pipeline.redaction import redact, redacting_logger, register_secret
from haier_pipeline.settings import SECRET_FIELDS, default, load_settings

POST_TIMEOUT = 5.0  # seconds per POST
ATTEMPTS = 3  # per alert and tick
BACKOFF = 0.5  # seconds before the second attempt, doubled for each next one
TICK_BUDGET = 20.0  # seconds one tick may spend delivering (a sensor tick times out after 60 s)
PENDING_TICKS = 10  # ticks an undelivered alert is tried again on (about 5 minutes at one tick per 30 s)
MAX_PENDING = 20  # undelivered alerts kept in the cursor; the oldest are dropped first (and logged)
MAX_CAUSE = 1500  # characters of a cause in the body

# Codes a webhook answers with HTTP 200 when it refused the message anyway (Feishu: `code`/`StatusCode`, DingTalk:
# `errcode`; 0 is success).
_ERROR_CODE_KEYS = ("code", "StatusCode", "errcode")

log = redacting_logger("haier_pipeline.alerts.webhook")


def is_dingtalk(url: str) -> bool:
    try:
        return (urlsplit(url).hostname or "").lower().endswith("dingtalk.com")
    except ValueError:
        return False


DEFAULT_UI_URL: str = default("ui_url")


@dataclass(frozen=True)
class WebhookConfig:
    url: str | None
    ui_url: str = DEFAULT_UI_URL


def webhook_config() -> WebhookConfig:
    """HAIER_ALERT_WEBHOOK_URL and HAIER_UI_URL from the one settings model (the environment and `.env`); the
    configured secrets are registered for redaction, so no body can carry one. A configuration the settings refuse
    (the code location would not have loaded) sends nothing, saying so."""
    try:
        settings = load_settings(require_credentials=False)
    except HaierConfigurationError as error:
        log.error(f"haier-pipeline alert webhook: not used, the configuration is invalid: {error}")
        return WebhookConfig(url=None)
    for name in SECRET_FIELDS:
        register_secret(settings.secret(name))
    return WebhookConfig(url=settings.alert_webhook_url, ui_url=settings.ui_url)


def run_link(ui_url: str, run_id: str) -> str:
    return f"{ui_url.rstrip('/')}/runs/{run_id}"


def alert_body(
    *, run_id: str, tags: dict[str, str], failures: Sequence[tuple[str, str]], failed: bool, ui_url: str
) -> dict[str, Any]:
    """The JSON body for one run: `failures` is (step, cause) per failed step (or the steps that left items
    unanswered, when not `failed`)."""
    account = account_of(tags, failures[0][0] if failures else None)
    steps = [{"step": step, "cause": redact(cause)[:MAX_CAUSE]} for step, cause in failures]
    step = ", ".join(item["step"] for item in steps) or "(run)"
    joined = "; ".join(f"{item['step']}: {item['cause']}" for item in steps)
    cause = steps[0]["cause"] if len(steps) == 1 else joined
    link = run_link(ui_url, run_id)
    what = "failed" if failed else "left items unanswered"
    text = f"haier-pipeline alert: {step} {what} (account {account})\ncause: {cause}\nrun {run_id}: {link}"
    return {
        "source": "haier-pipeline",
        "event": "run_failed" if failed else "items_unanswered",
        "account": account,
        "step": step,
        "cause": cause,
        "steps": steps,
        "run_id": run_id,
        "url": link,
        "text": text,
        # Feishu / Lark custom bots read these two; Slack ignores them.
        "msg_type": "text",
        "content": {"text": text},
    }


def body_for(url: str, body: dict[str, Any]) -> dict[str, Any]:
    """The body as `url`'s service reads it: DingTalk's `text` is an object, every other service's a string."""
    if is_dingtalk(url):
        return {**body, "msgtype": "text", "text": {"content": body["text"]}}
    return body


@dataclass
class Pending:
    """An alert not delivered yet, and the ticks it has been tried on."""

    body: dict[str, Any]
    ticks: int = 0

    def dump(self) -> dict[str, Any]:
        return {"body": self.body, "ticks": self.ticks}

    @classmethod
    def load(cls, data: dict[str, Any]) -> Pending:
        return cls(body=dict(data["body"]), ticks=int(data.get("ticks", 0)))


class Refused(Exception):
    """The webhook answered, and refused: trying again will not help (a revoked hook, a wrong keyword)."""


class NotDelivered(Exception):
    """No answer, or an answer that says to try later (429, 5xx)."""


def post(url: str, body: dict[str, Any], timeout: float = POST_TIMEOUT) -> None:
    """One POST; raises Refused or NotDelivered, worded without the URL's path or query."""
    host = mask_webhook_url(url)
    try:
        response = requests.post(url, json=body_for(url, body), timeout=timeout)
    except requests.Timeout:
        raise NotDelivered(f"no answer from {host} within {timeout:.0f} s") from None
    except requests.ConnectionError as error:
        reason = "connection refused" if "refused" in str(error).lower() else "could not connect"
        raise NotDelivered(f"no answer from {host} ({reason})") from None
    except requests.RequestException as error:
        raise Refused(f"{host} could not be asked ({type(error).__name__})") from None
    said = " ".join(response.text.split())[:200]
    if response.status_code == 429 or response.status_code >= 500:
        raise NotDelivered(f"{host} answered HTTP {response.status_code} {said}".rstrip())
    if response.status_code >= 300:
        raise Refused(f"{host} refused it: HTTP {response.status_code} {said}".rstrip())
    try:
        answer = response.json()
    except ValueError:
        return  # Slack answers "ok" as text
    if isinstance(answer, dict):
        for key in _ERROR_CODE_KEYS:
            if answer.get(key) not in (None, 0, "0"):
                raise Refused(f"{host} refused it: {said}")


def deliver(
    url: str,
    body: dict[str, Any],
    *,
    attempts: int = ATTEMPTS,
    backoff: float = BACKOFF,
    deadline: float | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> bool | None:
    """POST `body`, trying again with backoff while the webhook does not answer: True once delivered, False when it
    was refused (logged; not worth another try), None when it is still undelivered (logged; try on a later tick)."""
    run = body.get("run_id", "?")
    for attempt in range(1, attempts + 1):
        try:
            post(url, body)
            return True
        except Refused as error:
            log.error(f"haier-pipeline alert webhook: the alert for run {run} was not delivered: {error}")
            return False
        except NotDelivered as error:
            last = f"{error} (attempt {attempt} of {attempts})"
        pause = backoff * 2 ** (attempt - 1)
        if attempt == attempts or (deadline is not None and time.monotonic() + pause > deadline):
            break
        sleep(pause)
    log.warning(f"haier-pipeline alert webhook: the alert for run {run} is not delivered yet: {last}")
    return None


def deliver_all(
    url: str | None,
    pending: Sequence[Pending],
    *,
    budget: float = TICK_BUDGET,
    sleep: Callable[[float], None] = time.sleep,
) -> list[Pending]:
    """Deliver the alerts of this tick and those left from earlier ticks, oldest first, within `budget` seconds;
    returns what is still to be tried on a later tick (none when no webhook is configured)."""
    if not url:
        return []
    deadline = time.monotonic() + budget
    left: list[Pending] = []
    for item in pending:
        if time.monotonic() >= deadline:
            left.append(item)  # not tried this tick: no tick is spent
            continue
        outcome = deliver(url, item.body, deadline=deadline, sleep=sleep)
        if outcome is None:
            item.ticks += 1
            if item.ticks < PENDING_TICKS:
                left.append(item)
            else:
                log.error(
                    f"haier-pipeline alert webhook: gave up on the alert for run {item.body.get('run_id')} after "
                    f"{item.ticks} ticks; its ALERT line is in the daemon's log. Check HAIER_ALERT_WEBHOOK_URL "
                    f"({mask_webhook_url(url)})"
                )
    if len(left) > MAX_PENDING:
        dropped = left[: len(left) - MAX_PENDING]
        left = left[len(left) - MAX_PENDING :]
        runs = ", ".join(str(item.body.get("run_id")) for item in dropped)
        log.error(f"haier-pipeline alert webhook: too many undelivered alerts; dropped those of runs {runs}")
    return left


def dump_pending(pending: Sequence[Pending]) -> list[dict[str, Any]]:
    return [item.dump() for item in pending]


def load_pending(data: Any) -> list[Pending]:
    if not isinstance(data, list):
        return []
    return [Pending.load(item) for item in data if isinstance(item, dict) and isinstance(item.get("body"), dict)]
