"""The B2B funnel's pages: A7's provider page -> A6's portal (login at A1) -> the API steps.

One journey runs in Chromium (Playwright's async API) as the harness's will; the others
check the pages and their guards over plain HTTP.
"""

from __future__ import annotations

import contextlib
import html
import re
import uuid
from collections.abc import Iterator
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from tests.ecosystem.apps.target import PROVIDER, SYNTHETIC, Target, new_trace_id

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu"]
B2B_STEPS = {
    ("A7", "GET", "/providers"): "b2b.landing",
    ("A6", "POST", "/v1/providers"): "b2b.register",
    ("A6", "POST", "/v1/listings"): "b2b.listing",
    ("A6", "POST", "/v1/listings/{listing_id}/publish"): "b2b.publish",
    ("A6", "POST", "/v1/billing"): "b2b.billing",
}


def test_the_map_lists_the_b2b_pages_on_their_apps(target: Target) -> None:
    pages = target.map["pages"]
    assert pages["b2b.landing"] == target.url("A7", "/providers")
    assert pages["b2b.portal"] == target.url("A6", "/portal")


def test_each_b2b_step_is_marked_in_its_apps_openapi(target: Target) -> None:
    for (app_id, method, path), step in B2B_STEPS.items():
        document = target.get(app_id, "/openapi.json").json()
        assert document["paths"][path][method.lower()]["x-funnel-step"] == step


def test_the_provider_pages_cta_leads_to_the_portal(target: Target) -> None:
    page = target.get("A7", "/providers")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert f'id="cta" class="cta" href="{target.map["pages"]["b2b.portal"]}"' in page.text


