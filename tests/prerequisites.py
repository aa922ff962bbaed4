"""Skipping a test for a missing prerequisite (the shared data folder, a photo of it, the
dlib engine): under CI=true the test FAILS instead, so a CI run that could not reach the
data or the engine never reports green having tested nothing (tests/integration)."""

from __future__ import annotations

import os
from typing import NoReturn

import pytest


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in ("true", "1", "yes")


def missing(reason: str) -> NoReturn:
    """Skip for a missing prerequisite; under CI=true, fail instead."""
    if in_ci():
        pytest.fail(f"{reason} (CI=true: the integration tests must run here)", pytrace=False)
    pytest.skip(reason)
