"""Every recipe from one base on one budget, side by side: ``workbench study``.

>>> from workbench.training.study import study
>>> res = study(["cosent", "jtcse", "starbucks"], base="all-MiniLM-L6-v2", steps=200,
...             seeds=[1, 2], out="runs/study")                     # doctest: +SKIP
>>> res.table                                                        # doctest: +SKIP

What is held fixed across recipes: the base encoder, the seeds, the number of optimiser
steps and the global batch size (``batch_size``; by default the same for every recipe, so
each sees the same number of training rows), the maximum length, and the evaluation. What
cannot be: the data *kind* each recipe learns from (unsupervised SimCSE reads sentences,
CoSENT graded pairs, CoDiEmb two tasks...); each recipe gets its own default dataset unless
``data`` names one it accepts, and the table says which data each row saw.

The table, one row per recipe (means over seeds) plus the base:

- the seven STS tasks (Spearman x 100 under ``protocol``, SimCSE's by default) and their
  average with a 95% interval (each task's bootstrap interval, combined as
  :func:`workbench.plotting.sts.average_ci` does);
- the difference of the average to the base and to the best *baseline* recipe (the standard
  recipes of :data:`~workbench.training.recipes.RECIPES` that are not seed-paper methods),
  with a paired bootstrap: every replicate resamples each task's pairs (within subsets) once,
  for both systems and every seed, and averages the per-task differences
  (:func:`workbench.evaluation.stats.paired_deltas`); two-sided p-values;
- IsoScore, intrinsic dimension (TwoNN, MLE), alignment and uniformity
  (:func:`workbench.geometry.suite.measure_encoder`);
- ``retained@25%``: STS-B Spearman of the first quarter of the dimensions as a percentage of
  the full vector's.

Trained folders are reused when their configuration matches (``train(..., reuse=True)``) and
every encoder's metrics are cached next to them, keyed by the encoder's fingerprint and the
evaluation settings, so running a study again costs only the reading.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..errors import InvalidInputError

log = logging.getLogger(__name__)

STUDY_TASKS = (
    "STS12",
    "STS13",
    "STS14",
    "STS15",
    "STS16",
    "STSBenchmark",
    "SICKRelatedness",
)
_METRICS_VERSION = 1


@dataclass
class StudyResult:
    """What :func:`study` returns: the summary table, the per-seed rows and the folders."""

    table: pd.DataFrame
    runs: pd.DataFrame
    folders: dict[str, Path] = field(default_factory=dict)
    settings: dict[str, Any] = field(default_factory=dict)
    #: one row per recipe (seed mean) and task: what ``workbench.plotting.sts_bar`` draws
    sts: pd.DataFrame = field(default_factory=pd.DataFrame)

    def _repr_html_(self) -> str:  # pragma: no cover - notebook display
        return self.table.to_html(float_format=lambda v: f"{v:.2f}", na_rep="")


def _check_recipes(recipes: Sequence[str]) -> list[str]:
    from .recipes import resolve_recipe

    if isinstance(recipes, str):
        recipes = [r for r in recipes.split(",") if r.strip()]
    out = []
    for r in recipes:
        name, inner = resolve_recipe(r)
        label = f"{name}:{inner}" if inner else name
        if label in out:
            raise InvalidInputError(f"recipe {label} is listed twice")
        out.append(label)
    if not out:
        raise InvalidInputError("give at least one recipe")
    return out


def _settings_key(settings: dict[str, Any]) -> str:
    blob = json.dumps(settings, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def _atomic_json(path: Path, obj: Any) -> None:
    from .checkpoint import atomic_write_json

    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_json(path, obj)


def evaluate_variant(
    encoder: Any,
    pairs: pd.DataFrame,
    *,
    n_boot: int,
    seed: int,
    geometry_texts: str,
    geometry_max_n: int,
    id_methods: Sequence[str],
    retained_fraction: float,
    cache_dir: Path | None = None,
) -> dict[str, Any]:
    """STS per task (with predictions), geometry and retained score of one encoder; read
    from ``cache_dir`` when this encoder was measured with the same settings before."""
    from ..encoders import load_encoder
    from ..evaluation.sts import predict, scored_records
    from ..geometry.suite import measure_encoder

    enc = load_encoder(encoder)
    proto = pairs.attrs["protocol"]
    settings = {
        "version": _METRICS_VERSION,
        "encoder": enc.fingerprint(),
        "protocol": proto.label if hasattr(proto, "label") else str(proto),
        "pairs": hashlib.sha256(
            pd.util.hash_pandas_object(pairs[["sentence1", "sentence2", "score"]]).values
        ).hexdigest()[:16],
        "n_boot": n_boot,
        "seed": seed,
        "geometry_texts": geometry_texts,
        "geometry_max_n": geometry_max_n,
        "id_methods": list(id_methods),
        "retained_fraction": retained_fraction,
    }
    path = None
    if cache_dir is not None:
        path = cache_dir / f"metrics-{_settings_key(settings)}.json"
        if path.is_file():
            return json.loads(path.read_text())

    preds = predict(enc, pairs, similarity=proto.similarity)
    res = scored_records(preds, enc, proto, n_boot=n_boot, seed=seed)
    main = res[res["main"]].drop_duplicates("task").set_index("task")
    sts = {
        t: {
            "spearman": float(main.loc[t, "spearman"]),
            "lo": float(main.loc[t, "spearman_lo"]) if "spearman_lo" in main else math.nan,
            "hi": float(main.loc[t, "spearman_hi"]) if "spearman_hi" in main else math.nan,
        }
        for t in main.index
    }
    geo = measure_encoder(enc, texts=geometry_texts, max_n=geometry_max_n, id_methods=id_methods)
    # retained score: the first k coordinates of the same STS-B predictions' embeddings
    k = max(1, int(round(retained_fraction * enc.dim)))
    retained = math.nan
    stsb = pairs[pairs["task"] == "STSBenchmark"]
    if len(stsb) and "STSBenchmark" in sts:
        cut = predict(enc, stsb, similarity=proto.similarity, transform=lambda e: e[:, :k])
        part = scored_records(cut, enc, proto, n_boot=0)
        part = float(part[part["main"]]["spearman"].iloc[0])
        retained = 100.0 * part / sts["STSBenchmark"]["spearman"]
    out = {
        "settings": settings,
        "label": enc.describe(),
        "dim": enc.dim,
        "sts": sts,
        "pred": {t: g["pred"].astype(float).tolist() for t, g in preds.groupby("task")},
        "geometry": {
            k2: geo.get(k2)
            for k2 in ("isoscore", "alignment", "uniformity", *[f"id_{m}" for m in id_methods])
        },
        "retained": retained,
        "retained_dims": k,
    }
    if path is not None:
        _atomic_json(path, out)
    return out


def _mean_delta(
    a: list[dict[str, Any]],
    b: list[dict[str, Any]],
    pairs: pd.DataFrame,
    tasks: list[str],
    n_boot: int,
    seed: int,
) -> dict[str, float]:
    """Average-over-tasks difference of ``a`` and ``b`` (each a list over seeds; ``b`` may
    hold one entry, the base) with its paired-bootstrap interval and p-value."""
    from ..evaluation.stats import delta_interval, paired_deltas

    deltas = np.zeros(max(n_boot, 0))
    point = 0.0
    for i, task in enumerate(tasks):
        g = pairs[pairs["task"] == task]
        gold = g["score"].to_numpy(float)
        subsets = g["subset"].to_numpy() if g["subset"].nunique() > 1 else None
        per_seed, per_seed_point = [], []
        for j, ra in enumerate(a):
            rb = b[j % len(b)]
            pa, pb = np.asarray(ra["pred"][task]), np.asarray(rb["pred"][task])
            per_seed_point.append(ra["sts"][task]["spearman"] - rb["sts"][task]["spearman"])
            if n_boot:
                # one seed per task: the same resampled pairs for every system and seed
                per_seed.append(
                    paired_deltas(pa, pb, gold, n_boot=n_boot, seed=seed + i, subsets=subsets)
                )
        point += float(np.mean(per_seed_point))
        if n_boot:
            deltas += np.mean(per_seed, axis=0)
    out = {"delta": point / len(tasks)}
    if n_boot:
        out.update(delta_interval(deltas / len(tasks)))
    else:
        out.update(lo=math.nan, hi=math.nan, p_value=math.nan)
    return out


def study(
    recipes: Sequence[str] | str,
    base: str = "all-MiniLM-L6-v2",
    steps: int = 200,
    seeds: Sequence[int] = (42,),
    out: str | os.PathLike = "runs/study",
    *,
    batch_size: int | None = 32,
    max_len: int | None = 64,
    lr: float | None = None,
    data: str | None = None,
    options: dict[str, dict[str, Any]] | None = None,
    tasks: Sequence[str] | None = None,
    protocol: str = "simcse",
    max_pairs: int | None = None,
    n_boot: int = 1000,
    geometry_texts: str = "mr+subj+trec",
    geometry_max_n: int = 2000,
    id_methods: Sequence[str] = ("twonn", "mle"),
    retained_fraction: float = 0.25,
    eval_data: str | None = "stsb-dev",
    eval_max_pairs: int | None = 500,
    same_pooling: bool = True,
    device: str = "auto",
    show_progress: bool = True,
) -> StudyResult:
    """Train every recipe in ``recipes`` from ``base`` for ``steps`` steps per seed and
    measure all of them (and the base) the same way; see the module docstring.
    ``tasks``: STS tasks (default all seven, :data:`STUDY_TASKS`).

    ``batch_size``/``max_len``/``lr``: the same for every recipe (``None``: each recipe's
    default). ``data``: one dataset for every recipe that accepts its kind (the others keep
    their default; the table's ``data`` column says which). ``options``: per recipe, its
    ``--opt`` options (``{"conan": {"mine_every": 20}}``). ``merge`` merges the other
    recipes' runs of the same seed; ``dse`` without a ``teacher`` option first trains a
    ``cross-encoder`` teacher from the same base on the same budget (its folder is
    ``cross-encoder-s<seed>``). ``max_pairs``: first N pairs per STS subset (quick
    looks; recorded in the protocol). ``eval_data``/``eval_max_pairs``: the graded dev pairs
    that pick each run's checkpoint (STS-B dev, first 500 pairs). ``same_pooling``: a recipe
    whose defaults name a pooling (jtcse: CLS, as its reference) trains and is scored with the
    base's pooling instead, so the table compares training, not pooling; ``False`` keeps each
    recipe's.
    """
    from ..encoders import load_encoder
    from ..evaluation import load_pairs
    from .data import load_training_data
    from .recipes import METHODS, accepted_kinds, recipe_defaults, resolve_recipe

    labels = _check_recipes(recipes)
    seeds = [int(s) for s in seeds]
    if not seeds or len(set(seeds)) != len(seeds):
        raise InvalidInputError("seeds must be distinct integers (at least one)")
    if int(steps) < 1:
        raise InvalidInputError("steps must be >= 1")
    if not 0 < retained_fraction <= 1:
        raise InvalidInputError("retained_fraction must lie in (0, 1]")
    if "cross-encoder" in labels:
        raise InvalidInputError(
            "cross-encoder trains dse's teacher, not an embedding model; list dse and the "
            "study trains its teacher (same base, seed and steps), or pass "
            "options={'dse': {'teacher': FOLDER}}"
        )
    unknown = set(options or {}) - set(labels)
    if unknown:
        raise InvalidInputError(f"options for recipes not in the study: {sorted(unknown)}")
    tasks = list(tasks or STUDY_TASKS)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    data_kind = load_training_data(data).kind if data else None
    pairs = load_pairs(tasks, protocol=protocol, max_pairs=max_pairs)
    tasks = [t for t in tasks if t in set(pairs["task"])]
    metrics_dir = out / "metrics"
    ev = {
        "n_boot": n_boot,
        "seed": 0,
        "geometry_texts": geometry_texts,
        "geometry_max_n": geometry_max_n,
        "id_methods": tuple(id_methods),
        "retained_fraction": retained_fraction,
        "cache_dir": metrics_dir,
    }

    base_encoder = load_encoder(base)
    base_metrics = evaluate_variant(base_encoder, pairs, **ev)
    rows: list[dict[str, Any]] = []
    per_label: dict[str, list[dict[str, Any]]] = {}
    folders: dict[str, Path] = {}
    order = [r for r in labels if r != "merge"] + [r for r in labels if r == "merge"]
    common = {  # what every run of the study shares (the budget and the evaluation)
        "base": base,
        "steps": int(steps),
        "batch_size": batch_size,
        "max_len": max_len,
        "lr": lr,
        "device": device,
        "reuse": True,
        "eval_data": eval_data,
        "eval_max_pairs": eval_max_pairs,
        "show_progress": show_progress,
    }
    for label in order:
        name, inner = resolve_recipe(label)
        kinds = accepted_kinds(name, inner)
        used = data if data_kind in kinds else None
        pooling = None  # the recipe's default, which is the base's unless the recipe names one
        own = recipe_defaults(name, inner).get("pooling")
        if same_pooling and own is not None and own != base_encoder.pooling:
            pooling = base_encoder.pooling
        for seed in seeds:
            folder = out / f"{label.replace(':', '-')}-s{seed}"
            opts = dict((options or {}).get(label, {}))
            if name == "dse" and not opts.get("teacher"):
                # DSE distils a cross-encoder: train one on the same budget first
                teacher = out / f"cross-encoder-s{seed}"
                _train("cross-encoder", teacher, seed=seed, **common)
                opts["teacher"] = str(teacher)
            if name == "merge" and "variants" not in opts:
                opts["variants"] = [
                    str(folders[f"{other}-s{seed}"]) for other in order if other != "merge"
                ]
                if not opts["variants"]:
                    raise InvalidInputError("merge needs other recipes in the study to merge")
            log.info("study: %s seed %d", label, seed)
            res = _train(
                name,
                folder,
                data=used,
                inner=inner,
                pooling=pooling,
                seed=seed,
                options=opts or None,
                **common,
            )
            folders[f"{label}-s{seed}"] = folder
            m = evaluate_variant(load_encoder(folder), pairs, **ev)
            per_label.setdefault(label, []).append(m)
            info = res.info
            rows.append(
                {
                    "recipe": label,
                    "seed": seed,
                    "folder": str(folder),
                    "data": info.get("data", {}).get("name"),
                    "steps": info.get("steps"),
                    "batch_size": info.get("config", {}).get("batch_size"),
                    "train_seconds": info.get("train_seconds"),
                    "best_step": res.best_step,
                    "paper_method": name in METHODS,
                    "pooling": info.get("config", {}).get("pooling"),
                    **_flat(m, tasks),
                }
            )
    runs = pd.DataFrame(rows)

    # the best baseline: the standard recipe with the highest mean average
    baselines = [lb for lb in labels if resolve_recipe(lb)[0] not in METHODS]
    best = None
    if baselines:
        best = max(baselines, key=lambda lb: np.mean([_avg(m, tasks) for m in per_label[lb]]))
    table_rows = [{"recipe": f"base ({base})", "seeds": 0, **_flat(base_metrics, tasks)}]
    for label in labels:
        ms = per_label[label]
        flat = pd.DataFrame([_flat(m, tasks) for m in ms]).mean(numeric_only=True).to_dict()
        row: dict[str, Any] = {"recipe": label, "seeds": len(ms), **flat}
        if len(ms) > 1:
            row["avg_seed_std"] = float(np.std([_avg(m, tasks) for m in ms], ddof=1))
        vs = _mean_delta(ms, [base_metrics], pairs, tasks, n_boot, seed=0)
        row.update({"d_base": vs["delta"], "p_base": vs["p_value"]})
        if best is not None and label != best:
            vb = _mean_delta(ms, per_label[best], pairs, tasks, n_boot, seed=0)
            row.update({"d_best_baseline": vb["delta"], "p_best_baseline": vb["p_value"]})
        table_rows.append(row)
    table = pd.DataFrame(table_rows)
    proto_label = pairs.attrs["protocol"].label
    long = [
        {
            "encoder": label,
            "task": t,
            "spearman": float(np.mean([m["sts"][t]["spearman"] for m in ms])),
            "spearman_lo": float(np.mean([m["sts"][t]["lo"] for m in ms])),
            "spearman_hi": float(np.mean([m["sts"][t]["hi"] for m in ms])),
            "level": "all",
            "protocol": proto_label,
        }
        for label, ms in [("base", [base_metrics]), *per_label.items()]
        for t in tasks
    ]
    settings = {
        "base": base,
        "steps": int(steps),
        "seeds": seeds,
        "batch_size": batch_size,
        "max_len": max_len,
        "lr": lr,
        "data": data,
        "protocol": pairs.attrs["protocol"].label,
        "tasks": tasks,
        "best_baseline": best,
        "n_boot": n_boot,
        "geometry": f"{geometry_texts}, {geometry_max_n} texts",
        "retained_fraction": retained_fraction,
        "pooling": base_encoder.pooling if same_pooling else "each recipe's",
    }
    table.attrs["settings"] = settings
    _atomic_json(out / "study.json", {"settings": settings, "table": table.to_dict("records")})
    return StudyResult(
        table=table, runs=runs, folders=folders, settings=settings, sts=pd.DataFrame(long)
    )


def describe_recipes() -> pd.DataFrame:
    """Every recipe: what it trains, the data kinds it takes, whether it is a seed-paper
    method, and (for those) its options; an uninstalled method says so."""
    from ..errors import WorkbenchError
    from .recipes import METHODS, RECIPES, accepted_kinds, recipe_options

    rows = []
    for name, r in RECIPES.items():
        try:
            kinds = ", ".join(accepted_kinds(name, None)) or "the inner loss's"
            opts = recipe_options(name)
        except WorkbenchError:
            kinds, opts = "(not installed)", {}
        rows.append(
            {
                "recipe": name,
                "paper method": name in METHODS,
                "data kinds": kinds,
                "what it trains": r.description,
                "options": ", ".join(f"{k}={v!r}" for k, v in opts.items()),
            }
        )
    return pd.DataFrame(rows)


def _train(recipe: str, folder: Path, **kw: Any):
    """``train(..., reuse=True)`` into the study's own folder; a finished run there made
    with other settings (an earlier budget, an older default) is replaced, as a cache entry
    would be, instead of stopping the study."""
    from .export import TRAINING_FILE
    from .loop import TrainConfig, _finished_result, train

    fields = {k: v for k, v in kw.items() if k != "reuse"}
    cfg = TrainConfig(recipe=recipe, out=str(folder), **fields).resolved()
    stale = (folder / TRAINING_FILE).is_file() and _finished_result(folder, cfg) is None
    if stale:
        log.warning("study: %s was trained with other settings; training it again", folder)
    return train(recipe, out=folder, overwrite=stale, **kw)


def _avg(m: dict[str, Any], tasks: list[str]) -> float:
    return float(np.mean([m["sts"][t]["spearman"] for t in tasks]))


def _flat(m: dict[str, Any], tasks: list[str]) -> dict[str, float]:
    from ..plotting.sts import average_ci

    row = {t: m["sts"][t]["spearman"] for t in tasks}
    mean, lo, hi = average_ci(
        np.array([m["sts"][t]["spearman"] for t in tasks]),
        np.array([m["sts"][t]["lo"] for t in tasks]),
        np.array([m["sts"][t]["hi"] for t in tasks]),
    )
    row.update({"avg": mean, "avg_lo": lo, "avg_hi": hi})
    row.update({k: (math.nan if v is None else float(v)) for k, v in m["geometry"].items()})
    row[f"retained@{m['settings']['retained_fraction']:.0%}"] = m["retained"]
    return row


# ------------------------------------------------------------------------------------ CLI


def register(subparsers: Any) -> None:
    """Add the ``study`` sub-command."""
    from ..cli import _positive_int

    p = subparsers.add_parser(
        "study",
        help="train several recipes from one base on one budget and compare them",
        description=__doc__.split("\n\n")[1],
    )
    p.add_argument("--recipes", required=True, help="comma-separated recipes")
    p.add_argument("--base", default="all-MiniLM-L6-v2")
    p.add_argument(
        "--steps", "--budget", type=_positive_int, default=200, help="optimiser steps per run"
    )
    p.add_argument("--seeds", default="42", help="comma-separated seeds (default 42)")
    p.add_argument("--batch-size", type=_positive_int, default=32, help="global batch, all runs")
    p.add_argument("--max-len", type=_positive_int, default=64)
    p.add_argument("--lr", type=float, help="learning rate for all runs (default: each recipe's)")
    p.add_argument("--data", help="a dataset every recipe that accepts its kind trains on")
    p.add_argument(
        "--opt",
        action="append",
        metavar="RECIPE.KEY=VALUE",
        help="an option of one recipe, repeatable (e.g. conan.mine_every=20)",
    )
    p.add_argument("--out", default="runs/study", help="folder for the runs and the table")
    p.add_argument("--tasks", help="comma-separated STS tasks (default: all seven)")
    p.add_argument("--protocol", default="simcse")
    p.add_argument("--max-pairs", type=_positive_int, help="first N pairs per subset (quick)")
    p.add_argument("--n-boot", type=int, default=1000)
    p.add_argument("--geometry-max-n", type=_positive_int, default=2000)
    p.add_argument(
        "--eval-max-pairs",
        type=_positive_int,
        default=500,
        help="STS-B dev pairs that pick each run's checkpoint (default 500)",
    )
    p.add_argument("--device", default="auto")
    p.add_argument("--json", action="store_true", help="the table as JSON records")
    p.set_defaults(func=cmd_study)


def _parse_opts(items: list[str] | None) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        recipe, dot, name = key.partition(".")
        if not sep or not dot or not recipe or not name:
            raise InvalidInputError(f"--opt wants RECIPE.KEY=VALUE, got {item!r}")
        try:
            parsed = json.loads(value)
        except json.JSONDecodeError:
            parsed = value
        out.setdefault(recipe.strip(), {})[name.strip().replace("-", "_")] = parsed
    return out


def cmd_study(args: argparse.Namespace) -> int:
    try:
        seeds = [int(s) for s in args.seeds.split(",") if s.strip()]
    except ValueError:
        msg = f"--seeds wants comma-separated integers, got {args.seeds!r}"
        raise InvalidInputError(msg) from None
    res = study(
        args.recipes,
        base=args.base,
        steps=args.steps,
        seeds=seeds,
        out=args.out,
        batch_size=args.batch_size,
        max_len=args.max_len,
        lr=args.lr,
        data=args.data,
        options=_parse_opts(args.opt),
        tasks=args.tasks.split(",") if args.tasks else STUDY_TASKS,
        protocol=args.protocol,
        max_pairs=args.max_pairs,
        n_boot=args.n_boot,
        geometry_max_n=args.geometry_max_n,
        eval_max_pairs=args.eval_max_pairs,
        device=args.device,
        show_progress=not args.json,
    )
    if args.json:
        from ..cli import records

        print(json.dumps({"settings": res.settings, "table": records(res.table)}))
        return 0
    s = res.settings
    print(
        f"study: {len(res.table) - 1} recipes from {s['base']}, {s['steps']} steps x batch "
        f"{s['batch_size']}, seeds {s['seeds']}; STS Spearman x 100 ({s['protocol']})"
    )
    with pd.option_context("display.width", 200, "display.max_columns", 40):
        print(res.table.round(2).to_string(index=False))
    return 0