def test_the_portal_without_a_session_starts_pkce_sign_up_at_a1(target: Target) -> None:
    answer = target.get("A6", "/portal")
    assert answer.status_code == 302
    location = urlsplit(answer.headers["location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == target.url(
        "A1", "/oauth/authorize"
    )
    query = {name: values[0] for name, values in parse_qs(location.query).items()}
    assert query["client_id"] == "provider-portal"
    assert query["redirect_uri"] == target.url("A6", "/portal/callback")
    assert query["prompt"] == "create"
    assert query["code_challenge_method"] == "S256"
    assert query["state"]
    assert query["code_challenge"]


def test_a_portal_form_post_needs_a_session_and_a6s_origin(target: Target) -> None:
    url = target.url("A6", "/portal/register")
    no_session = target.http.post(url, data={"display_name": "x"})
    assert no_session.status_code == 401
    cross_origin = target.http.post(
        url, data={"display_name": "x"}, headers={"Origin": "https://elsewhere.example"}
    )
    assert cross_origin.status_code == 403


def test_an_unknown_state_at_the_callback_is_refused(target: Target) -> None:
    answer = target.get("A6", "/portal/callback?code=abc&state=never-issued")
    assert answer.status_code == 400
    assert "a6_portal" not in answer.headers.get("set-cookie", "")


@pytest.mark.asyncio
async def test_a_provider_journey_in_chromium_emits_each_step_under_its_trace(
    target: Target,
) -> None:
    from playwright.async_api import async_playwright

    trace_id = new_trace_id()
    headers = {**SYNTHETIC, "X-Trace-Id": trace_id, "X-Idempotency-Key": str(uuid.uuid4())}
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            context = await browser.new_context(
                ignore_https_errors=True, extra_http_headers=headers
            )
            page = await context.new_page()
            await page.goto(target.map["pages"]["b2b.landing"])
            await page.click("a#cta")
            await page.fill("input[name=username]", PROVIDER)
            await page.fill("input[name=password]", target.secrets["OIDC_CLIENT_SECRET"])
            if await page.locator("input[name=age]").count():
                await page.fill("input[name=age]", "30")
            await page.click("button[type=submit]")
            await page.wait_for_selector("section#provider")
            assert page.url == target.map["pages"]["b2b.portal"]

            await page.fill("input[name=display_name]", "Journey Tutoring")
            await page.click("#register-submit")
            await _expect_result(page, "b2b.register")
            await page.fill("input[name=title]", "Algebra crash course")
            await page.fill("input[name=price_cents]", "1500")
            await page.click("#listing-submit")
            listing_id = await _expect_result(page, "b2b.listing", "data-listing-id")
            await page.click(f'li[data-listing-id="{listing_id}"] form.publish button')
            await _expect_result(page, "b2b.publish")
            await page.fill("input[name=gross_cents]", "1650")
            await page.fill("input[name=work_cost_cents]", "12")
            await page.click("#bill-submit")
            result = page.locator("#result")
            await _expect_result(page, "b2b.billing")
            assert await result.get_attribute("data-fee-cents") == "50"  # 49.5 half up
            assert await result.get_attribute("data-billed-cents") == "48"  # 12 x 4
            payment_intent = await result.get_attribute("data-stripe-object-id")
        finally:
            await browser.close()

    assert payment_intent is not None
    assert payment_intent.startswith("pi_")
    for event in ("provider_listing_published", "provider_billed", "revenue_settled"):
        found = target.wait_for_events(trace_id, event)
        assert len(found) == 1, event
        assert found[0]["tags"]["test_run"] is True
        assert found[0]["tags"]["source"] == "qa"
    settled = target.events(trace_id, "revenue_settled")[0]
    assert settled["finance_metrics"]["stripe_object_id"] == payment_intent
    assert settled["finance_metrics"]["fee_cents"] == 50


async def _expect_result(page: object, step: str, attribute: str | None = None) -> str | None:
    """Wait for ``#result`` of ``step`` to say ok; the value of ``attribute`` if asked."""
    from playwright.async_api import Page

    assert isinstance(page, Page)
    result = page.locator(f'#result[data-step="{step}"]')
    await result.wait_for()
    assert await result.get_attribute("data-status") == "ok", await result.inner_text()
    return None if attribute is None else await result.get_attribute(attribute)


@contextlib.contextmanager
def signed_in_portal(target: Target, username: str) -> Iterator[httpx.Client]:
    """A client with a portal session for ``username``, signed up through A1's form."""
    with httpx.Client(verify=target.ssl, trust_env=False, timeout=15.0) as client:
        start = client.get(target.url("A6", "/portal"))
        form_page = client.get(start.headers["location"])
        hidden = dict(re.findall(r'type="hidden" name="([^"]+)" value="([^"]*)"', form_page.text))
        hidden = {name: html.unescape(value) for name, value in hidden.items()}
        fields = {**hidden, "username": username, "age": "30"}
        fields["password"] = target.secrets["OIDC_CLIENT_SECRET"]
        signed_up = client.post(target.url("A1", "/oauth/authorize"), data=fields)
        assert signed_up.status_code == 303, signed_up.text[:300]
        callback = client.get(signed_up.headers["location"])
        assert callback.status_code == 303
        assert "a6_portal" in client.cookies
        yield client


def test_a_resubmitted_billing_form_is_a_replay_not_a_second_charge(target: Target) -> None:
    trace_id = new_trace_id()
    headers = {**SYNTHETIC, "X-Trace-Id": trace_id, "X-Idempotency-Key": str(uuid.uuid4())}
    with signed_in_portal(target, "test_provider_e2e_09") as client:
        url = target.url("A6", "/portal/register")
        assert client.post(url, data={"display_name": "Replay"}, headers=headers).status_code == 200
        bill = {"gross_cents": "150", "work_cost_cents": "5"}
        url = target.url("A6", "/portal/billing")
        first = client.post(url, data=bill, headers=headers)
        again = client.post(url, data=bill, headers=headers)
    ids = [re.search(r'data-billing-id="([^"]+)"', r.text) for r in (first, again)]
    assert ids[0] is not None
    assert ids[1] is not None
    assert ids[0].group(1) == ids[1].group(1)
    assert 'data-fee-cents="5"' in first.text  # 4.5 half up
    assert 'data-billed-cents="20"' in first.text
    billed = target.wait_for_events(trace_id, "provider_billed")
    assert len(billed) == 1


def test_the_portal_shows_the_newest_listings_first_a_page_at_a_time(target: Target) -> None:
    headers = target.mutation_headers(PROVIDER)
    target.post("A6", "/v1/providers", {"display_name": "Paging"}, headers)
    for n in range(21):
        created = target.post(
            "A6", "/v1/listings", {"title": f"paging {n}"}, target.mutation_headers(PROVIDER)
        )
        assert created.status_code == 201
    newest = created.json()["listing_id"]
    with signed_in_portal(target, "test_provider_e2e_08") as client:
        page = client.get(target.url("A6", "/portal")).text
    shown = re.findall(r'<li data-listing-id="([^"]+)"', page)
    assert len(shown) == 20
    assert shown[0] == newest
