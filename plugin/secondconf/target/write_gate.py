"""The ``prod_write`` gate of the harness's client: a synthetic write to ``prod_observe``
goes out only once :class:`secondconf.hitl.prod_writes.ProdWriteLog` has logged it.

:class:`ProdObserveGuard` calls the gate with each write that is already synthetic in
every respect, after every header is final and before a byte is sent; the gate names the
app the request goes to (from the system map), logs the write, or refuses it with a
:class:`ProductionWriteRefused` naming the gate.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import httpx

from secondconf.contract.traceids import TRACE_ID_HEADER
from secondconf.hitl.prod_writes import (
    PROD_WRITE_GATE,
    ProdWriteLog,
    ProdWriteNotApproved,
    SyntheticWrite,
)
from secondconf.target.client import (
    SYNTHETIC_IDENTITY_HEADER,
    ProductionWriteRefused,
    printable_url,
)
from secondconf.target.map import SystemMap

AppOf = Callable[[httpx.URL], str | None]


def app_of_map(system_map: SystemMap) -> AppOf:
    """The app of the map whose ``base_url`` the URL starts with (the longest such)."""
    bases = sorted(
        ((entry.base_url.rstrip("/"), app_id) for app_id, entry in system_map.apps.items()),
        key=lambda pair: len(pair[0]),
        reverse=True,
    )

    def app_of(url: httpx.URL) -> str | None:
        text = printable_url(url)
        for base, app_id in bases:
            if text == base or text.startswith(base + "/"):
                return app_id
        return None

    return app_of


@dataclass(frozen=True)
class ProdWriteGate:
    """Called by the guard with each synthetic write to ``prod_observe``; see the module."""

    log: ProdWriteLog
    app_of: AppOf

    def __call__(self, request: httpx.Request) -> None:
        url = printable_url(request.url)
        app = self.app_of(request.url)
        if app is None:
            raise ProductionWriteRefused(
                request.method, url, [f"{PROD_WRITE_GATE}: the URL is no app of the system map"]
            )
        write = SyntheticWrite(
            method=request.method.upper(),
            app=app,
            path=request.url.path,
            trace_id=request.headers[TRACE_ID_HEADER],
            identity=request.headers[SYNTHETIC_IDENTITY_HEADER].strip(),
        )
        try:
            self.log(write)
        except ProdWriteNotApproved as refused:
            raise ProductionWriteRefused(request.method, url, [str(refused)]) from None
