"""Shared pytest fixtures."""

from __future__ import annotations

import os
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def senteval_dir() -> Path:
    """The shared SentEval-layout data: ``$WORKBENCH_DATA_DIR`` if set, else
    ``../shared/data/senteval`` beside the repository. Skips the test when it is absent."""
    env = os.environ.get("WORKBENCH_DATA_DIR")
    path = (
        Path(env).expanduser()
        if env
        else Path(__file__).resolve().parents[1].parent / "shared" / "data" / "senteval"
    )
    path = path.resolve()
    if not path.is_dir():
        pytest.skip(f"SentEval data folder {path} is absent (set WORKBENCH_DATA_DIR)")
    return path
