"""Academic integrity (contract §14): A4 does not produce work a student would hand in as
their own graded work.

The request's free text (``prompt``, what the student typed) is read by a small rule set,
not a model: a request is refused when it asks for a graded artefact to be produced
("write my exam answers", "do my graded essay") or says it will be submitted as the
student's own ("so I can hand it in", "as my own work"). Asking to *understand*
something for an exam ("explain photosynthesis so I can study for my exam") is study help
and goes through. A false refusal costs the student nothing (no charge, no credit), so the
rules lean towards refusing what reads like a hand-in.
"""

from __future__ import annotations

import re
from typing import Final

from reftarget.domain.errors import DomainError

__all__ = ["IntegrityRefusal", "check_integrity", "integrity_concern"]

# "... as my own", "hand it in", "submit it": the student says it is a hand-in.
_HAND_IN: Final = re.compile(
    r"\b(as (?:if it were )?my own|(?:hand|turn) (?:it|this|them) in|submit (?:it|this|them)\b"
    r"|for (?:a|my) grade)",
    re.IGNORECASE,
)
# "write my exam answers", "complete my homework", "do my graded essay for me".
_PRODUCE_GRADED: Final = re.compile(
    r"\b(write|do|complete|finish|answer|solve)\s+(?:me\s+)?my\b[^.?!]{0,20}?"
    r"\b(exam|test|quiz|midterm|final|essay|homework|assignment|coursework|thesis|"
    r"dissertation|lab report)s?\b",
    re.IGNORECASE,
)
_ANSWERS: Final = re.compile(r"\b(exam|test|quiz|midterm) answers\b", re.IGNORECASE)


class IntegrityRefusal(DomainError):
    """The work would be handed in as the student's own graded work."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason

    def __str__(self) -> str:
        return (
            f"A4 does not produce work to be submitted as your own graded work ({self.reason}); "
            "ask for an explanation, a worked example of another problem or practice "
            "questions instead."
        )


def integrity_concern(prompt: str | None) -> str | None:
    """Why ``prompt`` asks for graded work to hand in, or ``None`` when it is study help."""
    if not prompt:
        return None
    if _ANSWERS.search(prompt):
        return "asks for exam or test answers"
    if _PRODUCE_GRADED.search(prompt):
        return "asks for a graded piece of work to be produced"
    if _HAND_IN.search(prompt):
        return "says the work will be submitted as the student's own"
    return None


def check_integrity(prompt: str | None) -> None:
    """Raise :class:`IntegrityRefusal` when ``prompt`` asks for graded work to hand in."""
    reason = integrity_concern(prompt)
    if reason is not None:
        raise IntegrityRefusal(reason)
