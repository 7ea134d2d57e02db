"""A4's academic-integrity rules (contract §14): hand-ins refused, study help let through."""

from __future__ import annotations

import pytest
from reftarget.domain.integrity import IntegrityRefusal, check_integrity, integrity_concern


@pytest.mark.parametrize(
    "prompt",
    [
        "Write my exam answers for tomorrow's chemistry final",
        "Give me the test answers for unit 4",
        "Write my graded essay on Hamlet, 1200 words",
        "do my homework for me please",
        "Complete my lab report on titration",
        "Write an essay on the French Revolution that I can submit it as my own",
        "Draft this and I will hand it in for a grade",
    ],
)
def test_graded_work_to_hand_in_is_refused(prompt: str) -> None:
    assert integrity_concern(prompt) is not None
    with pytest.raises(IntegrityRefusal) as refused:
        check_integrity(prompt)
    assert "graded work" in str(refused.value)


@pytest.mark.parametrize(
    "prompt",
    [
        None,
        "",
        "Explain photosynthesis step by step so I can study for my exam",
        "Explain how to solve problems like the ones in my homework",
        "Why was my graded quiz answer about mitosis wrong?",
        "Make me five practice questions for my quiz on fractions",
        "Summarise chapter 3 of my biology textbook",
    ],
)
def test_study_help_goes_through(prompt: str | None) -> None:
    assert integrity_concern(prompt) is None
    check_integrity(prompt)
