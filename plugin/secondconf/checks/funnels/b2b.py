"""The B2B funnel in the browser (contract §10): A7's provider page -> A6's portal -> A8.

One journey, one synthetic provider (``test_provider_e2e_NN``, NN from 10), one trace id:
the provider page (``pages["b2b.landing"]``) and its CTA ``a#cta`` -> A6's portal, which
sends the browser to A1's sign-up form (username, the synthetic password, an age of 21)
and back -> the portal's forms: register (``form#register``), create a listing
(``form#listing``), publish it (``form.publish``), bill 16.50 USD with 12 cents of A4 work
(``form#bill``); each form answers with ``#result[data-step][data-status]``. Each step's
success and latency are what the browser saw, on the harness clock. Then A8 must hold the
journey's events under its trace id with the synthetic tags within 60 s of the step that
caused them: ``provider_listing_published``, ``provider_billed`` and ``revenue_settled``
(naming the charge's Stripe object), and ``provider_registered`` when the registration
was a new one (a tenant's later members join its provider: no second event).

A journey succeeds when every step answered as the contract says and A8 showed every
event within 60 s; rates count first attempts only (no journey is retried). The browser
comes from :mod:`secondconf.target.browser` (the B2C journeys' Chromium and contexts).
Nothing secret is kept: the password is typed and forgotten.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from secondconf.checks.funnels.model import Cleanup
from secondconf.checks.funnels.progress import JourneyTally
from secondconf.contract.catalog import rule_by_id
from secondconf.contract.traceids import new_idempotency_key, new_trace_id
from secondconf.core.clock import Clock
from secondconf.core.progress import ProgressThrottle
from secondconf.core.secret import Secret
from secondconf.engine.verdict import DecisionMethod, Outcome, Reason, Verdict, judge_rate
from secondconf.target.a8 import A8Client, TelemetryError
from secondconf.target.browser import new_journey_context, open_browser
from secondconf.target.map import SystemMap

if TYPE_CHECKING:
    from playwright.async_api import Browser, Page

STEPS: Final = (
    "b2b.landing",
    "b2b.signup",
    "b2b.register",
    "b2b.listing",
    "b2b.publish",
    "b2b.billing",
)
FORM_STEPS: Final = {  # step -> (the form's submit button, what #result must show)
    "b2b.register": "#register-submit",
    "b2b.listing": "#listing-submit",
    "b2b.billing": "#bill-submit",
}
STEP_EVENT: Final = {
    "b2b.register": "provider_registered",
    "b2b.publish": "provider_listing_published",
    "b2b.billing": "provider_billed",
}
SETTLED_EVENT: Final = "revenue_settled"
USERNAME_PREFIX: Final = "test_provider_e2e_"
FIRST_JOURNEY_NN: Final = 10  # 01-09 are left to the other checks (01 is the named identity)
ADULT_AGE: Final = "21"
GROSS_CENTS: Final = 1650
WORK_COST_CENTS: Final = 12
MIN_SUCCESS: Final = 0.90
TILE_DEADLINE_S: Final = 60.0
POLL_S: Final = 0.5  # as the B2C tiles: the last journeys' events end the phase sooner
SIGNUP_RULE: Final = rule_by_id("B2B-01")
EVENTS_RULE: Final = rule_by_id("B2B-02")
SOURCE: Final = "browser"


@dataclass(frozen=True)
class B2BStep:
    """One step of one journey as the browser saw it (``at``: harness clock, monotonic)."""

    step: str
    ok: bool
    latency_s: float | None = None
    at: float | None = None
    detail: str = ""


@dataclass(frozen=True)
class EventSighting:
    """One event a journey must show in A8, and when the harness first saw it there."""

    event: str
    due_from: float  # the step's answer, harness clock
    seen_after_s: float | None = None  # None: not seen within the deadline
    tags_ok: bool = False
    detail: str = ""


@dataclass(frozen=True)
class B2BJourney:
    """One first attempt of one synthetic provider at the B2B funnel."""

    index: int
    username: str
    trace_id: str
    steps: tuple[B2BStep, ...]
    result: Mapping[str, str] = field(default_factory=dict)  # billing's #result attributes
    registered_new: bool = False
    events: tuple[EventSighting, ...] = ()
    screenshot: str | None = None  # the page when a step failed (passwords masked)

    @property
    def steps_ok(self) -> bool:
        return len(self.steps) == len(STEPS) and all(s.ok for s in self.steps)

    @property
    def events_ok(self) -> bool:
        return bool(self.events) and all(
            e.seen_after_s is not None and e.seen_after_s <= TILE_DEADLINE_S and e.tags_ok
            for e in self.events
        )

    @property
    def ok(self) -> bool:
        return self.steps_ok and self.events_ok

    @property
    def failure(self) -> str | None:
        """The first thing that went wrong, in one line (None for a success)."""
        for step in self.steps:
            if not step.ok:
                return f"{step.step}: {step.detail}"
        if len(self.steps) < len(STEPS):
            return f"{STEPS[len(self.steps)]}: not reached"
        for sighting in self.events:
            if sighting.seen_after_s is None or sighting.seen_after_s > TILE_DEADLINE_S:
                return f"A8: {sighting.event} not seen within {TILE_DEADLINE_S:g} s"
            if not sighting.tags_ok:
                return f"A8: {sighting.event} {sighting.detail}"
        return None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self) | {"ok": self.ok, "failure": self.failure}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> B2BJourney:
        return cls(
            index=data["index"],
            username=data["username"],
            trace_id=data["trace_id"],
            steps=tuple(B2BStep(**s) for s in data["steps"]),
            result=dict(data.get("result", {})),
            registered_new=bool(data.get("registered_new")),
            events=tuple(EventSighting(**e) for e in data.get("events", ())),
            screenshot=data.get("screenshot"),
        )


def journey_username(index: int) -> str:
    """``test_provider_e2e_NN`` of journey ``index`` (0-based), NN from 10 to 99."""
    nn = FIRST_JOURNEY_NN + index
    if nn > 99:
        raise ValueError(f"journey {index}: the synthetic namespace ends at {USERNAME_PREFIX}99")
    return f"{USERNAME_PREFIX}{nn:02d}"


class _StepFailed(Exception):
    """A step did not answer as the contract says; the message says how."""


async def _result(page: Page, step: str) -> dict[str, str]:
    """``#result`` of ``step``: its data attributes, or the step fails with its detail."""
    result = page.locator(f'#result[data-step="{step}"]')
    await result.wait_for()
    attributes: dict[str, str] = await result.evaluate(
        "node => Object.fromEntries(Object.entries(node.dataset))"
    )
    if attributes.get("status") != "ok":
        detail = (await result.inner_text()).strip()[:200]
        raise _StepFailed(f"HTTP {attributes.get('httpStatus', '?')}: {detail}")
    return attributes


