"""The telemetry checks (TEL-01..03) against the reference target: all PASS on the clean
ecosystem; each FAILs, naming its rule, with the fault it looks for switched on:

* ``disabled_rules: ["event_schema"]`` on A8 (stored events lose ``p95_ms``) -> TEL-01;
* ``telemetry_drop_fraction: 1.0`` on an app (its non-money events never reach A8) -> TEL-02;
* ``disabled_rules: ["a8_dedupe"]`` on A8 (every copy stored) -> TEL-03.

Here :func:`drive_traffic` plays the part of the session's hardening run: every route that
causes a required event, once, bodies from the apps' OpenAPI examples, then it waits
(bounded) until A8 holds what the apps emitted. The last test runs the suite file itself
through pytest against the same ecosystem, with the plugin's own ``hardening_run``.
"""

from __future__ import annotations

import asyncio
import shutil
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from secondconf.checks.telemetry.dedupe import TEL03, check_dedupe
from secondconf.checks.telemetry.sampling import TEL02, check_sampling
from secondconf.checks.telemetry.schema import TEL01, check_event_schema
from secondconf.contract.events import REQUIRED_EVENTS
from secondconf.contract.platform import SyntheticIdentity
from secondconf.contract.traceids import new_idempotency_key, new_sampled_in_trace_id
from secondconf.core.clock import SystemClock
from secondconf.core.secret import Secret
from secondconf.engine.verdict import Outcome, Verdict
from secondconf.target.a8 import A8Client
from secondconf.target.client import harness_client, harness_sync_client, synthetic_headers
from secondconf.target.control import TargetControl
from secondconf.target.identity import AccessToken, fetch_token_sync
from secondconf.target.map import SystemMap

from tests.harness.conftest import HarnessTarget
from tests.plugin.conftest import BASE_INI
from tests.plugin.pytester_helpers import read_results

SUITE = Path(__file__).parents[2] / "suites" / "test_telemetry_contract.py"
DEADLINE_S = 15.0
STUDENT, PROVIDER = SyntheticIdentity.STUDENT, SyntheticIdentity.PROVIDER


class Traffic:
    """Synthetic requests to the reference apps, each with a trace id A8 must keep."""

    def __init__(
        self, system_map: SystemMap, secrets: Mapping[str, str], client: httpx.Client
    ) -> None:
        self.map = system_map
        self.a8_auth = {"Authorization": f"Bearer {secrets['A8_TELEMETRY_KEY']}"}
        self.client = client
        secret = Secret("OIDC_CLIENT_SECRET", secrets["OIDC_CLIENT_SECRET"])
        self.tokens: dict[str, AccessToken] = {
            str(who): fetch_token_sync(client, system_map, secret, str(who))
            for who in (STUDENT, PROVIDER)
        }
        self.examples: dict[tuple[str, str], Any] = {}
        self.last_trace: dict[str, str] = {}

    def url(self, app_id: str, path: str) -> str:
        return self.map.apps[app_id].base_url + path

    def example(self, app_id: str, path: str) -> dict[str, Any]:
        """The request example the app's OpenAPI document gives for ``POST path``."""
        if (app_id, path) not in self.examples:
            document = self.client.get(self.url(app_id, "/openapi.json")).json()
            for template, operations in document["paths"].items():
                body = operations.get("post", {}).get("requestBody", {})
                example = body.get("content", {}).get("application/json", {}).get("example")
                self.examples[(app_id, template)] = example or {}
        return dict(self.examples[(app_id, path)])

    def post(
        self, app_id: str, path: str, body: dict[str, Any], who: str = STUDENT
    ) -> dict[str, Any]:
        trace = new_sampled_in_trace_id(0.1)
        headers = {
            **self.tokens[str(who)].authorization,
            **synthetic_headers(who, idempotency_key=new_idempotency_key()),
            "X-Trace-Id": trace,
        }
        answer = self.client.post(self.url(app_id, path), json=body, headers=headers)
        assert answer.status_code < 300, f"{app_id} POST {path}: {answer.status_code}"
        self.last_trace[app_id] = trace
        result: dict[str, Any] = answer.json()
        return result

    def get(self, app_id: str, path: str) -> None:
        trace = new_sampled_in_trace_id(0.1)
        answer = self.client.get(self.url(app_id, path), headers={"X-Trace-Id": trace})
        assert answer.status_code == 200, f"{app_id} GET {path}: {answer.status_code}"
        self.last_trace[app_id] = trace

    def held(self, trace: str, event: str | None = None) -> int:
        params = {"trace_id": trace} | ({"event": event} if event else {})
        answer = self.client.get(self.url("A8", "/v1/events"), params=params, headers=self.a8_auth)
        return len(answer.json()["events"])

    def wait(self, trace: str, event: str) -> None:
        deadline = time.monotonic() + DEADLINE_S
        while self.held(trace, event) == 0:
            assert time.monotonic() < deadline, f"A8 never showed {event} of {trace}"
            time.sleep(0.1)


