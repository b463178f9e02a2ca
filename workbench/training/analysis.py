"""Evaluating trained encoders: before/after scores, truncation curves, layer x dim grids.

All return tidy DataFrames (one row per encoder x setting) that :mod:`workbench.plotting.
training` turns into figures.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from ..errors import InvalidInputError


def _first_k(k: int):
    def transform(emb: np.ndarray) -> np.ndarray:
        return emb[:, :k]

    return transform


def sts_scores(
    encoders: Mapping[str, Any],
    tasks: str | Sequence[str] = "STSBenchmark",
    split: str = "test",
    max_pairs: int | None = None,
    n_boot: int = 0,
) -> pd.DataFrame:
    """Spearman x 100 (SentEval ``all``) per encoder and task, plus the ``avg`` row per
    encoder when there are several tasks. ``encoders`` maps a label to anything
    :func:`~workbench.load_encoder` takes. With ``n_boot`` the 95% bootstrap interval comes
    as ``spearman_lo``/``spearman_hi``; every row names its ``protocol``."""
    from ..evaluation import evaluate_sts, load_pairs

    pairs = load_pairs(tasks, split=split, max_pairs=max_pairs)
    frames = []
    for label, enc in encoders.items():
        res = evaluate_sts(
            enc,
            pairs=pairs,
            split=split,
            aggregation="all",
            n_boot=n_boot,
            label=label,
            max_pairs=max_pairs,
        )
        cols = ["encoder", "task", "n_pairs", "spearman", "pearson"]
        if n_boot:  # the bootstrap interval travels with the estimate (figures draw it)
            cols += ["spearman_lo", "spearman_hi"]
        frames.append(res[cols + ["protocol"]])
    out = pd.concat(frames, ignore_index=True)
    if out["task"].nunique() > 1:
        avg = out.groupby("encoder", sort=False)[["spearman", "pearson"]].mean().reset_index()
        avg["task"], avg["n_pairs"] = (
            "avg",
            out.groupby("encoder", sort=False)["n_pairs"].sum().values,
        )
        # no interval for the average here: plotting.sts.average_ci combines the tasks'
        avg["protocol"] = out.groupby("encoder", sort=False)["protocol"].first().values
        out = pd.concat([out, avg.reindex(columns=out.columns)], ignore_index=True)
    return out


def truncation_curve(
    encoders: Mapping[str, Any],
    dims: Sequence[int],
    task: str = "STSBenchmark",
    split: str = "test",
    max_pairs: int | None = None,
) -> pd.DataFrame:
    """STS Spearman x 100 of each encoder's first-``k`` coordinates, for every ``k`` in
    ``dims``. Columns: ``encoder, dim, spearman``. Each encoder is encoded once (cache)."""
    from ..encoders import load_encoder
    from ..evaluation import evaluate_sts, load_pairs

    pairs = load_pairs(task, split=split, max_pairs=max_pairs)
    rows = []
    for label, enc in encoders.items():
        enc = load_encoder(enc)
        for k in sorted({int(d) for d in dims}):
            if k > enc.dim:
                raise InvalidInputError(f"dim {k} exceeds {label}'s embedding size {enc.dim}")
            res = evaluate_sts(
                enc,
                pairs=pairs,
                split=split,
                aggregation="all",
                n_boot=0,
                transform=_first_k(k),
            )
            rows.append({"encoder": label, "dim": k, "spearman": float(res["spearman"].iloc[0])})
    return pd.DataFrame(rows)


def layer_dim_grid(
    encoder: Any,
    layers: Sequence[int],
    dims: Sequence[int],
    task: str = "STSBenchmark",
    split: str = "test",
    max_pairs: int | None = None,
    label: str | None = None,
) -> pd.DataFrame:
    """STS Spearman x 100 of the first-``k`` coordinates pooled at each layer (the 2D
    Matryoshka grid). ``encoder`` is a name or folder (reloaded per layer with its own
    pooling). Columns: ``encoder, layer, dim, spearman``."""
    from ..encoders import load_encoder
    from ..evaluation import evaluate_sts, load_pairs

    pairs = load_pairs(task, split=split, max_pairs=max_pairs)
    base = load_encoder(encoder)
    name = label or base.name
    rows = []
    for layer in layers:
        enc = load_encoder(encoder, layer=int(layer))
        for k in sorted({int(d) for d in dims}):
            res = evaluate_sts(
                enc,
                pairs=pairs,
                split=split,
                aggregation="all",
                n_boot=0,
                transform=_first_k(k),
            )
            rows.append(
                {
                    "encoder": name,
                    "layer": int(layer),
                    "dim": k,
                    "spearman": float(res["spearman"].iloc[0]),
                }
            )
    return pd.DataFrame(rows)
