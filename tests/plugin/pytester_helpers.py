"""Helpers shared by the plugin's pytester tests."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest


def read_results(pytester: pytest.Pytester) -> dict[str, Any]:
    path = Path(pytester.path, "tests/perf/reports/secondconf_results.json")
    data: dict[str, Any] = json.loads(path.read_text())
    return data


VERDICT_HELPERS = """
import pytest
from secondconf.verdict import judge_rate

def clean(subject="A1"):
    return judge_rate(check="error_rate", source="probe", failures=0, n=1000,
                      threshold=0.01, subject=subject)

def unsure(subject="A2"):
    return judge_rate(check="error_rate", source="probe", failures=0, n=100,
                      threshold=0.01, subject=subject)
"""
