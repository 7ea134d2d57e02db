"""What a session selected out of what it collected: the whole gate, or a part of it.

A run that selected part of the gate (``-k``, a ``-m`` that leaves gate checks out, a
file or node id on the command line, ``--lf``) can pass its part and still say nothing
about the release: the results file then holds ``"gate_passed": null`` and the
selection's own verdict, and the terminal says PARTIAL RUN instead of GATE PASSED.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

GATE_MARKER = "second_confirmation"


@dataclass(frozen=True)
class Selection:
    """Facts about one session's collection and selection, as the collecting process saw
    them (under xdist every worker collects the same items and hands this over)."""

    mark_expression: str
    keyword_expression: str
    args: tuple[str, ...]  # the command line's test arguments, as given
    deselected: int  # items of any kind left out by -m, -k, --deselect, --lf …
    gate_checks_collected: int  # items marked second_confirmation, before deselection
    gate_checks_selected: tuple[str, ...]  # their node ids after deselection
    narrowed_by: tuple[str, ...]  # why collection or selection is not the whole gate

    def partial_because(self, ran: Collection[str]) -> list[str]:
        """Why this is not the whole gate (empty: it is), given the node ids of the
        checks that reported a result."""
        reasons = list(self.narrowed_by)
        if self.gate_checks_collected == 0:
            reasons.append(f"no {GATE_MARKER} check collected")
        left_out = self.gate_checks_collected - len(self.gate_checks_selected)
        if left_out:
            reasons.append(f"{left_out} {GATE_MARKER} check(s) deselected")
        not_run = [nodeid for nodeid in self.gate_checks_selected if nodeid not in ran]
        if not_run:
            reasons.append(f"{len(not_run)} selected check(s) did not run")
        return reasons

    def to_dict(self) -> dict[str, Any]:
        return {
            "mark_expression": self.mark_expression,
            "keyword_expression": self.keyword_expression,
            "args": list(self.args),
            "deselected": self.deselected,
            "gate_checks_collected": self.gate_checks_collected,
            "gate_checks_selected": list(self.gate_checks_selected),
            "narrowed_by": list(self.narrowed_by),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Selection:
        return cls(
            mark_expression=str(data["mark_expression"]),
            keyword_expression=str(data["keyword_expression"]),
            args=tuple(data["args"]),
            deselected=int(data["deselected"]),
            gate_checks_collected=int(data["gate_checks_collected"]),
            gate_checks_selected=tuple(data["gate_checks_selected"]),
            narrowed_by=tuple(data["narrowed_by"]),
        )