def drive_traffic(system_map: SystemMap, secrets: Mapping[str, str]) -> datetime:
    """Cause every required event once; return when the traffic began."""
    started = datetime.now(UTC)
    with harness_sync_client(system_map, env="embedded", timeout_s=15.0) as client:
        traffic = Traffic(system_map, secrets, client)
        slug = f"qa-{uuid.uuid4().hex[:12]}"
        page = traffic.post("A7", "/v1/pages", traffic.example("A7", "/v1/pages") | {"slug": slug})
        traffic.post("A7", f"/v1/pages/{page['id']}/publish", {})
        traffic.get("A7", f"/p/{slug}")
        impression = traffic.example("A7", "/v1/impressions") | {"page_id": page["id"]}
        traffic.post("A7", "/v1/impressions", impression)
        traffic.post("A2", "/v1/checkout", traffic.example("A2", "/v1/checkout"))
        traffic.post("A5", "/v1/activations", traffic.example("A5", "/v1/activations"))
        traffic.post("A5", "/v1/credits/spend", traffic.example("A5", "/v1/credits/spend"))
        traffic.post("A6", "/v1/providers", traffic.example("A6", "/v1/providers"), PROVIDER)
        listing = traffic.post(
            "A6", "/v1/listings", traffic.example("A6", "/v1/listings"), PROVIDER
        )
        traffic.post("A6", f"/v1/listings/{listing['listing_id']}/publish", {}, PROVIDER)
        run = traffic.example("A3", "/v1/runs") | {"cycles": 1, "cycle_interval_ms": 50}
        traffic.post("A3", "/v1/runs", run)
        traffic.wait(traffic.last_trace["A3"], "orchestration_cycle_complete")
        for app_id in ("A1", "A2", "A5", "A6", "A7"):  # markers: what came before is in A8
            traffic.get(app_id, "/health")
            traffic.wait(traffic.last_trace[app_id], "http_request")
    return started


def harness_check(
    target: HarnessTarget, body: Callable[[httpx.AsyncClient, A8Client], Awaitable[Verdict]]
) -> Verdict:
    async def run() -> Verdict:
        async with harness_client(target.map, env="embedded") as client:
            a8 = A8Client(client, target.map, target.secret("A8_TELEMETRY_KEY"))
            return await body(client, a8)

    return asyncio.run(run())


def tel01(target: HarnessTarget, since: datetime) -> Verdict:
    return harness_check(target, lambda _, a8: check_event_schema(a8, since, SystemClock()))


def tel02(target: HarnessTarget, since: datetime) -> Verdict:
    return harness_check(
        target,
        lambda client, a8: check_sampling(
            client, target.map, a8, since, SystemClock(), deadline_s=3.0
        ),
    )


def tel03(target: HarnessTarget) -> Verdict:
    control = TargetControl(target.map, target.secret("REFTARGET_ADMIN_TOKEN"))
    return harness_check(
        target,
        lambda _, a8: check_dedupe(
            a8,
            "embedded",
            SystemClock(),
            deadline_s=DEADLINE_S,
            synthetic=synthetic_headers(STUDENT),
            control=control,
        ),
    )


@pytest.fixture(scope="module")
def traffic_start(harness_target: HarnessTarget) -> datetime:
    return drive_traffic(harness_target.map, harness_target.secrets)


