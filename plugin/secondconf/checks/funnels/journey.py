"""One B2C journey in the browser (contract §10; the steps of docs/checks/funnel-b2c.md).

Landing (A7's page, its CTA) -> the CTA to A5's ``/auth/start`` -> A1's sign-up form
(username, the synthetic password, an age of 21) -> A1 redirects to A5's callback, which
redeems the code, activates the student, has A3 attribute the conversion and redirects to
A2's checkout page -> ``#pay`` -> the result page. Every answer the browser gets is
recorded on the harness clock (request sent, answer in), so each step's success and
latency come from what the browser saw, never from what a page claims. The attribution
step happens inside A5's callback: only A8 can show it, so the run judges it there.

Nothing secret is kept: the password is typed and forgotten, cookies are recorded by name
and attributes, token claims by name.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import parse_qs, urlsplit

from secondconf.checks.funnels.model import AuthStep, Journey, StepResult
from secondconf.contract.traceids import new_idempotency_key
from secondconf.core.clock import Clock
from secondconf.core.secret import Secret
from secondconf.target.browser import new_journey_context, scrub_archive
from secondconf.target.login import parse_set_cookie
from secondconf.target.map import SystemMap

if TYPE_CHECKING:
    from playwright.async_api import Browser, BrowserContext, Page, Request, Response

ADULT_AGE: Final = "21"  # a whole-year §14 attestation above 13: no parental consent needed
AUTH_PATHS: Final = ("/oauth/", "/auth/")


@dataclass(frozen=True)
class JourneyPages:
    """Where the journey goes, from the map: the landing and checkout pages, A1's and A5's
    origins and the callback (the browser login's registered ``redirect_uri``)."""

    landing: str
    checkout: str
    identity_origin: str
    student_origin: str
    callback: str

    @classmethod
    def of(cls, system_map: SystemMap) -> JourneyPages:
        """Raises ``KeyError``/``ValueError`` naming what the map lacks."""
        if system_map.browser_login is None:
            raise ValueError("the system map has no identity.browser_login")
        for step in ("b2c.landing", "b2c.checkout"):
            if step not in system_map.pages:
                raise ValueError(f"the system map lists no pages.{step}")
        return cls(
            landing=system_map.pages["b2c.landing"],
            checkout=system_map.pages["b2c.checkout"],
            identity_origin=_origin(system_map.identity_base_url),
            student_origin=_origin(system_map.apps["A5"].base_url),
            callback=system_map.browser_login.redirect_uri,
        )


@dataclass
class _Exchange:
    """One request of the journey and its answer, timed on the harness clock."""

    request: Request
    sent: float
    answered: float | None = None
    response: Response | None = None


@dataclass
class _Recorder:
    clock: Clock
    exchanges: list[_Exchange] = field(default_factory=list)

    def on_request(self, request: Request) -> None:
        self.exchanges.append(_Exchange(request, self.clock.monotonic()))

    def on_response(self, response: Response) -> None:
        for exchange in reversed(self.exchanges):
            if exchange.request is response.request and exchange.response is None:
                exchange.response, exchange.answered = response, self.clock.monotonic()
                return

    def find(self, method: str, url_prefix: str) -> _Exchange | None:
        """The last exchange of ``method`` to a URL starting with ``url_prefix``."""
        for exchange in reversed(self.exchanges):
            request = exchange.request
            if request.method == method and _without_query(request.url).startswith(url_prefix):
                return exchange
        return None


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def _without_query(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}{parts.path}"


def _timed(exchange: _Exchange | None) -> tuple[float | None, float | None, int | None]:
    if exchange is None or exchange.answered is None or exchange.response is None:
        return None, None, None
    return exchange.answered - exchange.sent, exchange.answered, exchange.response.status


async def _problem_detail(response: Response | None) -> str:
    """A refused answer's problem ``type`` tail and ``detail`` (never more than a line)."""
    if response is None:
        return "no answer"
    try:
        body = await response.json()
    except Exception:  # any unreadable body is just "no problem detail"
        return f"HTTP {response.status}"
    if not isinstance(body, dict):
        return f"HTTP {response.status}"
    kind = str(body.get("type", "")).rsplit("/", 1)[-1]
    detail = " ".join(str(body.get("detail", "")).split())[:160]
    return f"HTTP {response.status} {kind}: {detail}".strip()


def _claim_names(value: str) -> tuple[str, ...]:
    """The claim names of a JWT-shaped value (read, never verified, values dropped)."""
    parts = value.split(".")
    if len(parts) != 3:
        return ()
    try:
        claims = json.loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
    except (binascii.Error, ValueError):
        return ()
    return tuple(sorted(claims)) if isinstance(claims, dict) else ()


async def _auth_steps(recorder: _Recorder) -> tuple[tuple[AuthStep, ...], list[str]]:
    """Every auth exchange (A1's ``/oauth/*``, A5's ``/auth/*``) without a value, and the
    cookie values seen (to scrub from a kept trace)."""
    steps: list[AuthStep] = []
    values: list[str] = []
    for exchange in recorder.exchanges:
        response = exchange.response
        parts = urlsplit(exchange.request.url)
        if response is None or not parts.path.startswith(AUTH_PATHS):
            continue
        cookies: list[Mapping[str, Any]] = []
        claims: set[str] = set()
        for header in await response.headers_array():
            if header["name"].lower() != "set-cookie":
                continue
            for line in header["value"].split("\n"):
                cookie = parse_set_cookie(line)
                cookies.append({"name": cookie.name, "attributes": dict(cookie.attributes)})
                value = line.split(";", 1)[0].partition("=")[2].strip()
                if value:
                    values.append(value)
                    claims.update(_claim_names(value))
        location = response.headers.get("location")
        steps.append(
            AuthStep(
                host=parts.netloc,
                path=parts.path,
                method=exchange.request.method,
                status=response.status,
                location=None if location is None else _without_query(location),
                cookies=tuple(cookies),
                token_claims=tuple(sorted(claims)),
            )
        )
    return tuple(steps), values


async def walk(
    browser: Browser,
    system_map: SystemMap,
    *,
    index: int,
    attempt: int,
    username: str,
    trace_id: str,
    password: Secret,
    clock: Clock,
    timeout_s: float,
    evidence_dir: Path | None,
) -> Journey:
    """Walk one journey; never raises for what the target does (that is in the result).

    With ``evidence_dir``, a failing journey's Playwright trace (secrets scrubbed) and a
    screenshot are kept there; a passing one keeps nothing.
    """
    pages = JourneyPages.of(system_map)
    journey = Journey(index=index, attempt=attempt, username=username, trace_id=trace_id)
    context = await new_journey_context(
        browser, trace_id, new_idempotency_key(), timeout_s=timeout_s
    )
    recorder = _Recorder(clock)
    context.on("request", recorder.on_request)
    context.on("response", recorder.on_response)
    if evidence_dir is not None:
        # DOM snapshots, no screencast: the screencast's frames cost the most CPU, and a
        # failing journey gets its own screenshot below.
        await context.tracing.start(screenshots=False, snapshots=True)
    page = await context.new_page()
    try:
        journey = await _steps(page, journey, pages, recorder, password, clock)
    except Exception as error:  # a browser error is a finding, not a crash
        first = (str(error).strip().splitlines() or [type(error).__name__])[0]
        journey = replace(journey, error=f"{type(error).__name__}: {first[:200]}")
    auth, cookie_values = await _auth_steps(recorder)
    journey = replace(journey, auth=auth)
    failed = not journey.browser_ok
    if evidence_dir is not None:
        journey = await _keep_evidence(
            context, page, journey, evidence_dir, failed, [password.reveal(), *cookie_values]
        )
    await context.close()
    return journey


async def _keep_evidence(
    context: BrowserContext,
    page: Page,
    journey: Journey,
    evidence_dir: Path,
    failed: bool,
    secrets: Sequence[str],
) -> Journey:
    if not failed:
        await context.tracing.stop()
        return journey
    evidence_dir.mkdir(parents=True, exist_ok=True)
    stem = evidence_dir / f"b2c-journey-{journey.index:02d}-attempt{journey.attempt}"
    shot = stem.with_suffix(".png")
    trace = stem.with_suffix(".trace.zip")
    try:
        await page.screenshot(path=str(shot), mask=[page.locator("input[type=password]")])
    except Exception:  # a page that cannot be shot still has its trace
        shot = None  # type: ignore[assignment]
    await context.tracing.stop(path=str(trace))
    scrub_archive(trace, secrets)
    kept = tuple(str(p) for p in (trace, shot) if p is not None)
    return replace(journey, evidence=kept)


async def _steps(
    page: Page,
    journey: Journey,
    pages: JourneyPages,
    recorder: _Recorder,
    password: Secret,
    clock: Clock,
) -> Journey:
    steps: list[StepResult] = []

    def done(result: StepResult) -> Journey:
        steps.append(result)
        return replace(journey, steps=tuple(steps))

    # 1. landing: A7's page and the CTA its bandit chose
    answer = await page.goto(pages.landing)
    latency, at, status = _timed(recorder.find("GET", _without_query(pages.landing)))
    cta = page.locator("a#cta")
    if answer is None or answer.status != 200 or await cta.count() != 1:
        return done(StepResult("b2c.landing", False, latency, at, status, "no a#cta on the page"))
    page_id = await cta.get_attribute("data-page-id")
    arm = await cta.get_attribute("data-arm")
    journey = replace(journey, page_id=page_id, arm=arm)
    if not page_id or not arm:
        return done(StepResult("b2c.landing", False, latency, at, status, "CTA without page/arm"))
    journey = done(StepResult("b2c.landing", True, latency, at, status))

    # 2. signup: the CTA leads (through A5's /auth/start) to A1's sign-up form
    await cta.click()
    form = page.locator("form#signup")
    try:
        await form.wait_for(state="visible")
    except Exception:  # a missing form is judged below
        where = urlsplit(page.url)
        return done(
            StepResult(
                "b2c.signup", False, detail=f"no form#signup (at {where.netloc}{where.path})"
            )
        )
    await form.locator("input[name=username]").fill(journey.username)
    await form.locator("input[name=password]").fill(password.reveal())
    await form.locator("input[name=age]").fill(ADULT_AGE)
    await form.locator("[type=submit]").click()
    await page.wait_for_load_state("load")
    submitted = recorder.find("POST", pages.identity_origin + "/oauth/authorize")
    latency, at, status = _timed(submitted)
    location = (
        ""
        if submitted is None or submitted.response is None
        else (submitted.response.headers.get("location") or "")
    )
    query = parse_qs(urlsplit(location).query)
    if not (_without_query(location) == pages.callback and "code" in query and "state" in query):
        detail = await _problem_detail(None if submitted is None else submitted.response)
        return done(StepResult("b2c.signup", False, latency, at, status, detail))
    journey = done(StepResult("b2c.signup", True, latency, at, status))

    # 3. activation: A5's callback redeems the code and sends the student to checkout
    callback = recorder.find("GET", pages.callback)
    latency, at, status = _timed(callback)
    checkout = page.locator("form#checkout")
    on_checkout = _without_query(page.url).startswith(_without_query(pages.checkout))
    if not on_checkout or await checkout.count() != 1:
        detail = await _problem_detail(None if callback is None else callback.response)
        return done(StepResult("b2c.activation", False, latency, at, status, detail))
    journey = done(StepResult("b2c.activation", True, latency, at, status))

    # 4. checkout: #pay charges the micro SKU; the result page says how it went
    started = clock.monotonic()
    await checkout.locator("#pay").click()
    result = page.locator("#result")
    await result.wait_for(state="attached")
    finished = clock.monotonic()
    outcome = await result.get_attribute("data-status")
    intent = await result.get_attribute("data-payment-intent")
    journey = replace(journey, checkout_status=outcome, payment_intent=intent or None)
    if outcome != "succeeded" or not (intent or "").startswith("pi_"):
        detail = " ".join((await result.inner_text()).split())[:200]
        return done(StepResult("b2c.checkout", False, finished - started, finished, None, detail))
    return done(StepResult("b2c.checkout", True, finished - started, finished, 200))
