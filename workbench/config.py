"""Where the workbench reads data and keeps its cache.

Resolution order, for both: an explicit argument, then an environment variable, then a
per-user default under ``~/.cache/workbench``.

- ``WORKBENCH_DATA_DIR``: a folder in SentEval's ``downstream`` layout (``STS/``, ``SICK/``,
  ``MR/``, ...). ``workbench download`` fills the default one.
- ``WORKBENCH_CACHE_DIR``: embeddings and converted models.
"""

from __future__ import annotations

import os
from pathlib import Path

DOWNLOAD_HINT = "run `workbench download` (or pass --data-dir / set WORKBENCH_DATA_DIR)"


def default_home() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "workbench"


def data_dir(path: str | os.PathLike | None = None) -> Path:
    """The SentEval-layout data folder: ``path``, else ``$WORKBENCH_DATA_DIR``, else the default."""
    if path is not None:
        return Path(path).expanduser()
    env = os.environ.get("WORKBENCH_DATA_DIR")
    if env:
        return Path(env).expanduser()
    return default_home() / "data" / "senteval"


def cache_dir(path: str | os.PathLike | None = None) -> Path:
    """The cache folder: ``path``, else ``$WORKBENCH_CACHE_DIR``, else the default."""
    if path is not None:
        return Path(path).expanduser()
    env = os.environ.get("WORKBENCH_CACHE_DIR")
    if env:
        return Path(env).expanduser()
    return default_home() / "cache"
