"""Source A of the second confirmation: the harness's own open-loop probes of /health and /ready.

A closed-loop prober (send, wait for the answer, send the next) slows down exactly when
the target does, so a stall produces one slow sample instead of the many a real client
population would have suffered: coordinated omission. This prober is open loop, like
wrk2 and k6's ``constant-arrival-rate`` executor: request *i* of each target is scheduled
at ``start + i / rate`` and fired as its own task at that time, whether or not earlier
requests have answered, and its latency is measured from its *scheduled* send time to
the end of its response. A stall therefore shows up in every probe that was due during
it, each with the wait it would have had.

Every probe carries a fresh ``X-Trace-Id`` (so A8's copy of it can be found and its
sampling predicted) and the synthetic tags ``X-Test-Run: true`` and ``X-Source: qa``.
A run is bounded: its count is fixed by the schedule, each probe gives up
``timeout_s`` after its scheduled time, so a run ends by ``duration_s + timeout_s``
even against a target that never answers.
"""

from __future__ import annotations

import asyncio
import json
import math
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Final, Literal

from secondconf.checks.liveness.transport import ProbeAnswer, ProbeClient, ProbeFailure
from secondconf.contract.platform import SYNTHETIC_HEADERS
from secondconf.contract.traceids import TRACE_ID_HEADER, new_trace_id
from secondconf.core.clock import Clock, utc_iso
from secondconf.engine.window import Observation
from secondconf.target.map import SystemMap

ProbeKind = Literal["health", "ready"]

# Why a probe failed. "status": an unacceptable HTTP status (see ``status``); "body": the
# status was fine but the body did not say ok/ready (or named another app); the others
# are the transport's (:data:`secondconf.checks.liveness.transport.TransportError`).
ProbeError = Literal["connect", "timeout", "pool", "transport", "status", "body"]

_EXPECTED_STATUS: Final[dict[str, str]] = {"health": "ok", "ready": "ready"}


@dataclass(frozen=True, slots=True)
class ProbeTarget:
    """One endpoint to probe: an app's ``/health`` or ``/ready`` URL."""

    app_id: str
    url: str
    kind: ProbeKind


@dataclass(frozen=True, slots=True)
class ProbeSample:
    """One probe's outcome.

    ``scheduled_at`` and ``sent_at`` are monotonic seconds on the run's clock;
    ``latency_ms`` runs from ``scheduled_at`` (not ``sent_at``) to the end of the response
    or the failure; ``wall_time`` is the RFC 3339 UTC time it was sent (for A8 queries).
    """

    app_id: str
    kind: ProbeKind
    scheduled_at: float
    sent_at: float
    status: int | None
    latency_ms: float
    error: ProbeError | None
    trace_id: str
    wall_time: str
    finished_at: float  # monotonic: when the answer (or the failure) was complete

    @property
    def failed(self) -> bool:
        return self.error is not None

    @property
    def send_lag_s(self) -> float:
        """How late the harness sent it: its own delay, never the target's."""
        return self.sent_at - self.scheduled_at


def probe_targets(system_map: SystemMap, app_ids: Iterable[str] | None = None) -> list[ProbeTarget]:
    """The ``/health`` and ``/ready`` targets of the named apps (default: every app)."""
    chosen = list(system_map.apps) if app_ids is None else list(app_ids)
    targets: list[ProbeTarget] = []
    for app_id in chosen:
        entry = system_map.apps[app_id]
        targets.append(ProbeTarget(app_id, entry.health_url, "health"))
        targets.append(ProbeTarget(app_id, entry.ready_url, "ready"))
    return targets


def to_observation(sample: ProbeSample) -> Observation:
    """The window evaluator's view of a probe: judged at its scheduled time."""
    return Observation(at=sample.scheduled_at, failed=sample.failed, latency_ms=sample.latency_ms)


def probe_schedule(
    n_targets: int, rate_per_target: float, duration_s: float
) -> Iterator[tuple[float, int]]:
    """``(offset_s, target_index)`` in time order: target *j*'s probe *i* at
    ``(i + j / n_targets) / rate``, for every offset below ``duration_s``.

    Targets are staggered across one period so that probing many endpoints does not
    send them all in the same instant.
    """
    i = 0
    while True:
        emitted = False
        for j in range(n_targets):
            offset = (i + j / n_targets) / rate_per_target
            if offset < duration_s:
                emitted = True
                yield offset, j
        if not emitted:
            return
        i += 1


