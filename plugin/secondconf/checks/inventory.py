"""Phase 0, inventory: what each app of the system map serves, checked once per app.

For one app the check asks (GET only, through the harness's client, so ``prod_observe``
stays read-only) its ``/health``, ``/ready`` and ``/openapi.json`` and judges:

* the map entry is valid (guaranteed by loading the map; recorded);
* ``/health`` answers 200 with ``status: ok`` and the app's own ``app_id``;
* ``/ready`` answers 200 ``ready``, or 503 ``not_ready`` (recorded; not ready is a FAIL);
* the OpenAPI document is present (its route count recorded) or absent (recorded, not a
  failure in phase 0).

The result is one non-statistical :class:`~secondconf.engine.verdict.Verdict` (method
``exhaustive``): PASS with ``CHECK_PASSED`` when nothing is wrong, else FAIL with
``CHECK_FAILED``; its ``details`` hold everything found, which the inventory report reads.
"""

from __future__ import annotations

from typing import Any, Final

import httpx

from secondconf.core.clock import Clock, SystemClock
from secondconf.engine.verdict import Outcome, Reason, Verdict, Window
from secondconf.target.client import harness_sync_client
from secondconf.target.discovery import openapi_routes
from secondconf.target.map import OPENAPI_PATH, AppEntry, SystemMap

INVENTORY_CHECK: Final = "inventory"
INVENTORY_SOURCE: Final = "probe"
# The judged items: the map entry, /health and /ready (the OpenAPI document is recorded only).
JUDGED: Final = ("map_entry", "health", "ready")


def check_inventory(
    system_map: SystemMap,
    app_id: str,
    *,
    env: str,
    timeout_s: float = 5.0,
    clock: Clock | None = None,
) -> Verdict:
    """Inspect ``app_id`` of ``system_map`` and judge it (see the module docstring)."""
    clock = clock or SystemClock()
    entry = system_map.apps[app_id]
    start = clock.now()
    with harness_sync_client(system_map, env=env, timeout_s=timeout_s) as client:
        details = inspect_app(client, entry)
    return inventory_verdict(app_id, details, Window.between(start, clock.now()))


def inspect_app(client: httpx.Client, entry: AppEntry) -> dict[str, Any]:
    """Everything the app's probes and OpenAPI document tell, plus the problems found."""
    problems: list[str] = []
    notes: list[str] = []
    details: dict[str, Any] = {
        "base_url": entry.base_url,
        "map_entry": {
            "valid": True,  # the map was validated when it was loaded
            "role": entry.role,
            "health": entry.health,
            "ready": entry.ready,
            "version": entry.version,
            "routes": len(entry.routes),
        },
        "health": _inspect_health(client, entry, problems),
        "ready": _inspect_ready(client, entry, problems),
        "openapi": _inspect_openapi(client, entry, notes),
    }
    served = details["health"].get("version")
    if served is not None and served != entry.version:
        notes.append(f"health: serves version {served!r}; the map says {entry.version!r}")
    details["problems"] = problems
    details["notes"] = notes
    return details


def inventory_verdict(
    app_id: str, details: dict[str, Any], window: Window | None = None
) -> Verdict:
    """The verdict for what :func:`inspect_app` found: PASS iff it found no problem."""
    problems = list(details.get("problems", ()))
    failed = {_item_of(problem) for problem in problems}
    passed = not problems
    return Verdict(
        check=INVENTORY_CHECK,
        source=INVENTORY_SOURCE,
        subject=app_id,
        outcome=Outcome.PASS if passed else Outcome.FAIL,
        reason=Reason.CHECK_PASSED if passed else Reason.CHECK_FAILED,
        threshold=0.0,
        estimate=len(failed) / len(JUDGED),
        lower=None,
        upper=None,
        method="exhaustive",
        alpha=0.0,
        n=len(JUDGED),
        k=len(failed),
        window=window or Window(),
        details=details,
    )


def _item_of(problem: str) -> str:
    """Problems start with the item they concern (``health: …``, ``ready: …``)."""
    return problem.partition(":")[0]


def _get(client: httpx.Client, url: str) -> httpx.Response | str:
    try:
        return client.get(url)
    except httpx.TimeoutException:
        return "timeout"
    except httpx.HTTPError as error:
        text = " ".join(str(error).split()) or type(error).__name__
        return f"{type(error).__name__}: {text[:200]}"


def _body(response: httpx.Response) -> dict[str, Any] | None:
    try:
        body = response.json()
    except ValueError:
        return None
    return body if isinstance(body, dict) else None


def _inspect_health(client: httpx.Client, entry: AppEntry, problems: list[str]) -> dict[str, Any]:
    url = entry.health_url
    answer = _get(client, url)
    if isinstance(answer, str):
        problems.append(f"health: {url} did not answer ({answer})")
        return {"url": url, "status_code": None, "error": answer}
    body = _body(answer) or {}
    found = {
        "url": url,
        "status_code": answer.status_code,
        "status": body.get("status"),
        "app_id": body.get("app_id"),
        "version": body.get("version"),
    }
    if answer.status_code != 200:
        problems.append(f"health: {url} answered {answer.status_code}, not 200")
    if found["status"] != "ok":
        problems.append(f"health: status is {found['status']!r}, not 'ok'")
    if found["app_id"] != entry.app_id:
        problems.append(f"health: app_id is {found['app_id']!r}, not {entry.app_id!r}")
    return found


def _inspect_ready(client: httpx.Client, entry: AppEntry, problems: list[str]) -> dict[str, Any]:
    url = entry.ready_url
    answer = _get(client, url)
    if isinstance(answer, str):
        problems.append(f"ready: {url} did not answer ({answer})")
        return {"url": url, "status_code": None, "state": "unreachable", "error": answer}
    status = (_body(answer) or {}).get("status")
    if answer.status_code == 200 and status == "ready":
        state = "ready"
    elif answer.status_code == 503 and status == "not_ready":
        state = "not_ready"
        problems.append(f"ready: {url} answered 503 not_ready")
    else:
        state = "unexpected"
        problems.append(
            f"ready: {url} answered {answer.status_code} with status {status!r} "
            "(expected 200 ready or 503 not_ready)"
        )
    return {"url": url, "status_code": answer.status_code, "status": status, "state": state}


def _inspect_openapi(client: httpx.Client, entry: AppEntry, notes: list[str]) -> dict[str, Any]:
    url = entry.base_url + OPENAPI_PATH
    answer = _get(client, url)
    if isinstance(answer, str):
        notes.append(f"openapi: {url} did not answer ({answer}); recorded as absent")
        return {"url": url, "present": False, "status_code": None, "routes": None}
    document = _body(answer) if answer.status_code == 200 else None
    if document is None or "paths" not in document:
        notes.append(f"openapi: {url} absent (answered {answer.status_code})")
        return {"url": url, "present": False, "status_code": answer.status_code, "routes": None}
    routes = openapi_routes(document)
    return {
        "url": url,
        "present": True,
        "status_code": answer.status_code,
        "routes": len(routes),
    }
