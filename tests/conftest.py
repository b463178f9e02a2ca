"""Shared pytest fixtures."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

# OpenMP threads that sleep instead of spinning while they wait. The suite runs several
# processes on a 2-core machine (pytest, notebook kernels, torchrun workers, Chromium);
# spinning threads then steal the cores the working ones need: encoding 300 sentences with
# MiniLM took 11.8 s spinning and 6.1 s passive under a load of 5, and MKL's SVD of a
# rank-deficient matrix 4.6 s vs 0.14 s. Results do not change (only how threads wait). Set
# before torch is imported anywhere (this module loads first), inherited by subprocesses.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data" / "senteval"


def pytest_configure(config):
    """Tests never reach a model hub, read the shared data, and share one embedding cache
    per checkout (under .pytest_cache, so a re-run does not re-encode)."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    if SHARED_DATA.is_dir():
        os.environ.setdefault("WORKBENCH_DATA_DIR", str(SHARED_DATA))
    os.environ.setdefault("WORKBENCH_CACHE_DIR", str(REPO / ".pytest_cache" / "workbench"))


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


@pytest.fixture
def socket_dir():
    """A short folder under /tmp for kernels' unix sockets: a socket path may not exceed 107
    bytes, and pytest's tmp_path (/tmp/pytest-of-root/pytest-NN/<test name>N/...) plus a
    kernel's ``kernel-<uuid>-ipc-N`` file name does."""
    import shutil
    import tempfile

    path = Path(tempfile.mkdtemp(prefix="wb-", dir="/tmp"))
    yield path
    shutil.rmtree(path, ignore_errors=True)