async def run_journey(
    browser: Browser,
    system_map: SystemMap,
    index: int,
    password: Secret,
    clock: Clock,
    *,
    timeout_s: float = 30.0,
    evidence_dir: Path | None = None,
) -> B2BJourney:
    """One journey in a fresh browser context; never raises for a product failure. A failed
    step leaves a screenshot (password inputs masked) in ``evidence_dir``, if given."""
    from playwright.async_api import Error as PlaywrightError

    username = journey_username(index)
    trace_id = new_trace_id()
    pages = system_map.pages
    steps: list[B2BStep] = []
    results: dict[str, dict[str, str]] = {}
    screenshot: str | None = None
    context = await new_journey_context(
        browser, trace_id, new_idempotency_key(), timeout_s=timeout_s
    )
    try:
        page = await context.new_page()

        async def landing() -> None:
            await page.goto(pages["b2b.landing"])
            if await page.locator("a#cta").count() != 1:
                raise _StepFailed("the provider page shows no a#cta")

        async def signup() -> None:
            await page.click("a#cta")
            await page.fill("input[name=username]", username)
            await page.fill("input[name=password]", password.reveal())
            if await page.locator("input[name=age]").count():
                await page.fill("input[name=age]", ADULT_AGE)
            await page.click("button[type=submit]")
            await page.locator("section#provider").wait_for()
            if page.url.split("?")[0] != pages["b2b.portal"]:
                raise _StepFailed(f"signed in but landed on {page.url.split('?')[0]}")

        async def register() -> None:
            await page.fill("input[name=display_name]", "QA Journey Provider")
            await page.click(FORM_STEPS["b2b.register"])
            results["b2b.register"] = await _result(page, "b2b.register")

        async def listing() -> None:
            await page.fill("input[name=title]", f"Journey {index} listing")
            await page.fill("input[name=price_cents]", "1500")
            await page.click(FORM_STEPS["b2b.listing"])
            results["b2b.listing"] = await _result(page, "b2b.listing")

        async def publish() -> None:
            listing_id = results["b2b.listing"].get("listingId", "")
            await page.click(f'li[data-listing-id="{listing_id}"] form.publish button')
            results["b2b.publish"] = await _result(page, "b2b.publish")

        async def billing() -> None:
            await page.fill("input[name=gross_cents]", str(GROSS_CENTS))
            await page.fill("input[name=work_cost_cents]", str(WORK_COST_CENTS))
            await page.click(FORM_STEPS["b2b.billing"])
            results["b2b.billing"] = await _result(page, "b2b.billing")

        plays = dict(
            zip(STEPS, (landing, signup, register, listing, publish, billing), strict=True)
        )
        for name, play in plays.items():
            started = clock.monotonic()
            try:
                await play()
            except (_StepFailed, PlaywrightError) as error:
                first = str(error).strip().splitlines()[0][:200] if str(error).strip() else "?"
                steps.append(B2BStep(name, False, clock.monotonic() - started, None, first))
                screenshot = await _screenshot(page, evidence_dir, username)
                break
            done = clock.monotonic()
            steps.append(B2BStep(name, True, round(done - started, 3), done))
    finally:
        await context.close()
    registered_new = results.get("b2b.register", {}).get("alreadyRegistered") == "false"
    return B2BJourney(
        index=index,
        username=username,
        trace_id=trace_id,
        steps=tuple(steps),
        result=results.get("b2b.billing", {}),
        registered_new=registered_new,
        screenshot=screenshot,
    )