async def run_probes(
    client: ProbeClient,
    targets: Sequence[ProbeTarget],
    *,
    rate_per_target: float,
    duration_s: float,
    clock: Clock,
    on_sample: Callable[[ProbeSample], None] | None = None,
    timeout_s: float = 2.0,
    stop: Callable[[], bool] | None = None,
    trace_ids: Callable[[], str] = new_trace_id,
) -> list[ProbeSample]:
    """Probe every target at ``rate_per_target`` per second for ``duration_s``, open loop.

    Each probe is fired as its own task at its scheduled time; ``on_sample`` is called as
    each completes; ``stop()``, checked before each probe is fired, ends the schedule early
    (probes already sent still complete and are returned, since the target and A8 saw
    them). Returns the samples in schedule order.

    ``clock`` must run at real speed (:class:`~secondconf.core.clock.SystemClock`, or a test
    clock that follows it): waits are ``asyncio.sleep`` until each scheduled time on it.
    Give the window evaluator the same clock, so ``scheduled_at`` falls in its window.
    ``trace_ids`` makes each probe's trace id (e.g. ones the telemetry sampler keeps).
    """
    for name, value in (("rate_per_target", rate_per_target), ("timeout_s", timeout_s)):
        if not (math.isfinite(value) and value > 0):
            raise ValueError(f"{name} must be a positive number, got {value!r}")
    if not (math.isfinite(duration_s) and duration_s >= 0):
        raise ValueError(f"duration_s must be zero or more, got {duration_s!r}")

    samples: list[ProbeSample] = []

    def record(sample: ProbeSample) -> None:
        samples.append(sample)
        if on_sample is not None:
            on_sample(sample)

    start = clock.monotonic()
    try:
        async with asyncio.TaskGroup() as group:
            for offset, index in probe_schedule(len(targets), rate_per_target, duration_s):
                scheduled_at = start + offset
                delay = scheduled_at - clock.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
                if stop is not None and stop():
                    break
                group.create_task(
                    _probe(
                        client, targets[index], scheduled_at, clock, timeout_s, record, trace_ids()
                    )
                )
    except ExceptionGroup as failure:
        # Probe failures are samples, never exceptions: this is a bug or a raising
        # ``on_sample``; surface the first cause as itself, not wrapped in a group.
        raise failure.exceptions[0] from failure
    samples.sort(key=lambda s: s.scheduled_at)
    return samples


async def _probe(
    client: ProbeClient,
    target: ProbeTarget,
    scheduled_at: float,
    clock: Clock,
    timeout_s: float,
    record: Callable[[ProbeSample], None],
    trace_id: str,
) -> None:
    headers = {**SYNTHETIC_HEADERS, TRACE_ID_HEADER: trace_id}
    sent_at = clock.monotonic()
    wall_time = utc_iso(clock.now())
    # The budget runs from the scheduled time, like the latency: a probe fired late has less.
    budget = timeout_s - (sent_at - scheduled_at)
    status: int | None = None
    error: ProbeError | None
    try:
        if budget <= 0:
            raise ProbeFailure("timeout")
        answer = await client.get(target.url, headers, budget)
        status = answer.status
        error = judge_response(target, answer)
    except ProbeFailure as failure:
        error = failure.kind
    finished = clock.monotonic()
    if error is None and finished - scheduled_at > timeout_s:
        error = "timeout"  # answered, but later than the probe's whole budget
    record(
        ProbeSample(
            app_id=target.app_id,
            kind=target.kind,
            scheduled_at=scheduled_at,
            sent_at=sent_at,
            status=status,
            latency_ms=(finished - scheduled_at) * 1000.0,
            error=error,
            trace_id=trace_id,
            wall_time=wall_time,
            finished_at=finished,
        )
    )


def judge_response(target: ProbeTarget, answer: ProbeAnswer) -> ProbeError | None:
    """Whether a probe's answer shows the app live (``/health``) or ready (``/ready``).

    ``/health`` must be 2xx and ``/ready`` exactly 200 (contract §3), and the body must
    say so (``"status": "ok"`` / ``"ready"``, and ``/health``'s ``app_id``, when given,
    must be the probed app's): a proxy's 200 maintenance page is not a live app.
    """
    ok_status = answer.status == 200 if target.kind == "ready" else 200 <= answer.status < 300
    if not ok_status:
        return "status"
    try:
        body: Any = json.loads(answer.body)
    except ValueError:
        return "body"
    if not isinstance(body, dict) or body.get("status") != _EXPECTED_STATUS[target.kind]:
        return "body"
    if target.kind == "health" and body.get("app_id") not in (None, target.app_id):
        return "body"
    return None
