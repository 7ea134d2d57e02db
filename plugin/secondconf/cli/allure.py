"""``secondconf-allure``: the gate's Allure results as one HTML file, offline.

Run from the project root after a gate run (``scripts/main-job.sh`` does). Every error is
one ``secondconf-allure: error:`` line with exit code 2, never a traceback.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn

from secondconf.reports.allure_html import (
    HISTORY_DIR,
    REPORT_FILE,
    RESULTS_DIR,
    AllureReport,
    AllureReportError,
    find_allure,
    generate,
    require_results,
)
from secondconf.reports.run_results import RESULTS_FILE

PROG = "secondconf-allure"
PERF = Path("tests") / "perf"


class _UsageError(Exception):
    """A command-line mistake; ``main`` turns it into one stderr line and exit 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise _UsageError(message)


def _parser() -> _Parser:
    parser = _Parser(prog=PROG, description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "--results",
        type=Path,
        default=PERF / RESULTS_DIR,
        help="the Allure results folder the gate wrote (default: %(default)s)",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=PERF / "reports" / REPORT_FILE,
        help="the single HTML file to write (default: %(default)s)",
    )
    parser.add_argument(
        "--history",
        type=Path,
        default=PERF / HISTORY_DIR,
        help="where the history is carried between runs (default: %(default)s)",
    )
    parser.add_argument(
        "--run-results",
        type=Path,
        default=PERF / "reports" / RESULTS_FILE,
        help="the gate's results file, for the environment and executor",
    )
    parser.add_argument(
        "--project-root",
        type=Path,
        default=Path.cwd(),
        help="where `scripts/setup.sh` installed Allure (default: here)",
    )
    return parser


def _run_results(path: Path) -> dict[str, Any]:
    """The gate's results file, or nothing (the report then has no environment details)."""
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as error:
        raise _UsageError(f"{path}: not a readable results file ({error})") from None
    return document if isinstance(document, dict) else {}


def main(argv: Sequence[str] | None = None) -> int:
    try:
        args = _parser().parse_args(argv)
        report = AllureReport(args.results, args.out, args.history)
        require_results(report.results_dir)
        written = generate(report, find_allure(args.project_root), _run_results(args.run_results))
    except (_UsageError, AllureReportError) as error:
        print(f"{PROG}: error: {error}", file=sys.stderr)
        return 2
    print(f"{PROG}: wrote {written}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