async def _screenshot(page: Page, evidence_dir: Path | None, username: str) -> str | None:
    """The page as the failed step left it, or None (no folder, or no page to take)."""
    from playwright.async_api import Error as PlaywrightError

    if evidence_dir is None:
        return None
    evidence_dir.mkdir(parents=True, exist_ok=True)
    path = evidence_dir / f"b2b_journey_{username}.png"
    try:
        await page.screenshot(path=str(path), mask=[page.locator("input[type=password]")])
    except PlaywrightError:
        return None
    return str(path)


def expected_events(journey: B2BJourney) -> list[tuple[str, float]]:
    """(event, due from) for each event the journey's completed steps must show in A8."""
    at = {s.step: s.at for s in journey.steps if s.ok and s.at is not None}
    wanted: list[tuple[str, float]] = []
    for step, event in STEP_EVENT.items():
        if step in at and (step != "b2b.register" or journey.registered_new):
            wanted.append((event, at[step]))
    if "b2b.billing" in at:
        wanted.append((SETTLED_EVENT, at["b2b.billing"]))
    return wanted


def _tags_problem(tags: Mapping[str, Any]) -> str:
    if tags.get("test_run") is not True or tags.get("source") != "qa":
        return f"tags {dict(tags)} are not the synthetic tags"
    return ""


async def watch_events(journey: B2BJourney, a8: A8Client, clock: Clock) -> B2BJourney:
    """The journey with its A8 sightings: its trace polled every 0.5 s from its end until
    every expected event is seen or 60 s have passed since the step that caused it."""
    pending = dict(expected_events(journey))
    seen: dict[str, EventSighting] = {}
    while pending:
        try:
            stored = await a8.events(trace_id=journey.trace_id)
        except TelemetryError:
            stored = []
        now = clock.monotonic()
        for item in stored:
            if item.event in pending:
                due = pending.pop(item.event)
                problem = _tags_problem(item.tags)
                seen[item.event] = EventSighting(
                    item.event, due, round(now - due, 3), not problem, problem
                )
        for event, due in list(pending.items()):
            if now - due > TILE_DEADLINE_S:
                seen[event] = EventSighting(event, due, None, False, "not seen")
                del pending[event]
        if pending:
            await asyncio.sleep(POLL_S)
    return replace(journey, events=tuple(seen[event] for event, _ in expected_events(journey)))


def cleanup_summary(cleanups: Sequence[Cleanup]) -> dict[str, Any]:
    """The journeys' identities deleted and proven gone (reported, not judged here)."""
    return {
        "identities": len(cleanups),
        "proven_deleted": sum(1 for c in cleanups if c.proven),
        "not_proven": [
            f"{c.subject}: {c.problem or f'DELETE {c.delete_status}, GET {c.proof_status}'}"
            for c in cleanups
            if not c.proven
        ][:10],
    }


