"""The B2C journey in a real browser, end to end: the reference's own proof that it can be
walked as the harness walks it (issue 10's interface): a fresh Chromium context with the
journey's headers on every request, A7's CTA, A1's sign-up form, A5's callback, A2's
checkout page, and A8's funnel-status tile for the trace."""

from __future__ import annotations

import uuid

import pytest

from tests.ecosystem.apps.b2c import delete_identity, journey_tile, owned
from tests.ecosystem.apps.target import SYNTHETIC, Target, eventually, new_trace_id

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu"]
STUDENT = "test_student_e2e_97"


@pytest.mark.asyncio
async def test_a_student_journey_in_chromium_pays_and_shows_on_a8(target: Target) -> None:
    from playwright.async_api import async_playwright

    delete_identity(target, STUDENT)
    trace_id = new_trace_id()
    headers = {**SYNTHETIC, "X-Trace-Id": trace_id, "X-Idempotency-Key": str(uuid.uuid4())}
    try:
        async with async_playwright() as playwright:
            browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            try:
                context = await browser.new_context(
                    ignore_https_errors=True, extra_http_headers=headers
                )
                page = await context.new_page()
                await page.goto(target.map["pages"]["b2c.landing"])
                cta = page.locator("a#cta")
                arm = await cta.get_attribute("data-arm")
                page_id = await cta.get_attribute("data-page-id")
                await cta.click()
                await page.wait_for_selector("form#signup")
                await page.fill("form#signup input[name=username]", STUDENT)
                await page.fill(
                    "form#signup input[name=password]", target.secrets["OIDC_CLIENT_SECRET"]
                )
                await page.fill("form#signup input[name=age]", "19")
                await page.click("form#signup button[type=submit]")
                await page.wait_for_selector("form#checkout")
                assert page.url.startswith(target.map["pages"]["b2c.checkout"])
                await page.click("#pay")
                result = page.locator("#result")
                await result.wait_for()
                status = await result.get_attribute("data-status")
                payment_intent = await result.get_attribute("data-payment-intent")
                cookies = await context.cookies(target.url("A1"))
            finally:
                await browser.close()

        assert status == "succeeded"
        assert payment_intent is not None
        assert payment_intent.startswith("pi_")
        [session] = [c for c in cookies if c["name"] == "a1_session"]
        assert (session["secure"], session["httpOnly"], session["sameSite"]) == (
            True,
            True,
            "None",
        )
        assert eventually(lambda: bool(journey_tile(target, trace_id)["complete"]), 15.0)
        [attributed] = target.events(trace_id, "conversion_attributed")
        assert (attributed["data"]["arm"], attributed["data"]["page_id"]) == (arm, page_id)
        [settled] = target.events(trace_id, "revenue_settled")
        assert settled["finance_metrics"]["stripe_object_id"] == payment_intent
        assert settled["tags"] == {"test_run": True, "source": "qa", "env": "embedded"}
    finally:
        assert delete_identity(target, STUDENT).status_code == 204
    assert owned(target, STUDENT).status_code == 404
