"""Crash-safe checkpoints: everything a killed run needs to finish with the same result.

A checkpoint is a folder ``checkpoints/step-00000200/`` holding the model weights, the
optimiser and scheduler state, the RNG states of every process (torch, CUDA, numpy,
Python) and the trainer state (step, curve, best so far). It is written under a temporary
name and renamed into place, so a folder named ``step-*`` is always complete: the newest is
the one to resume from. The data order needs no saving: it is a pure function of the seed,
the epoch and the step (:func:`workbench.training.data.batch_order`).
"""

from __future__ import annotations

import json
import logging
import os
import random
import re
import shutil
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import torch

log = logging.getLogger(__name__)

_STEP_DIR = re.compile(r"^step-(\d{8})$")
#: every file a checkpoint folder holds; nothing else in it is ever deleted
CHECKPOINT_FILES = ("model.pt", "optimizer.pt", "rng.pt", "trainer_state.json")


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def fix_mode(path: Path) -> None:
    """Give a file or folder made by ``tempfile`` (0600/0700) the usual umask mode."""
    os.chmod(path, (0o777 if path.is_dir() else 0o666) & ~_umask())


def atomic_write_text(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file and ``os.replace``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        fix_mode(Path(tmp))
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_json(path: Path, obj: Any) -> None:
    atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=False, default=str) + "\n")


def step_dir_name(step: int) -> str:
    return f"step-{step:08d}"


def list_checkpoints(root: Path) -> list[tuple[int, Path]]:
    """Complete checkpoints under ``root`` as ``(step, folder)``, oldest first."""
    if not root.is_dir():
        return []
    out = []
    for p in root.iterdir():
        m = _STEP_DIR.match(p.name)
        if m and p.is_dir() and (p / "trainer_state.json").is_file():
            out.append((int(m.group(1)), p))
    return sorted(out)


def capture_rng() -> dict[str, Any]:
    """The RNG states of this process: torch (CPU and CUDA), numpy and Python."""
    py = random.getstate()
    np_state = np.random.get_state()
    state: dict[str, Any] = {
        "torch": torch.get_rng_state(),
        "python": [py[0], list(py[1]), py[2]],
        "numpy": [np_state[0], np_state[1].tolist(), *np_state[2:]],
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    v, internal, gauss = state["python"]
    random.setstate((v, tuple(internal), gauss))
    name, keys, *rest = state["numpy"]
    np.random.set_state((name, np.asarray(keys, dtype=np.uint32), *rest))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save_checkpoint(
    root: Path,
    step: int,
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: Any,
    trainer_state: dict[str, Any],
    rng_states: list[dict[str, Any]],
) -> Path:
    """Write checkpoint ``step`` under ``root`` atomically; returns its folder."""
    root.mkdir(parents=True, exist_ok=True)
    final = root / step_dir_name(step)
    tmp = Path(tempfile.mkdtemp(dir=root, prefix=f".tmp-{final.name}-"))
    try:
        state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
        torch.save(state, tmp / "model.pt")
        torch.save(
            {"optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict()},
            tmp / "optimizer.pt",
        )
        torch.save(rng_states, tmp / "rng.pt")
        (tmp / "trainer_state.json").write_text(
            json.dumps(trainer_state, indent=1, default=str) + "\n"
        )
        for p in [tmp, *tmp.iterdir()]:
            fix_mode(p)
        if final.exists():  # left by a run that died before recording it; same step, replace
            remove_checkpoint_dir(final)
        os.replace(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    log.info("checkpoint written: %s", final)
    return final


def load_checkpoint(folder: Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """The parts of a checkpoint folder: ``model``, ``optimizer``, ``scheduler``, ``rng``
    (a list, one per process) and ``trainer_state``."""
    opt = torch.load(folder / "optimizer.pt", map_location=map_location, weights_only=True)
    return {
        "model": torch.load(folder / "model.pt", map_location=map_location, weights_only=True),
        "optimizer": opt["optimizer"],
        "scheduler": opt["scheduler"],
        "rng": torch.load(folder / "rng.pt", weights_only=True),
        "trainer_state": json.loads((folder / "trainer_state.json").read_text()),
    }


def load_model_weights(folder: Path, model: torch.nn.Module) -> None:
    """Load only the weights of checkpoint ``folder`` into ``model``."""
    device = next(model.parameters()).device
    state = torch.load(folder / "model.pt", map_location=device, weights_only=True)
    model.load_state_dict(state)


def remove_checkpoint_dir(path: Path) -> bool:
    """Delete the files a checkpoint folder holds (:data:`CHECKPOINT_FILES`), then the folder
    if that left it empty. Anything else in it is kept (and the folder with it). Returns
    whether the folder is gone."""
    for name in CHECKPOINT_FILES:
        (path / name).unlink(missing_ok=True)
    try:
        path.rmdir()
    except FileNotFoundError:
        return True
    except OSError:
        log.warning("kept %s: it holds files the workbench did not write", path)
        return False
    return True


def prune_checkpoints(root: Path, keep_last: int, keep_steps: set[int]) -> None:
    """Delete checkpoints except the newest ``keep_last`` and those in ``keep_steps``, and
    temporary folders of interrupted writes (only the files checkpoints hold)."""
    ckpts = list_checkpoints(root)
    newest = {s for s, _ in ckpts[-max(keep_last, 1) :]}
    for step, path in ckpts:
        if step not in newest and step not in keep_steps:
            remove_checkpoint_dir(path)
    for p in root.glob(".tmp-step-*"):
        if p.is_dir():
            remove_checkpoint_dir(p)
