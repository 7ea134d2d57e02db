"""``secondconf-discover``: write a system map (contract §2) by asking each app what it serves.

Base URLs come from the environment variables ``SECONDCONF_A1_URL`` … ``SECONDCONF_A8_URL``
and/or a targets file (``--targets FILE``, a JSON object ``{"A1": "https://…", …}``); a
variable beats the file's entry for the same app. Discovery asks every app's ``/health``,
``/ready`` and ``/openapi.json`` (GET only), writes the map atomically to ``--out``
(default ``system_map.json``), and prints one line per app plus discovery's notes.

Every error (an unreachable app, a bad file or URL, a missing app) is one
``secondconf-discover: error:`` line on stderr with exit code 2, never a traceback.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Final, NoReturn

from secondconf.contract.platform import APP_IDS, ENVS
from secondconf.target.discovery import (
    TARGET_URL_ENV_VARS,
    DiscoveryNote,
    base_urls_from_env,
    discover,
    load_targets_file,
)
from secondconf.target.map import (
    HEALTH_PATH,
    OPENAPI_PATH,
    READY_PATH,
    SystemMap,
    SystemMapError,
    check_no_secrets,
    dump_system_map,
    write_system_map,
)

PROG = "secondconf-discover"
TIMEOUT_BOUNDS_S: Final = (0.1, 300.0)
DEFAULT_OUT = "system_map.json"


class _UsageError(Exception):
    """A command-line mistake; ``main`` turns it into one stderr line and exit 2."""


class _Parser(argparse.ArgumentParser):
    """argparse, but errors are raised (not printed with usage and exited)."""

    def error(self, message: str) -> NoReturn:
        raise _UsageError(message)


def _timeout(text: str) -> float:
    """Seconds per request: finite and bounded (``float`` alone takes ``nan`` and ``inf``)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    low, high = TIMEOUT_BOUNDS_S
    if not (math.isfinite(value) and low <= value <= high):
        raise argparse.ArgumentTypeError(f"{text!r} must be from {low:g} to {high:g} seconds")
    return value


def _build_parser() -> _Parser:
    variables = f"{TARGET_URL_ENV_VARS['A1']} … {TARGET_URL_ENV_VARS['A8']}"
    parser = _Parser(
        prog=PROG,
        description=(
            "Write a system map by probing each app's /health, /ready and /openapi.json. "
            f"Base URLs come from {variables} and/or --targets; a variable beats the file."
        ),
    )
    parser.add_argument(
        "--targets",
        metavar="FILE",
        help='targets file: a JSON object {"A1": "https://…", …, "A8": "https://…"}',
    )
    parser.add_argument(
        "--env", choices=ENVS, default="staging", help="environment recorded in the map"
    )
    parser.add_argument(
        "--ca-bundle",
        metavar="PEM",
        help="CA bundle that signs the targets' certificates (trusted, and recorded in the map)",
    )
    parser.add_argument(
        "--out", metavar="PATH", default=DEFAULT_OUT, help=f"map to write (default {DEFAULT_OUT})"
    )
    parser.add_argument(
        "--timeout",
        metavar="SECONDS",
        type=_timeout,
        default=5.0,
        help=f"per request, {TIMEOUT_BOUNDS_S[0]:g} to {TIMEOUT_BOUNDS_S[1]:g} (default 5)",
    )
    return parser


def main(argv: Sequence[str] | None = None, *, environ: Mapping[str, str] | None = None) -> int:
    """Entry point of ``secondconf-discover``; ``environ`` (default ``os.environ``) for tests."""
    environ = os.environ if environ is None else environ
    try:
        try:
            args = _build_parser().parse_args(argv)
        except SystemExit as exc:  # --help prints and exits on its own
            return exc.code if isinstance(exc.code, int) else 0
        return _run(args, environ)
    except (_UsageError, SystemMapError) as exc:
        _error(str(exc))
    except OSError as exc:
        where = f" {exc.filename}" if exc.filename else ""
        _error(f"cannot write{where}: {exc.strerror or exc}")
    return 2


def _error(message: str) -> None:
    print(f"{PROG}: error: {' '.join(message.split())}", file=sys.stderr)


def _run(args: argparse.Namespace, environ: Mapping[str, str]) -> int:
    urls = load_targets_file(args.targets) if args.targets else {}
    urls.update(base_urls_from_env(environ))  # the environment wins over the file
    verify: bool | Path = True
    if args.ca_bundle:
        verify = Path(args.ca_bundle)
        if not verify.is_file():
            raise _UsageError(f"--ca-bundle: {verify} is not a file")
    system_map, notes = asyncio.run(
        discover(urls, env=args.env, verify=verify, timeout_s=args.timeout)
    )
    # Nothing discovered can be a secret, but the map must never carry one: check before writing.
    check_no_secrets(dump_system_map(system_map), "discovered map", environ=environ)
    out = Path(args.out)
    write_system_map(system_map, out)
    for line in summary_lines(system_map, notes):
        print(line)
    print(f"wrote {out} (env {system_map.env}, {len(system_map.apps)} apps)")
    return 0


def summary_lines(system_map: SystemMap, notes: Sequence[DiscoveryNote]) -> list[str]:
    """One line per app (what answered, version, route count), then every note."""
    noted = {note.url for note in notes}
    lines: list[str] = []
    for app_id in APP_IDS:
        entry = system_map.apps[app_id]
        health = "noted" if entry.base_url + HEALTH_PATH in noted else "ok"
        ready = "not ready" if entry.base_url + READY_PATH in noted else "ready"
        openapi = "absent" if entry.base_url + OPENAPI_PATH in noted else "found"
        lines.append(
            f"{app_id} {entry.base_url}: health {health}, {ready}, openapi {openapi}, "
            f"version {entry.version}, {len(entry.routes)} routes"
        )
    lines.extend(f"note: {note}" for note in notes)
    return lines


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
