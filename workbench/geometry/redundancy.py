"""Redundancy under truncation: score and retained fraction as dimensions are dropped.

``truncation_curve(encoder, family)`` encodes each task of a family once, then scores the
embeddings truncated to every k of :func:`~workbench.geometry.truncation.dimension_grid`
(d down to 1 on a log grid with 25% and 0.5% of d), for one selection: ``first``,
``random`` (several seeds) or ``pca`` (directions fitted on a reference corpus). Returned
columns, one row per (task, selection, seed, k):

- ``score`` (the family's metric, x100), ``full_score`` (the untruncated embeddings),
- ``retained = score / full_score`` (the paper's measure),
- ``retained_over_chance = (score - chance) / (full_score - chance)``, which matters for
  classification where chance accuracy is 50% or more,
- ``dim`` (k), ``fraction = k / d``; the task ``avg`` is the mean over the family's tasks.

``layer_dim_grid`` does the same for every layer of a transformer (the 2D Matryoshka view):
``retained`` is relative to the last layer at full size.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from typing import Any

import pandas as pd

from ..errors import InvalidInputError
from .truncation import Truncation, dimension_grid, resolve_selection

log = logging.getLogger(__name__)

__all__ = ["layer_dim_grid", "summarize_curve", "truncation_curve"]


def _reference(enc, selection: str, fit_on: str | None, data_dir, fit_max_n, cache, tasks_emb):
    if selection != "pca":
        return None
    from .corpora import DEFAULT_FIT_CORPUS, TARGET, load_texts

    if fit_on is not None and fit_on.strip().lower() == TARGET:
        return "target"
    texts = load_texts(fit_on or DEFAULT_FIT_CORPUS, data_dir=data_dir, max_n=fit_max_n)
    return enc.encode(texts, cache=cache)


def _curve_rows(tasks, embs, dim, grid, selection, seeds, reference) -> list[dict[str, Any]]:
    rows = []
    for t, E in zip(tasks, embs):
        full = t.score(E)["score"]
        for seed in seeds:
            for k in grid:
                ref = E if isinstance(reference, str) else reference
                tr = Truncation(k, selection, seed).fit(E if ref is None else ref)
                res = t.score(tr.transform(E))
                score = res.pop("score")
                rows.append(
                    {
                        "family": t.family,
                        "task": t.name,
                        "metric": t.metric,
                        "selection": selection,
                        "seed": seed,
                        "dim": k,
                        "fraction": k / dim,
                        "score": score,
                        "full_score": full,
                        "chance": t.chance,
                    }
                )
    return rows


def _finish(df: pd.DataFrame, keys: Sequence[str]) -> pd.DataFrame:
    avg = (
        df.groupby(list(keys), sort=False)[["score", "full_score", "chance"]]
        .mean()
        .reset_index()
        .assign(task="avg")
    )
    avg["metric"] = df["metric"].iloc[0] if df["metric"].nunique() == 1 else "mixed"
    out = pd.concat([df, avg], ignore_index=True)
    out["retained"] = out["score"] / out["full_score"]
    span = out["full_score"] - out["chance"]
    out["retained_over_chance"] = (out["score"] - out["chance"]) / span.where(span != 0)
    return out


def truncation_curve(
    encoder: Any,
    family: str,
    selection: str = "first",
    tasks: str | Sequence[str] | None = None,
    dims: Sequence[int] | None = None,
    seeds: Sequence[int] = (0, 1, 2),
    fit_on: str | None = None,
    fit_max_n: int | None = 5000,
    prompt: str | None = "auto",
    data_dir: str | os.PathLike | None = None,
    max_n: int | None = None,
    cache: bool | str = True,
    **task_kwargs: Any,
) -> pd.DataFrame:
    """Score of each task of ``family`` when only k dimensions are kept (see the module
    docstring). ``seeds`` are used by ``random`` only; ``fit_on`` (default ``stsb-train``,
    ``fit_max_n`` sentences; ``"target"`` = each task's own texts) by ``pca`` only. Decoder
    LLMs get the family's prompt (``prompt="auto"``)."""
    from ..evaluation.tasks import family_encoder, load_tasks

    selection = resolve_selection(selection)
    enc = family_encoder(encoder, family, prompt=prompt)
    loaded = load_tasks(family, tasks, data_dir=data_dir, max_n=max_n, **task_kwargs)
    embs = [enc.encode(t.texts, cache=cache) for t in loaded]
    dim = enc.dim
    grid = list(dims) if dims is not None else dimension_grid(dim)
    if any(not 1 <= int(k) <= dim for k in grid):
        raise InvalidInputError(f"dims must be within 1..{dim}, got {sorted(grid)}")
    use_seeds = list(seeds) if selection == "random" else [0]
    if not use_seeds:
        raise InvalidInputError("random selection needs at least one seed")
    ref = _reference(enc, selection, fit_on, data_dir, fit_max_n, cache, embs)
    df = pd.DataFrame(_curve_rows(loaded, embs, dim, grid, selection, use_seeds, ref))
    df = _finish(df, ["family", "selection", "seed", "dim", "fraction"])
    df.insert(0, "encoder", enc.describe())
    return df


def summarize_curve(df: pd.DataFrame) -> pd.DataFrame:
    """Mean over seeds (random selection): one row per (encoder, family, task, selection,
    [layer,] dim) with ``score``, ``score_std`` (across seeds), ``retained`` and
    ``retained_over_chance``, ``n_seeds``."""
    keys = [
        c
        for c in ("encoder", "family", "task", "metric", "selection", "layer", "dim", "fraction")
        if c in df.columns
    ]
    g = df.groupby(keys, sort=False, dropna=False)
    out = g[["score", "full_score", "chance", "retained", "retained_over_chance"]].mean()
    out["score_std"] = g["score"].std(ddof=0)
    out["n_seeds"] = g.size()
    return out.reset_index()


def layer_dim_grid(
    encoder: Any,
    family: str,
    layers: Sequence[int] | str | None = None,
    selection: str = "first",
    tasks: str | Sequence[str] | None = None,
    dims: Sequence[int] | None = None,
    seed: int = 0,
    prompt: str | None = "auto",
    data_dir: str | os.PathLike | None = None,
    max_n: int | None = None,
    cache: bool | str = True,
    **task_kwargs: Any,
) -> pd.DataFrame:
    """Score for every (layer, k) of a transformer (the 2D Matryoshka grid); ``retained`` is
    relative to the last layer at full size. ``selection`` is ``first`` or ``random``."""
    from ..evaluation.tasks import family_encoder, load_tasks
    from .layers import encode_layers

    selection = resolve_selection(selection)
    if selection == "pca":
        raise InvalidInputError("layer_dim_grid supports first and random selections")
    enc = family_encoder(encoder, family, prompt=prompt)
    loaded = load_tasks(family, tasks, data_dir=data_dir, max_n=max_n, **task_kwargs)
    grid = list(dims) if dims is not None else dimension_grid(enc.dim)
    rows = []
    per_task = [encode_layers(enc, t.texts, layers=layers, cache=cache) for t in loaded]
    last = enc.num_layers
    for t, by_layer in zip(loaded, per_task):
        ref_full = t.score(by_layer[last])["score"] if last in by_layer else None
        if ref_full is None:
            ref_full = t.score(enc.encode(t.texts, cache=cache))["score"]
        for layer, E in by_layer.items():
            for k in grid:
                tr = Truncation(k, selection, seed).fit(E)
                rows.append(
                    {
                        "family": t.family,
                        "task": t.name,
                        "metric": t.metric,
                        "selection": selection,
                        "layer": layer,
                        "dim": k,
                        "fraction": k / enc.dim,
                        "score": t.score(tr.transform(E))["score"],
                        "full_score": ref_full,
                        "chance": t.chance,
                    }
                )
    df = _finish(pd.DataFrame(rows), ["family", "selection", "layer", "dim", "fraction"])
    df.insert(0, "encoder", enc.describe())
    return df
