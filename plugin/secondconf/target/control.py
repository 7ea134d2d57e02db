"""The target's control surface (contract §9): fault switches, clock offset, key rotation.

Only the reference ecosystem is known to offer it (``/_admin/faults`` on every app,
``/_admin/keys/{rotate,retire}`` on A1, behind an admin token); a deployment offers it when
its admin token is exported as ``REFTARGET_ADMIN_TOKEN``. Never against ``prod_observe``:
there :func:`target_control` answers ``None`` whatever the environment holds.

The admin token goes only to the origin of the app whose ``/_admin/...`` endpoint is
called, over TLS (:mod:`secondconf.target.credentials`).

Checks use it for what cannot be observed otherwise: crossing a 15-minute TTL without
waiting 15 minutes (``clock_offset_s``), rotating A1's signing key, or a drill that turns a
contract rule off to show a check catches it. Every change is undone by the context
managers here, also when the check fails.

Every change and every undo is first told to the control's ``recorder`` (contract §9: the
HITL log's ``action`` entries, wired by the ``fault_control`` fixture); the default
records nothing, so this module needs neither pytest nor the log.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Final, Protocol

import httpx

from secondconf.contract.platform import PROD_OBSERVE
from secondconf.core.secret import Secret
from secondconf.target.client import harness_sync_client
from secondconf.target.credentials import destination_problem
from secondconf.target.map import SystemMap

ADMIN_TOKEN_ENV: Final = "REFTARGET_ADMIN_TOKEN"
FAULTS_PATH: Final = "/_admin/faults"


class ControlError(Exception):
    """The target refused or did not answer a control request: one line says why."""


class ActionRecorder(Protocol):
    """Told of each change before it is made; raising ``ControlError`` refuses the change.

    ``rollback`` marks an undo, which is made even when recording it fails.
    """

    def __call__(self, app_id: str, what: str, *, rollback: bool) -> None: ...


def record_nothing(app_id: str, what: str, *, rollback: bool) -> None:
    """The default recorder."""


@dataclass(frozen=True)
class TargetControl:
    """Admin requests to one target, authorised by the admin token."""

    system_map: SystemMap
    admin_token: Secret
    recorder: ActionRecorder = field(default=record_nothing, repr=False, compare=False)

    def __repr__(self) -> str:
        return f"TargetControl(env={self.system_map.env!r})"

    def _post(self, app_id: str, path: str, body: Mapping[str, Any] | None) -> Any:
        url = self._admin_url(app_id, path)
        try:
            with harness_sync_client(self.system_map, timeout_s=15.0) as client:
                answer = client.post(url, json=dict(body or {}), headers=self._auth)
        except httpx.HTTPError as error:
            raise ControlError(f"{app_id} {path}: unreachable ({type(error).__name__})") from None
        if answer.status_code != 200:
            raise ControlError(f"{app_id} {path}: answered {answer.status_code}")
        try:
            return answer.json()
        except ValueError:
            raise ControlError(f"{app_id} {path}: the answer is not JSON") from None

    def _delete(self, app_id: str, path: str) -> None:
        url = self._admin_url(app_id, path)
        try:
            with harness_sync_client(self.system_map, timeout_s=15.0) as client:
                answer = client.delete(url, headers=self._auth)
        except httpx.HTTPError as error:
            raise ControlError(f"{app_id} {path}: unreachable ({type(error).__name__})") from None
        if answer.status_code not in (200, 204):
            raise ControlError(f"{app_id} {path}: answered {answer.status_code}")

    def _admin_url(self, app_id: str, path: str) -> str:
        """``path`` on ``app_id``, where the admin token may go (ControlError if not)."""
        base_url = self.system_map.apps[app_id].base_url
        url = base_url + path
        problem = destination_problem(url, base_url, self.system_map.env, app_id)
        if problem is not None:
            raise ControlError(
                f"{app_id} {path}: apps.{app_id}.base_url {problem}; "
                f"{self.admin_token.name} not sent"
            )
        return url

    @property
    def _auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.admin_token.reveal()}"}

    def set_faults(self, app_id: str, changes: Mapping[str, Any]) -> None:
        """Merge ``changes`` into ``app_id``'s fault switches."""
        self.recorder(app_id, f"set faults {_compact(changes)}", rollback=False)
        self._post(app_id, FAULTS_PATH, changes)

    def clear_faults(self, app_id: str) -> None:
        """Every fault switch of ``app_id`` off (a rollback)."""
        self._undo(app_id, "clear faults", lambda: self._delete(app_id, FAULTS_PATH))

    def reset_clock(self, app_id: str) -> None:
        """``app_id``'s clock offset back to 0 (a rollback)."""
        back = {"clock_offset_s": 0.0}
        self._undo(
            app_id, f"set faults {_compact(back)}", lambda: self._post(app_id, FAULTS_PATH, back)
        )

    def _undo(self, app_id: str, what: str, undo: Callable[[], object]) -> None:
        try:
            self.recorder(app_id, what, rollback=True)
        finally:
            undo()

    @contextlib.contextmanager
    def faults(self, app_ids: tuple[str, ...], changes: Mapping[str, Any]) -> Iterator[None]:
        """``changes`` on every app of ``app_ids`` for the block; cleared after it."""
        try:
            for app_id in app_ids:
                self.set_faults(app_id, changes)
            yield
        finally:
            for app_id in app_ids:
                self.clear_faults(app_id)

    @contextlib.contextmanager
    def clock_offset(self, app_id: str, offset_s: float) -> Iterator[None]:
        """``app_id``'s clock moved by ``offset_s`` for the block, then put back."""
        try:
            self.set_faults(app_id, {"clock_offset_s": offset_s})
            yield
        finally:
            self.reset_clock(app_id)

    @property
    def platform_app_ids(self) -> tuple[str, ...]:
        """The apps whose clocks make the platform's time: all but the telemetry app, whose
        clock stamps arrivals and so stays the harness's own reference."""
        return tuple(a for a in self.system_map.apps if a != self.system_map.telemetry_app_id)

    def move_platform_clock(self, offset_s: float) -> None:
        """Every platform app's clock ``offset_s`` ahead of real time. One app's clock alone
        would split the platform in two: a key that expired in A5 still lives in A4, which
        then refuses A5's new call under the key A5 derived from it."""
        for app_id in self.platform_app_ids:
            self.set_faults(app_id, {"clock_offset_s": offset_s})

    @contextlib.contextmanager
    def platform_clock_offset(self, offset_s: float) -> Iterator[None]:
        """The platform's clock moved by ``offset_s`` for the block, then every app's put
        back (each rollback tried, also when one fails)."""
        try:
            self.move_platform_clock(offset_s)
            yield
        finally:
            with contextlib.ExitStack() as rollbacks:  # runs its callbacks last first
                for app_id in reversed(self.platform_app_ids):
                    rollbacks.callback(self.reset_clock, app_id)

    def rotate_signing_key(self) -> str:
        """A1 signs new tokens with a fresh key (the old one still verifies); its kid."""
        self.recorder(self.system_map.identity_app_id, "rotate signing key", rollback=False)
        body = self._post(self.system_map.identity_app_id, "/_admin/keys/rotate", None)
        kid = body.get("kid") if isinstance(body, dict) else None
        if not isinstance(kid, str):
            raise ControlError("A1 /_admin/keys/rotate: the answer names no kid")
        return kid


def _compact(changes: Mapping[str, Any]) -> str:
    return json.dumps(dict(changes), sort_keys=True, separators=(",", ":"))


def target_control(system_map: SystemMap, secrets: Mapping[str, Secret]) -> TargetControl | None:
    """The control surface, or ``None`` when the target offers none (or is production)."""
    token = secrets.get(ADMIN_TOKEN_ENV)
    if system_map.env == PROD_OBSERVE or token is None:
        return None
    return TargetControl(system_map, token)