def judge_signup(
    journeys: Sequence[B2BJourney],
    *,
    method: DecisionMethod = "wilson",
    confidence: float = 0.95,
    cleanup: Mapping[str, Any] | None = None,
) -> Verdict:
    """Provider signup >= 90 %: the failure rate's upper bound below 10 % (first attempts;
    with zero failures n >= 35 clears it by the two-sided Wilson 95 % limit)."""
    failures = sum(1 for j in journeys if not j.ok)
    verdict = judge_rate(
        check=SIGNUP_RULE.check,
        source=SOURCE,
        failures=failures,
        n=len(journeys),
        threshold=1 - MIN_SUCCESS,
        method=method,
        confidence=confidence,
        subject="B2B",
    )
    success_lower = None if verdict.upper is None else round(1 - verdict.upper, 4)
    failing = [f"{j.username}: {j.failure}" for j in journeys if not j.ok]
    return _with_details(
        verdict,
        {
            "rule": SIGNUP_RULE.rule_id,
            "journeys": len(journeys),
            "succeeded": len(journeys) - failures,
            "success_lower_bound": success_lower,
            "min_success": MIN_SUCCESS,
            "first_attempts_only": True,
            "failures": failing[:10],
            "journey_table": [journey_row(j) for j in journeys],
            "cleanup": cleanup,
        },
    )


def judge_events(journeys: Sequence[B2BJourney]) -> Verdict:
    """Every completed step's event in A8 within 60 s under the journey's trace id, with
    the synthetic tags; the revenue event names the charge's Stripe object (via the step)."""
    sightings = [e for j in journeys for e in j.events]
    late = [
        f"{j.username} {e.event}: {e.detail or 'late'}"
        for j in journeys
        for e in j.events
        if e.seen_after_s is None or e.seen_after_s > TILE_DEADLINE_S or not e.tags_ok
    ]
    latencies = sorted(e.seen_after_s for e in sightings if e.seen_after_s is not None)
    return Verdict(
        check=EVENTS_RULE.check,
        source="a8",
        subject="B2B",
        outcome=Outcome.FAIL if late else (Outcome.INCONCLUSIVE if not sightings else Outcome.PASS),
        reason=(
            Reason.CHECK_FAILED
            if late
            else (Reason.NO_DATA if not sightings else Reason.CHECK_PASSED)
        ),
        threshold=TILE_DEADLINE_S,
        estimate=latencies[-1] if latencies else None,
        lower=None,
        upper=latencies[-1] if latencies else None,
        method="every_event",
        alpha=0.0,
        n=len(sightings),
        k=len(late),
        details={
            "rule": EVENTS_RULE.rule_id,
            "events": len(sightings),
            "max_seen_after_s": latencies[-1] if latencies else None,
            "not_in_time": late[:10],
        },
    )


def journey_row(journey: B2BJourney) -> dict[str, Any]:
    """One journey in a report: who, its trace, each step's latency, its money, its events."""
    return {
        "username": journey.username,
        "trace_id": journey.trace_id,
        "ok": journey.ok,
        "failure": journey.failure,
        "steps": {s.step: (s.latency_s if s.ok else None) for s in journey.steps},
        "billing": {
            name: journey.result.get(key)
            for name, key in (
                ("gross_cents", "grossCents"),
                ("fee_cents", "feeCents"),
                ("billed_cents", "billedCents"),
                ("stripe_object_id", "stripeObjectId"),
                ("revenue_event_id", "revenueEventId"),
            )
        },
        "events_seen_after_s": {e.event: e.seen_after_s for e in journey.events},
        "screenshot": journey.screenshot,
    }


def _with_details(verdict: Verdict, details: Mapping[str, Any]) -> Verdict:
    return replace(verdict, details={**verdict.details, **details})


async def run_b2b_funnel(
    system_map: SystemMap,
    password: Secret,
    a8: A8Client,
    clock: Clock,
    *,
    journeys: int,
    concurrency: int,
    timeout_s: float = 30.0,
    evidence_dir: Path | None = None,
    progress: ProgressThrottle | None = None,
) -> list[B2BJourney]:
    """``journeys`` first attempts, ``concurrency`` at a time, each watched in A8 from its end;
    ``progress`` gets a line at least every 10 s while they run.

    Raises :class:`secondconf.target.browser.BrowserError` when Chromium cannot start and
    ``ValueError`` when the map lists no B2B pages or the count leaves the namespace.
    """
    for step in ("b2b.landing", "b2b.portal"):
        if step not in system_map.pages:
            raise ValueError(f"the system map lists no pages.{step}")
    journey_username(journeys - 1)  # the last one must still be in the namespace
    gate = asyncio.Semaphore(concurrency)
    tally = JourneyTally("B2B journeys", journeys, clock, progress)
    async with open_browser(system_map) as browser, tally.ticking():

        async def one(index: int) -> B2BJourney:
            async with gate:
                played = await run_journey(
                    browser,
                    system_map,
                    index,
                    password,
                    clock,
                    timeout_s=timeout_s,
                    evidence_dir=evidence_dir,
                )
            watched = await watch_events(played, a8, clock)
            tally.record(watched.ok)
            return watched

        return list(await asyncio.gather(*(one(i) for i in range(journeys))))
