"""Every notebook in notebooks/ runs headless, top to bottom, in its reduced setting.

Notebooks start with a cell tagged ``parameters`` (papermill's convention) that reads
``QUICK = os.environ.get("WORKBENCH_QUICK", "0") == "1"``; CI sets WORKBENCH_QUICK=1 so each
notebook finishes in a few minutes on 2 cores. Outputs are never written back: notebooks
are committed without outputs.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("[0-9][0-9]_*.ipynb"))


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs(path, tmp_path, monkeypatch, socket_dir):
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    monkeypatch.setenv("WORKBENCH_QUICK", "1")
    monkeypatch.setenv("MPLBACKEND", "Agg")
    nb = nbformat.read(path, as_version=4)
    assert not any(c.get("outputs") for c in nb.cells if c.cell_type == "code"), (
        f"{path.name} is committed with outputs; clear them"
    )
    from jupyter_client import KernelManager

    # Unix sockets, not TCP ports: concurrent jobs cannot hand a kernel to the wrong client.
    km = KernelManager(
        kernel_name="python3", transport="ipc", connection_file=str(socket_dir / "kernel.json")
    )
    client = nbclient.NotebookClient(
        nb,
        timeout=900,
        kernel_name="python3",
        km=km,
        resources={"metadata": {"path": str(path.parent)}},
    )
    try:
        client.execute()
    finally:
        # nbclient shuts down only kernels it created itself (``owns_km``); this one is ours.
        # Left running, each finished notebook's kernel kept spinning on a core for the rest
        # of the session, slowing every later test on a 2-core machine.
        if client.kc is not None:
            client.kc.stop_channels()
        if km.has_kernel:
            km.shutdown_kernel(now=True)
    errors = [
        o
        for c in nb.cells
        if c.cell_type == "code"
        for o in c.get("outputs", [])
        if o.get("output_type") == "error"
    ]
    assert not errors


def test_notebooks_exist():
    assert NOTEBOOKS, "no notebooks found in notebooks/"
    for p in NOTEBOOKS:
        assert os.path.getsize(p) > 0
