"""The optional Slack channel, posting to a loopback stand-in for an incoming webhook."""

from __future__ import annotations

import json
import time

from testbed.processes import wait_until
from testbed.slack import SlackReceiver
from tests.notify.conftest import OutboxFactory, record_incident


def test_slack_gets_the_incident_as_block_kit_alongside_the_email(
    outbox_factory: OutboxFactory, slack_receiver: SlackReceiver
) -> None:
    outbox = outbox_factory(SLACK_WEBHOOK_URL=slack_receiver.url)
    incident = record_incident(outbox.store)
    outbox.notifier.notify(incident, "incident")
    items = outbox.wait_settled()
    assert sorted((i.channel, i.status) for i in items) == [
        ("email", "written"),
        ("slack", "sent"),
    ]
    (post,) = slack_receiver.posts
    assert post["text"] == "[CRITICAL] prod-web-01 down — healed after 1 restart"
    header = post["blocks"][0]
    assert header == {"type": "header", "text": {"type": "plain_text", "text": post["text"]}}
    body = json.dumps(post["blocks"])
    assert "The app exits because it cannot reach its database" in body
    assert "rules engine" in body
    # Log text cannot become Slack markup (links, <!channel> mentions, formatting).
    assert "&lt;script&gt;" in body and "<script>" not in body
    buttons = next(b for b in post["blocks"] if b["type"] == "actions")["elements"]
    assert {b["text"]["text"] for b in buttons} >= {"Prometheus", "Grafana dashboard"}
    (line,) = outbox.alerts_log()
    assert line["channels"] == ["email", "slack"]


def test_slack_5xx_is_retried_and_4xx_is_reported_without_leaking_the_webhook_url(
    outbox_factory: OutboxFactory, slack_receiver: SlackReceiver
) -> None:
    outbox = outbox_factory(SLACK_WEBHOOK_URL=slack_receiver.url, NOTIFY_RETRY_SECONDS="0.1")
    slack_receiver.status = 500  # the fault injector
    first = record_incident(outbox.store)
    outbox.notifier.notify(first, "incident")
    wait_until(lambda: outbox.emails("retry") >= 2, timeout=10, what="Slack retries")
    slack_receiver.status = 200
    wait_until(lambda: len(slack_receiver.posts) == 1, timeout=10, what="the Slack post")

    slack_receiver.status = 404
    second = record_incident(outbox.store, container="prod-app-01")
    outbox.notifier.notify(second, "incident")
    items = outbox.wait_settled()
    time.sleep(0.5)
    (failed,) = [i for i in items if i.channel == "slack" and i.status == "failed"]
    assert failed.incident_id == second.id and "404" in failed.last_error
    assert "secretpath" not in failed.last_error
    assert len(slack_receiver.posts) == 1


def test_an_unreachable_slack_is_retried_without_leaking_the_webhook_url(
    outbox_factory: OutboxFactory,
) -> None:
    url = "http://127.0.0.1:9/services/T000/B000/secretpath0123"  # discard port: refused
    outbox = outbox_factory(SLACK_WEBHOOK_URL=url, NOTIFY_RETRY_SECONDS="5")
    outbox.notifier.notify(record_incident(outbox.store), "incident")
    wait_until(lambda: outbox.emails("retry") >= 1, timeout=10, what="a failed Slack post")
    (slack,) = [i for i in outbox.items() if i.channel == "slack"]
    assert slack.status == "pending" and "unreachable" in slack.last_error
    assert "secretpath" not in slack.last_error
