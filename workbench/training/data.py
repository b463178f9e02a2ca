"""Training data: named datasets and files, as columns of texts (plus gold scores).

Kinds of data, and the recipes that take them:

- ``graded``: ``sentence1, sentence2`` and a gold score in [0, 1] (cosent, angle, pcc and
  their Matryoshka variants).
- ``triplets``: ``anchor, positive, negative`` (simcse-sup: the negative is a hard
  negative); ``pairs``: ``anchor, positive`` (simcse-sup with in-batch negatives only).
- ``sentences``: one column of texts (simcse-unsup: each sentence is its own positive under
  two dropout masks). simcse-unsup accepts any other kind too and uses its unique sentences.

Named datasets (read from the SentEval-layout data folder, see :mod:`workbench.config`):

=====================  ==========  ============================================================
name                   kind        content
=====================  ==========  ============================================================
stsb-train, stsb-dev   graded      STS-B original release (5,749 / 1,500 pairs), score / 5
sick-train, sick-dev   graded      SICK relatedness (4,500 / 500 pairs), (score - 1) / 4
snli-dev, snli-test    triplets    premise, an entailed hypothesis, a contradicted hypothesis
                                   of the same premise (3,172 / 3,167; the shared data has no
                                   SNLI train: ``workbench download`` fetches it for snli-train)
snli-train             triplets    the same from SNLI train, when downloaded
stsb-snli-sentences    sentences   unique sentences of STS-B train and SNLI dev (19,471)
=====================  ==========  ============================================================

Files: ``*.txt`` one sentence a line (sentences); ``*.tsv`` without header, two columns
(pairs), three columns whose third is a number in [0, 1] (graded) or text (triplets). A file
whose third column is mostly numbers is graded, and a line whose score is not a finite
number in [0, 1] is an error naming that line (never a silent switch to triplets). Files are
UTF-8.
A pandas DataFrame with columns ``sentence1, sentence2, score`` (graded, score in [0, 1]),
``anchor, positive[, negative]`` or ``sentence``/``text`` is accepted too.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from numbers import Integral
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import DataNotFoundError, InvalidInputError, UnknownNameError

log = logging.getLogger(__name__)

KINDS = ("sentences", "pairs", "triplets", "graded")
COLUMN_NAMES = {
    "sentences": ("sentence",),
    "pairs": ("anchor", "positive"),
    "triplets": ("anchor", "positive", "negative"),
    "graded": ("sentence1", "sentence2"),
}

#: name -> (kind, description)
DATASETS: dict[str, tuple[str, str]] = {
    "stsb-train": ("graded", "STS-B train, 5,749 pairs, score / 5"),
    "stsb-dev": ("graded", "STS-B dev, 1,500 pairs, score / 5"),
    "sick-train": ("graded", "SICK relatedness train, 4,500 pairs, (score - 1) / 4"),
    "sick-dev": ("graded", "SICK relatedness trial, 500 pairs, (score - 1) / 4"),
    "snli-train": (
        "triplets",
        "SNLI train (after `workbench download`): premise, entailment, contradiction",
    ),
    "snli-dev": ("triplets", "SNLI dev: premise, entailment, contradiction of that premise"),
    "snli-test": ("triplets", "SNLI test: premise, entailment, contradiction of that premise"),
    "stsb-snli-sentences": ("sentences", "unique sentences of STS-B train and SNLI dev"),
}


@dataclass
class TrainingData:
    """Columns of texts (one list per column, equal lengths) and optional gold scores."""

    name: str
    kind: str
    columns: list[list[str]]
    labels: np.ndarray | None = None
    meta: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise InvalidInputError(f"unknown data kind {self.kind!r}; one of {', '.join(KINDS)}")
        want = len(COLUMN_NAMES[self.kind])
        if len(self.columns) != want:
            raise InvalidInputError(
                f"{self.kind} data needs {want} columns, got {len(self.columns)}"
            )
        n = {len(c) for c in self.columns}
        if len(n) != 1:
            raise InvalidInputError(f"{self.name}: columns have different lengths {sorted(n)}")
        if (self.kind == "graded") != (self.labels is not None):
            raise InvalidInputError(f"{self.name}: graded data, and only graded data, has labels")
        if self.labels is not None:
            self.labels = np.asarray(self.labels, dtype=np.float32)
            if len(self.labels) != len(self):
                raise InvalidInputError(
                    f"{self.name}: {len(self.labels)} labels for {len(self)} rows"
                )
            bad = np.flatnonzero(~np.isfinite(self.labels))
            if len(bad):
                raise InvalidInputError(
                    f"{self.name}: gold score of row {bad[0]} is {self.labels[bad[0]]} "
                    f"({len(bad)} rows are NaN or inf)"
                )
            out_of_range = np.flatnonzero((self.labels < 0) | (self.labels > 1))
            if len(out_of_range):
                i = out_of_range[0]
                raise InvalidInputError(
                    f"{self.name}: gold scores must lie in [0, 1]; row {i} has {self.labels[i]} "
                    f"({len(out_of_range)} rows outside); rescale them"
                )
        for col in self.columns:
            bad = [i for i, t in enumerate(col) if not isinstance(t, str) or not t.strip()]
            if bad:
                raise InvalidInputError(
                    f"{self.name}: {len(bad)} empty or non-text entries (first at row {bad[0]})"
                )

    def __len__(self) -> int:
        return len(self.columns[0])

    def __repr__(self) -> str:
        return f"<TrainingData {self.name!r} kind={self.kind} rows={len(self)}>"

    def texts(self) -> list[str]:
        """Every distinct text, in order of first appearance."""
        return list(dict.fromkeys(t for col in self.columns for t in col))

    def as_sentences(self) -> TrainingData:
        """One column of the distinct texts (what unsupervised SimCSE trains on)."""
        if self.kind == "sentences":
            return self
        return TrainingData(f"{self.name}:sentences", "sentences", [self.texts()])

    def head(self, n: int) -> TrainingData:
        """The first ``n`` rows (quick runs)."""
        labels = None if self.labels is None else self.labels[:n]
        return TrainingData(self.name, self.kind, [c[:n] for c in self.columns], labels, self.meta)

    def frame(self) -> pd.DataFrame:
        """The data as a DataFrame (one column per text column, plus ``score``)."""
        df = pd.DataFrame(dict(zip(COLUMN_NAMES[self.kind], self.columns)))
        if self.labels is not None:
            df["score"] = self.labels
        return df


def _graded_sts(task: str, split: str, low: float, high: float, data_dir) -> tuple:
    from ..datasets import load_sts

    df = load_sts(task, split=split, data_dir=data_dir)
    labels = (df["score"].to_numpy(dtype=np.float32) - low) / (high - low)
    return [df["sentence1"].tolist(), df["sentence2"].tolist()], labels


def snli_triplets(split: str, data_dir=None) -> TrainingData:
    """SNLI as (premise, entailment, contradiction) triplets of the same premise.

    Every entailed hypothesis gives one triplet; its hard negative is a contradiction of the
    same premise (cycled when a premise has fewer contradictions than entailments).
    Premises without both are skipped.
    """
    from ..datasets import load_pairs

    df = load_pairs("SNLI", split, data_dir=data_dir)
    anchors, positives, negatives = [], [], []
    for premise, group in df.groupby("sentence1", sort=False):
        ent = group.loc[group["label_name"] == "entailment", "sentence2"].tolist()
        con = group.loc[group["label_name"] == "contradiction", "sentence2"].tolist()
        if not ent or not con:
            continue
        for i, e in enumerate(ent):
            anchors.append(premise)
            positives.append(e)
            negatives.append(con[i % len(con)])
    return TrainingData(f"snli-{split}", "triplets", [anchors, positives, negatives])


def _number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def _read_file(path: Path) -> TrainingData:
    if not path.is_file():
        raise DataNotFoundError(f"training data file {path} does not exist")
    if path.suffix not in (".txt", ".tsv"):
        raise InvalidInputError(
            f"{path}: training files are .txt (one sentence a line) or .tsv (2 or 3 "
            "tab-separated columns, no header)"
        )
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        line = raw[: e.start].count(b"\n") + 1
        raise InvalidInputError(
            f"{path}:{line}: not UTF-8 text (byte {raw[e.start]:#04x}); save the file as UTF-8"
        ) from None
    numbered = [
        (i, ln.rstrip("\r")) for i, ln in enumerate(text.split("\n"), start=1) if ln.strip()
    ]
    if not numbered:
        raise InvalidInputError(f"{path} holds no text")
    linenos = [i for i, _ in numbered]
    lines = [ln for _, ln in numbered]
    if path.suffix == ".txt":
        return TrainingData(path.name, "sentences", [list(dict.fromkeys(lines))])
    rows = [ln.split("\t") for ln in lines]
    width = len(rows[0])
    for lineno, r in zip(linenos, rows):
        if len(r) != width or width not in (2, 3):
            raise InvalidInputError(
                f"{path}:{lineno}: {len(r)} tab-separated fields; every line needs the same "
                "2 (pairs) or 3 (graded pairs or triplets)"
            )
    cols = [list(c) for c in zip(*rows)]
    if len(cols) == 2:
        return TrainingData(path.name, "pairs", cols)
    values = [_number(x) for x in cols[2]]
    n_numeric = sum(v is not None for v in values)
    # Mostly numbers: graded pairs with bad lines, not triplets whose negatives are scores.
    # Mostly text: triplets (a negative that happens to read "1984" is text too).
    if n_numeric * 2 <= len(values):
        return TrainingData(path.name, "triplets", cols)
    for lineno, cell, v in zip(linenos, cols[2], values):
        if v is None or not np.isfinite(v):
            raise InvalidInputError(
                f"{path}:{lineno}: score {cell.strip()!r} is not a finite number (the third "
                "column holds gold scores in [0, 1] on the other lines)"
            )
        if not 0 <= v <= 1:
            raise InvalidInputError(
                f"{path}:{lineno}: score {cell.strip()} is outside [0, 1]; rescale the "
                "file's gold scores"
            )
    return TrainingData(path.name, "graded", cols[:2], np.asarray(values, dtype=np.float32))


def _from_frame(df: pd.DataFrame, name: str = "dataframe") -> TrainingData:
    cols = set(df.columns)
    if {"sentence1", "sentence2", "score"} <= cols:
        return TrainingData(
            name,
            "graded",
            [df["sentence1"].tolist(), df["sentence2"].tolist()],
            df["score"].to_numpy(dtype=np.float32),
        )
    if {"anchor", "positive", "negative"} <= cols:
        return TrainingData(name, "triplets", [df[c].tolist() for c in COLUMN_NAMES["triplets"]])
    if {"anchor", "positive"} <= cols:
        return TrainingData(name, "pairs", [df[c].tolist() for c in COLUMN_NAMES["pairs"]])
    for c in ("sentence", "text"):
        if c in cols:
            return TrainingData(name, "sentences", [df[c].tolist()])
    raise InvalidInputError(
        f"a training DataFrame needs columns sentence1/sentence2/score, anchor/positive"
        f"[/negative] or sentence; got {sorted(cols)}"
    )


def load_training_data(
    data: str | os.PathLike | TrainingData | pd.DataFrame,
    data_dir: str | os.PathLike | None = None,
    limit: int | None = None,
) -> TrainingData:
    """A named dataset (see :data:`DATASETS`), a .txt/.tsv file, a DataFrame, or as is.

    ``limit`` keeps the first N rows (a positive integer). Unknown names raise
    UnknownNameError listing the valid ones; missing files DataNotFoundError with the fix.
    """
    if limit is not None and (
        isinstance(limit, bool) or not isinstance(limit, Integral) or limit < 1
    ):
        raise InvalidInputError(f"limit must be a positive number of rows, got {limit!r}")
    if isinstance(data, TrainingData):
        out = data
    elif isinstance(data, pd.DataFrame):
        out = _from_frame(data)
    else:
        name = str(data)
        key = name.strip().lower()
        if key in DATASETS:
            out = _named(key, data_dir)
        elif Path(name).expanduser().suffix in (".txt", ".tsv") or os.sep in name:
            out = _read_file(Path(name).expanduser())
        else:
            raise UnknownNameError(
                f"unknown training data {name!r}; choose one of {', '.join(DATASETS)} or give "
                "a .txt (one sentence a line) or .tsv file"
            )
    if limit is not None:
        out = out.head(int(limit))
    if len(out) == 0:
        raise InvalidInputError(f"training data {out.name!r} is empty")
    return out


def _named(key: str, data_dir) -> TrainingData:
    if key in ("stsb-train", "stsb-dev"):
        cols, labels = _graded_sts("STSBenchmark", key.split("-")[1], 0.0, 5.0, data_dir)
        return TrainingData(key, "graded", cols, labels)
    if key in ("sick-train", "sick-dev"):
        cols, labels = _graded_sts("SICKRelatedness", key.split("-")[1], 1.0, 5.0, data_dir)
        return TrainingData(key, "graded", cols, labels)
    if key.startswith("snli-"):
        return snli_triplets(key.split("-")[1], data_dir)
    if key == "stsb-snli-sentences":
        parts = [_named("stsb-train", data_dir), snli_triplets("dev", data_dir)]
        texts = list(dict.fromkeys(t for p in parts for t in p.texts()))
        return TrainingData(key, "sentences", [texts])
    raise UnknownNameError(f"unknown training data {key!r}")  # pragma: no cover


def batch_order(
    n: int,
    batch_size: int,
    epoch: int,
    seed: int,
    lengths: Sequence[int] | None = None,
    bucket_batches: int = 0,
) -> np.ndarray:
    """Row indices of one epoch, shape ``(steps_per_epoch, batch_size)`` (last partial batch
    dropped, so every process gets an equal slice).

    A pure function of ``(n, batch_size, epoch, seed)``: a resumed run replays the data
    order without saving it. With ``lengths`` and ``bucket_batches > 0``, each run of
    ``bucket_batches`` consecutive batches is re-cut from rows sorted by length, and the
    batches are shuffled again: less padding (the GPU path), still random.
    """
    steps = n // batch_size
    if steps == 0:
        raise InvalidInputError(
            f"{n} training rows cannot fill one batch of {batch_size}; lower the batch size"
        )
    rng = np.random.default_rng([seed, epoch])
    perm = rng.permutation(n)[: steps * batch_size]
    if lengths is None or bucket_batches <= 0:
        return perm.reshape(steps, batch_size)
    lengths = np.asarray(lengths)
    chunk = bucket_batches * batch_size
    batches = []
    for start in range(0, len(perm), chunk):
        part = perm[start : start + chunk]
        part = part[np.argsort(lengths[part], kind="stable")]
        batches.extend(part.reshape(-1, batch_size))
    order = rng.permutation(len(batches))
    return np.stack([batches[i] for i in order])