@pytest.fixture
def faulted(harness_target: HarnessTarget) -> Iterator[Callable[[str, dict[str, Any]], None]]:
    """Set faults on apps for one test; every app touched is cleared after it."""
    touched: list[str] = []

    def switch(app_id: str, faults: dict[str, Any]) -> None:
        touched.append(app_id)
        harness_target.set_faults(app_id, faults)

    yield switch
    for app_id in touched:
        harness_target.set_faults(
            app_id, {"disabled_rules": [], "telemetry_drop_fraction": 0.0, "clock_offset_s": 0.0}
        )


def failed_on(verdict: Verdict, rule_id: str) -> list[str]:
    assert verdict.outcome is Outcome.FAIL, verdict.details
    assert verdict.check.startswith(rule_id)
    assert verdict.details["rule"] == rule_id
    violations: list[str] = verdict.details["violations"]
    return violations


def test_the_clean_ecosystem_passes_every_check(
    harness_target: HarnessTarget, traffic_start: datetime
) -> None:
    schema = tel01(harness_target, traffic_start)
    assert schema.outcome is Outcome.PASS, schema.details["violations"]
    assert set(schema.details["required_names"]) == set(REQUIRED_EVENTS)
    assert set(schema.details["required_names"].values()) == {"in the window"}
    sampling = tel02(harness_target, traffic_start)
    assert sampling.outcome is Outcome.PASS, sampling.details["violations"]
    assert sum(p["must_be_held"] for p in sampling.details["probes"]) == 16
    dedupe = tel03(harness_target)
    assert dedupe.outcome is Outcome.PASS, (
        dedupe.details["violations"],
        dedupe.details["untested"],
    )
    assert [c["stored"] for c in dedupe.details["cases"]] == [1, 1, 1, 1, 1, 2]
    for verdict in (schema, sampling, dedupe):
        assert verdict.details["requests"], verdict.check


def test_tel01_fails_when_a8_stores_events_without_p95(
    harness_target: HarnessTarget,
    traffic_start: datetime,
    faulted: Callable[[str, dict[str, Any]], None],
) -> None:
    faulted("A8", {"disabled_rules": ["event_schema"]})
    since = drive_traffic(harness_target.map, harness_target.secrets)
    violations = failed_on(tel01(harness_target, since), TEL01.rule_id)
    assert violations
    assert all(v.startswith("p95_ms: absent in ") for v in violations)


def test_tel02_fails_when_an_app_drops_its_telemetry(
    harness_target: HarnessTarget,
    traffic_start: datetime,
    faulted: Callable[[str, dict[str, Any]], None],
) -> None:
    faulted("A4", {"telemetry_drop_fraction": 1.0})
    violations = failed_on(tel02(harness_target, traffic_start), TEL02.rule_id)
    assert len(violations) == 2
    assert all(v.startswith("A4 GET /health trace ") for v in violations)
    assert all("sampled in, yet A8 holds no http_request" in v for v in violations)


def test_tel03_fails_when_a8_stores_every_copy(
    harness_target: HarnessTarget, faulted: Callable[[str, dict[str, Any]], None]
) -> None:
    faulted("A8", {"disabled_rules": ["a8_dedupe"]})
    violations = failed_on(tel03(harness_target), TEL03.rule_id)
    assert (
        "the same event, app, key and trace sent three times: A8 stored 3, §6 says 1" in violations
    )


def test_the_suite_passes_the_clean_ecosystem_through_pytest(
    pytester: pytest.Pytester,
    harness_target: HarnessTarget,
    traffic_start: datetime,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name, value in harness_target.secrets.items():
        monkeypatch.setenv(name, value)
    pytester.makeini(BASE_INI)
    shutil.copy(SUITE, pytester.path / "test_telemetry_contract.py")
    system_map = f"--system-map={harness_target.eco.system_map_path}"
    result = pytester.runpytest(system_map, "-p", "no:cacheprovider", "--telemetry-deadline=15s")
    result.assert_outcomes(passed=3)
    checks = read_results(pytester)["checks"]
    verdicts = {v["check"][:6]: v for c in checks for v in c["verdicts"]}
    assert sorted(verdicts) == ["TEL-01", "TEL-02", "TEL-03"]
    assert {v["outcome"] for v in verdicts.values()} == {"PASS"}
    tel03_cases = verdicts["TEL-03"]["details"]["cases"]
    assert [c["stored"] for c in tel03_cases] == [1, 1, 1, 1, 1, 2]  # the clock control was used
    assert all(c["marks"]["phase"] == 3 for c in checks)
