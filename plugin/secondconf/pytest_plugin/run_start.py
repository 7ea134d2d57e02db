"""When a session's collection is final: what it selected, and the previous run put aside.

Registered in every process that collects (the only process without xdist, each xdist
worker; the xdist controller collects nothing). At ``pytest_collection_finish`` it records
the session's :class:`~secondconf.engine.selection.Selection` in the process's results
model (a worker hands it over with its output) and, when the session runs checks, moves
the previous run's outputs into ``previous-run/`` before any check writes
(:func:`secondconf.reports.outputs.move_previous_run`; the first worker does it, under a
lock).
"""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from secondconf.engine.selection import GATE_MARKER, Selection
from secondconf.pytest_plugin import markers
from secondconf.pytest_plugin.state import RESULTS_KEY, RUN_INFO_KEY, SETTINGS_KEY


class RunStart:
    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.deselected_gate_checks = 0
        self.deselected = 0
        self.collection_errors = 0

    def pytest_deselected(self, items: Sequence[pytest.Item]) -> None:
        self.deselected += len(items)
        self.deselected_gate_checks += sum(_is_gate_check(item) for item in items)

    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        if report.failed:
            self.collection_errors += 1

    def pytest_collection_finish(self, session: pytest.Session) -> None:
        selected = [item.nodeid for item in session.items if _is_gate_check(item)]
        self.config.stash[RESULTS_KEY].selection = Selection(
            mark_expression=self.config.option.markexpr or "",
            keyword_expression=self.config.option.keyword or "",
            args=tuple(self.config.args) if self._args_given else (),
            deselected=self.deselected,
            gate_checks_collected=len(selected) + self.deselected_gate_checks,
            gate_checks_selected=tuple(selected),
            narrowed_by=tuple(self._narrowed_by()),
        )
        if any(_is_check(item) for item in session.items) and not self.config.option.collectonly:
            self._put_previous_run_aside()

    @property
    def _args_given(self) -> bool:
        return self.config.args_source is pytest.Config.ArgsSource.ARGS

    def _narrowed_by(self) -> list[str]:
        """What made this session collect or select less than the whole gate, besides
        deselected gate checks (counted by :class:`Selection`)."""
        option = self.config.option
        reasons: list[str] = []
        if option.keyword:
            reasons.append(f"-k {option.keyword!r}")
        if self._args_given:
            invoked = self.config.invocation_params.dir
            for arg in self.config.args:
                path = invoked / arg.split("::")[0]
                if "::" in arg or not path.is_dir():
                    reasons.append(f"a file or test named on the command line: {arg}")
        for flag, dest in (("--lf", "lf"), ("--sw", "stepwise")):
            if self.config.getoption(dest, False):
                reasons.append(flag)
        for flag, dest in (("--ignore", "ignore"), ("--ignore-glob", "ignore_glob")):
            if self.config.getoption(dest, None):
                reasons.append(f"{flag} {' '.join(map(str, self.config.getoption(dest)))}")
        if self.collection_errors:
            reasons.append(f"{self.collection_errors} collection error(s)")
        return reasons

    def _put_previous_run_aside(self) -> None:
        from secondconf.reports.outputs import move_previous_run
        from secondconf.reports.run_results import RESULTS_FILE

        try:
            previous = move_previous_run(self.config.stash[SETTINGS_KEY], RESULTS_FILE)
        except OSError as error:  # nothing runs beside outputs that could pass for its own
            where = f" {error.filename}" if error.filename else ""
            pytest.exit(
                f"cannot move the previous run's outputs aside{where}: {error.strerror or error}",
                returncode=pytest.ExitCode.USAGE_ERROR,
            )
        if previous is not None:
            self.config.stash[RUN_INFO_KEY]["previous_run"] = previous.to_dict()


def _is_gate_check(item: pytest.Item) -> bool:
    return item.get_closest_marker(GATE_MARKER) is not None


def _is_check(item: pytest.Item) -> bool:
    try:
        return markers.validate(item.iter_markers()).is_check
    except markers.MarkerError:
        return True  # a check with bad marks: it errors at setup, but it is a check
