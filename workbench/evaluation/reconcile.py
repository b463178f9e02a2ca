"""One encoder under several STS protocols side by side, and why the numbers differ.

>>> rec = wb.reconcile("all-MiniLM-L6-v2")                       # doctest: +SKIP
>>> rec.table            # tasks x protocols (Spearman x 100), spread, what differs
>>> rec.details          # one row per task x protocol: files, split, n_pairs, text, ...

Every distinct sentence of every protocol is encoded once (one :func:`predict` over the
union of the protocols' pairs), so reconciling costs what the largest protocol costs.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from ..errors import InvalidInputError
from .protocols import PROTOCOLS, Protocol, get_protocol, library_versions
from .sts import Transform, predict, scored_records


@dataclass
class Reconciliation:
    """The result of :func:`reconcile`.

    ``table``: one row per task plus ``avg``; one column per protocol label (the number that
    protocol reports, Spearman x 100), ``spread`` (max - min) and ``differs`` (what the
    protocols do differently on that task, only what changes the scored pairs, texts or
    aggregation). ``details``: one row per (task, protocol) with files, split, n_pairs,
    text, preprocess, aggregation, similarity, truncation, spearman, pearson. ``results``:
    the full tidy records of every protocol (as :func:`~workbench.evaluate_sts` gives them).
    """

    encoder: str
    protocols: list[Protocol]
    table: pd.DataFrame
    details: pd.DataFrame
    results: pd.DataFrame
    versions: dict[str, str] = field(default_factory=dict)

    def __repr__(self) -> str:
        numbers = self.table.drop(columns="differs")
        body = numbers.to_string(float_format=lambda x: f"{x:.2f}")
        width = max(len(str(t)) for t in self.table.index)
        why = [f"  {task:<{width}}  {text}" for task, text in self.table["differs"].items() if text]
        return (
            f"{self.encoder}: STS Spearman x 100 under {len(self.protocols)} protocols\n{body}"
            + "\n\nwhat differs:\n"
            + "\n".join(why)
        )

    def _repr_html_(self) -> str:
        return (
            f"<p><b>{self.encoder}</b>: STS Spearman x 100 under each protocol</p>"
            + self.table.style.format(precision=2, na_rep="").to_html()
        )

    def to_dict(self) -> dict[str, Any]:
        """Plain data for JSON: table rows, details records, protocol cards, versions."""
        table = self.table.reset_index().rename(columns={"index": "task"})
        return {
            "encoder": self.encoder,
            "protocols": [p.card() for p in self.protocols],
            "table": _jsonable(table),
            "details": _jsonable(self.details),
            "versions": self.versions,
        }


def _jsonable(df: pd.DataFrame) -> list[dict[str, Any]]:
    return json.loads(df.to_json(orient="records"))


def _grouped(values: dict[str, Any]) -> str:
    """``{"senteval": "wmean", "simcse": "all", "mteb": "all"}`` ->
    ``"wmean (senteval) vs all (simcse, mteb)"``; empty when all agree."""
    groups: dict[str, list[str]] = {}
    for label, v in values.items():
        groups.setdefault(str(v), []).append(label)
    if len(groups) < 2:
        return ""
    return " vs ".join(f"{v} ({', '.join(labels)})" for v, labels in groups.items())


def _text_changes(info: pd.DataFrame, frames: dict[str, pd.DataFrame]) -> int:
    """Among protocols that read the same files and split, the largest number of pairs whose
    text differs between two of them (preprocessing at work)."""
    worst = 0
    for _, group in info.groupby(["files", "split"], sort=False):
        items = [frames[p] for p in group["protocol"]]
        for i, a in enumerate(items):
            for b in items[i + 1 :]:
                if len(a) != len(b):
                    continue
                diff = (a["sentence1"].to_numpy() != b["sentence1"].to_numpy()) | (
                    a["sentence2"].to_numpy() != b["sentence2"].to_numpy()
                )
                worst = max(worst, int(diff.sum()))
    return worst


def _differs(info: pd.DataFrame, frames: dict[str, pd.DataFrame], short: dict[str, str]) -> str:
    """What the protocols do differently on one task, in words (protocols by short name)."""
    by = info.set_index("protocol")
    by.index = [short[p] for p in by.index]
    parts = []
    pairs = {p: f"{r.split}, {r.n_pairs} pairs" for p, r in by.iterrows()}
    if g := _grouped(pairs):
        parts.append(f"pairs: {g}")
    if g := _grouped(by["text"].to_dict()):
        parts.append(f"text: {g}")
    if g := _grouped(by["aggregation"].to_dict()):
        parts.append(f"aggregation: {g}")
    if g := _grouped(by["similarity"].to_dict()):
        parts.append(f"similarity: {g}")
    if g := _grouped(by["preprocess"].to_dict()):
        n = _text_changes(info, frames)
        if n:
            parts.append(f"preprocess: {g}, {n} pair(s) differ in text")
    if _grouped(by["truncation"].to_dict()) and (by["n_truncated"].fillna(0) > 0).any():
        parts.append(f"truncation: {_grouped(by['truncation'].to_dict())}")
    return "; ".join(parts) if parts else "same pairs, same scoring"


def reconcile(
    encoder: Any,
    protocols: Sequence[str | Protocol] | str | None = None,
    tasks: str | Sequence[str] | None = None,
    data_dir=None,
    max_pairs: int | None = None,
    transform: Transform | None = None,
    n_boot: int = 0,
    seed: int = 0,
    batch_size: int | None = None,
    cache: bool | str = True,
    label: str | None = None,
) -> Reconciliation:
    """Score one encoder under every protocol (default: all registered) side by side.

    ``protocols`` are names, labels with overrides (``"simcse+aggregation=wmean"``) or
    :class:`~workbench.evaluation.protocols.Protocol` objects; ``max_pairs`` cuts every
    protocol alike (recorded). ``n_boot`` > 0 adds bootstrap intervals to ``details``.
    """
    from ..encoders import load_encoder

    if protocols is None:
        protocols = list(PROTOCOLS)
    elif isinstance(protocols, str):
        protocols = [p for p in protocols.split(",") if p.strip()]
    protos = [get_protocol(p).override(max_pairs=max_pairs) for p in protocols]
    labels = [p.label for p in protos]
    if not protos:
        raise InvalidInputError("no protocol given; choose from " + ", ".join(PROTOCOLS))
    if len(set(labels)) != len(labels):
        raise InvalidInputError(f"protocols repeated: {', '.join(labels)}")

    loaded = {p.label: p.load(tasks, data_dir=data_dir) for p in protos}
    enc = load_encoder(encoder)
    sims = {p.similarity for p in protos}
    preds: dict[str, pd.DataFrame] = {}
    for sim in sims:  # one predict per similarity: the union of texts is encoded once
        names = [p.label for p in protos if p.similarity == sim]
        union = pd.concat([loaded[n].assign(_protocol=n) for n in names], ignore_index=True)
        scored = predict(
            enc, union, similarity=sim, transform=transform, batch_size=batch_size, cache=cache
        )
        for n in names:
            part = scored[scored["_protocol"] == n].drop(columns="_protocol")
            preds[n] = part.reset_index(drop=True)

    frames, rows = [], []
    for p in protos:
        res = scored_records(preds[p.label], enc, p, label=label, n_boot=n_boot, seed=seed)
        frames.append(res)
        main = res[res["main"]].set_index("task")
        for task in main.index:
            d = p.describe_task(task, data_dir)
            r = main.loc[task]
            rows.append(
                {
                    "task": task,
                    "protocol": p.label,
                    **{k: v for k, v in d.items() if k != "task"},
                    "n_pairs": int(r["n_pairs"]),
                    "spearman": float(r["spearman"]),
                    "pearson": float(r["pearson"]),
                    "spearman_lo": r.get("spearman_lo"),
                    "spearman_hi": r.get("spearman_hi"),
                    "n_truncated": r["n_truncated"],
                }
            )
    details = pd.DataFrame(rows)
    results = pd.concat(frames, ignore_index=True)

    table = details.pivot_table(index="task", columns="protocol", values="spearman", sort=False)
    table = table[labels]
    table.columns.name = None
    names = [p.name for p in protos]
    short = {p.label: p.name if names.count(p.name) == 1 else p.label for p in protos}
    differs = {}
    for task, info in details.groupby("task", sort=False):
        by_proto = {
            p.label: preds[p.label][preds[p.label]["task"] == task].reset_index(drop=True)
            for p in protos
        }
        differs[task] = _differs(info, by_proto, short)
    table.loc["avg"] = table.mean(axis=0)
    table["spread"] = table[labels].max(axis=1) - table[labels].min(axis=1)
    table["differs"] = pd.Series(differs).reindex(table.index).fillna("")
    return Reconciliation(
        encoder=label or enc.describe(),
        protocols=protos,
        table=table,
        details=details,
        results=results,
        versions=library_versions(),
    )
