"""Each locust worker's own request count, written when it quits (distributed runs).

Imported by :mod:`locust_synthetic`, so by every locust profile in this folder (locust
puts a locustfile's folder on ``sys.path``). On a worker (``--worker``), every request
locust records is counted here too; when the worker quits, its totals go to
``$SECONDCONF_LOCUST_WORKER_DIR/<id>.json``.
The harness compares the master's totals with the sum of these: a distributed run whose
parts do not add up is not a run to judge. Outside a worker this does nothing.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from locust import events
from locust.env import Environment
from locust.runners import WorkerRunner

WORKER_DIR_ENV = "SECONDCONF_LOCUST_WORKER_DIR"
_totals = {"requests": 0, "failures": 0}


@events.request.add_listener
def _count(exception: BaseException | None = None, **_kwargs: Any) -> None:
    _totals["requests"] += 1
    _totals["failures"] += exception is not None


@events.quitting.add_listener
def _write(environment: Environment, **_kwargs: Any) -> None:
    folder = os.environ.get(WORKER_DIR_ENV)
    runner = environment.runner
    if not folder or not isinstance(runner, WorkerRunner):
        return
    path = Path(folder) / f"{runner.client_id}.json"
    temporary = path.with_suffix(".tmp")
    temporary.write_text(json.dumps({"worker": runner.client_id, **_totals}), encoding="utf-8")
    os.replace(temporary, path)
