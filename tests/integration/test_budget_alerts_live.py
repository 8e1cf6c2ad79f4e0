"""Budget alerts through real gateway processes: a virtual key (and then a team of two keys,
on two instances) spends through the sandbox past 80% and then 100% of its daily budget, and a
loopback webhook receiver gets one `firing` message for each threshold (and `resolved` for
both once the budget is raised); the alerts are listed by `GET /api/v1/alerts` and shown on
the dashboard's alerts page.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from annas_gift.sandbox import RunningSandbox
from tests.integration.alerting import Receiver, alerting_gateways
from tests.integration.gateways import GatewayProcess, write_catalog

pytestmark = [pytest.mark.slow, pytest.mark.postgres, pytest.mark.redis]
ADMIN = "sk-budget-alerts-admin"
ADMIN_AUTH = {"Authorization": f"Bearer {ADMIN}"}
MODEL = "shared/budget"
PRICE_OUT = 0.0001  # USD per completion token; prompts are free
DAILY_USD = 0.01  # 100 completion tokens


def _gateways(
    count: int, tmp_path: Path, pg_url: str, redis_url: str, sandbox: RunningSandbox, hook: str
) -> list[GatewayProcess]:
    prices: dict[str, object] = {"input_cost_per_token": 0, "output_cost_per_token": PRICE_OUT}
    catalog = write_catalog(tmp_path / "catalog.yaml", sandbox.base_url, {MODEL: prices})
    # Only the budget rules may fire (the shared set-up quiets the others).
    admin = {"ANNAS_GIFT_ADMIN_KEY": f"ops:{ADMIN}"}
    return alerting_gateways(
        count, tmp_path, pg_url=pg_url, redis_url=redis_url, catalog=catalog, hook=hook,
        env=admin,
    )  # fmt: skip


def _create_key(url: str, **fields: object) -> tuple[str, str]:
    made = httpx.post(f"{url}/api/v1/keys", json=fields, headers=ADMIN_AUTH, timeout=10)
    assert made.status_code == 201, made.text
    return made.json()["id"], made.json()["secret"]


def _chat(url: str, secret: str) -> httpx.Response:
    # max_tokens=1 keeps the estimate tiny; the sandbox then reports more output than that
    # (tokens=<p>,<c>), as a provider ignoring max_tokens would: the real cost is recorded.
    body = {"model": MODEL, "messages": [{"role": "user", "content": "hi"}], "max_tokens": 1}
    headers = {"Authorization": f"Bearer {secret}"}
    return httpx.post(f"{url}/v1/chat/completions", json=body, headers=headers, timeout=30)


def test_a_key_crossing_80_and_100_percent_of_its_budget_alerts_once_each(
    tmp_path: Path, pg_url: str, redis_url: str, sandbox: RunningSandbox, receiver: Receiver
) -> None:
    (gw,) = _gateways(1, tmp_path, pg_url, redis_url, sandbox, f"{receiver.url}/budget-hook")
    gw.launch()
    try:
        gw.wait_ready()
        key_id, secret = _create_key(gw.url, name="lab-alice", budget_daily_usd=DAILY_USD)
        at80, at100 = f"{key_id}/day/80%", f"{key_id}/day/100%"

        sandbox.script("budget", ["tokens=5,85"])  # $0.0085: 85% of the daily budget
        assert _chat(gw.url, secret).status_code == 200
        receiver.wait_for("firing", 1)
        assert receiver.firing_subjects() == [at80]

        sandbox.script("budget", ["tokens=5,30"])  # +$0.0030: 115%
        assert _chat(gw.url, secret).status_code == 200
        receiver.wait_for("firing", 2)
        refused = _chat(gw.url, secret)
        assert refused.status_code == 429, refused.text
        assert refused.json()["error"]["code"] == "budget_exceeded"
        time.sleep(1.5)  # several more evaluation rounds: nothing more is sent
        assert receiver.firing_subjects() == [at80, at100]
        first, second = receiver.bodies[:2]
        assert first["severity"] == "warning" and second["severity"] == "critical"
        assert "'lab-alice' has used 115% of its daily budget" in second["summary"]

        spend = httpx.get(f"{gw.url}/api/v1/keys/{key_id}", headers=ADMIN_AUTH).json()["spend"]
        assert spend["day_usd"] == pytest.approx(0.0115)
        listed = httpx.get(f"{gw.url}/api/v1/alerts", headers=ADMIN_AUTH, timeout=10).json()
        assert sorted((a["rule"], a["subject"], a["state"]) for a in listed["active"]) == [
            ("key_budget", at100, "firing"),
            ("key_budget", at80, "firing"),
        ]
        with httpx.Client(base_url=gw.url, timeout=10, follow_redirects=True) as browser:
            page = browser.post(
                "/dashboard/login", data={"key": ADMIN, "next": "/dashboard/alerts"}
            )
            assert page.status_code == 200 and "/dashboard/alerts" in str(page.url)
            assert at80 in page.text and at100 in page.text
            assert "lab-alice" in page.text and secret not in page.text

        # The administrator raises the budget: both incidents resolve, once each.
        raised = httpx.patch(
            f"{gw.url}/api/v1/keys/{key_id}", json={"budget_daily_usd": 1.0}, headers=ADMIN_AUTH
        )
        assert raised.status_code == 200, raised.text
        receiver.wait_for("resolved", 2)
        time.sleep(1.0)
    finally:
        logs = gw.stop()
    got = sorted((b["status"], b["subject"]) for b in receiver.bodies)
    print(f"budget alerts: {json.dumps({'messages': len(got), 'got': got})}")
    assert got == [
        ("firing", at100), ("firing", at80), ("resolved", at100), ("resolved", at80)
    ]  # fmt: skip
    assert len({b["incident_id"] for b in receiver.bodies}) == 2  # one incident per threshold
    assert secret not in logs


def _team_budget(gw: GatewayProcess, team: str, daily_usd: float) -> None:
    # As an administrator sets it: the CLI, on the gateways' database and Redis (so every
    # instance hears of the change).
    command = ["keys", "team-budget", team, "--daily", str(daily_usd)]
    done = subprocess.run(
        [sys.executable, "-m", "annas_gift", *command],
        env=gw.env, cwd=gw.workdir, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr


def test_a_team_crossing_80_and_100_percent_alerts_once_each_from_two_instances(
    tmp_path: Path, pg_url: str, redis_url: str, sandbox: RunningSandbox, receiver: Receiver
) -> None:
    # Two keys of team "lab" spend on two gateways sharing Redis and PostgreSQL; both
    # instances evaluate the team_budget rule, and each message is still sent once.
    gateways = _gateways(2, tmp_path, pg_url, redis_url, sandbox, f"{receiver.url}/team-hook")
    for gw in gateways:
        gw.launch()
    first, second = gateways
    logs = ""
    try:
        for gw in gateways:
            gw.wait_ready()
        _team_budget(first, "lab", DAILY_USD)
        _, alice = _create_key(first.url, name="alice", team="lab")  # no budget of their own
        _, bob = _create_key(second.url, name="bob", team="lab")
        at80, at100 = "lab/day/80%", "lab/day/100%"

        sandbox.script("budget", ["tokens=5,85"])  # $0.0085: 85% of the team's daily budget
        assert _chat(first.url, alice).status_code == 200
        receiver.wait_for("firing", 1)
        assert receiver.firing_subjects() == [at80]

        sandbox.script("budget", ["tokens=5,30"])  # +$0.0030 by the other key: 115%
        assert _chat(second.url, bob).status_code == 200
        receiver.wait_for("firing", 2)
        refused = _chat(first.url, bob)  # the team's budget is spent on every instance
        assert refused.status_code == 429, refused.text
        assert refused.json()["error"]["message"].startswith(
            "The team 'lab' of this API key has used its daily budget of $0.01"
        )
        time.sleep(1.5)  # several more evaluation rounds on both instances: nothing more
        assert receiver.firing_subjects() == [at80, at100]
        warning, critical = receiver.bodies[:2]
        assert (warning["severity"], critical["severity"]) == ("warning", "critical")
        assert critical["summary"] == (
            "team 'lab' has used 115% of its daily budget ($0.0115 of $0.0100; alert at 100%)"
        )
        listed = httpx.get(f"{second.url}/api/v1/alerts", headers=ADMIN_AUTH, timeout=10).json()
        assert sorted((a["rule"], a["subject"]) for a in listed["active"]) == [
            ("team_budget", at100),
            ("team_budget", at80),
        ]

        _team_budget(second, "lab", 1.0)  # raised: both incidents resolve, once each
        receiver.wait_for("resolved", 2)
        time.sleep(1.0)
    finally:
        for gw in gateways:
            logs += gw.stop()
    got = sorted((b["status"], b["rule"], b["subject"]) for b in receiver.bodies)
    print(f"team budget alerts, 2 instances: {json.dumps({'messages': len(got), 'got': got})}")
    assert got == [
        ("firing", "team_budget", at100), ("firing", "team_budget", at80),
        ("resolved", "team_budget", at100), ("resolved", "team_budget", at80),
    ]  # fmt: skip
    assert len({b["incident_id"] for b in receiver.bodies}) == 2  # one incident per threshold
    assert alice not in logs and bob not in logs
