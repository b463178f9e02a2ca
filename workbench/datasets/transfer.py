"""Readers for SentEval's classification and sentence-pair transfer tasks.

Layout (relative to the data folder)::

    MR/rt-polarity.{pos,neg}        CR/custrev.{pos,neg}        one sentence a line
    SUBJ/subj.{subjective,objective}  MPQA/mpqa.{pos,neg}
    SST/binary/sentiment-{train,dev,test}   sentence<TAB>label (0/1)
    SST/fine/sentiment-{train,dev,test}     label<SPACE>sentence (0..4)
    TREC/train_5500.label, TREC/TREC_10.label   COARSE:fine question (train is ISO-8859-1)
    MRPC/msr_paraphrase_{train,test}.txt        header row, Quality #1ID #2ID #1String #2String
    SNLI/{s1,s2,labels}.{dev,test}              one item a line (train only after a download)

One reader function per file format; all plain Python, so quotes in sentences survive.
"""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd

from ..errors import DataNotFoundError, InvalidInputError
from .sts import _bad_line, _frame, _read_lines, _require, _resolve_name, _resolve_split, _root

__all__ = [
    "CLASSIFICATION_TASKS",
    "CLASSIFICATION_SPLITS",
    "PAIR_TASKS",
    "PAIR_SPLITS",
    "TREC_CLASSES",
    "SNLI_LABELS",
    "load_classification",
    "load_pairs",
    "resolve_classification_task",
    "resolve_pair_task",
]

CLASSIFICATION_TASKS: tuple[str, ...] = ("MR", "CR", "SUBJ", "MPQA", "SST2", "SST5", "TREC")
PAIR_TASKS: tuple[str, ...] = ("MRPC", "SNLI")

#: The 6 coarse TREC classes, sorted; the label is the index in this tuple (as in SentEval).
TREC_CLASSES: tuple[str, ...] = ("ABBR", "DESC", "ENTY", "HUM", "LOC", "NUM")
#: SNLI label names; the label is the index in this tuple (SentEval's mapping).
SNLI_LABELS: tuple[str, ...] = ("entailment", "neutral", "contradiction")
MRPC_LABELS: tuple[str, ...] = ("not_paraphrase", "paraphrase")
SST5_LABELS: tuple[str, ...] = ("very negative", "negative", "neutral", "positive", "very positive")
SST2_LABELS: tuple[str, ...] = ("negative", "positive")

#: task -> valid splits of load_pairs. SNLI train is valid but absent from the shared layout.
PAIR_SPLITS: dict[str, tuple[str, ...]] = {
    "MRPC": ("train", "test"),
    "SNLI": ("train", "dev", "test"),
}

#: task -> the values of the ``split`` column of load_classification.
CLASSIFICATION_SPLITS: dict[str, tuple[str, ...]] = {
    "MR": ("all",),
    "CR": ("all",),
    "SUBJ": ("all",),
    "MPQA": ("all",),
    "SST2": ("train", "dev", "test"),
    "SST5": ("train", "dev", "test"),
    "TREC": ("train", "test"),
}

# folder, (file with label 1, name 1), (file with label 0, name 0)
_BINARY: dict[str, tuple[str, tuple[str, str], tuple[str, str]]] = {
    "MR": ("MR", ("rt-polarity.pos", "positive"), ("rt-polarity.neg", "negative")),
    "CR": ("CR", ("custrev.pos", "positive"), ("custrev.neg", "negative")),
    "SUBJ": ("SUBJ", ("subj.subjective", "subjective"), ("subj.objective", "objective")),
    "MPQA": ("MPQA", ("mpqa.pos", "positive"), ("mpqa.neg", "negative")),
}
_TREC_FILES = {"train": "train_5500.label", "test": "TREC_10.label"}
_MRPC_FILES = {"train": "msr_paraphrase_train.txt", "test": "msr_paraphrase_test.txt"}

_CLASSIFICATION_ALIASES = {
    "SSTB": "SST2",
    "SSTBINARY": "SST2",
    "SSTFINE": "SST5",
    "SUBJECTIVITY": "SUBJ",
}
_PAIR_ALIASES = {"MSRP": "MRPC"}

_CLS_COLUMNS = ("task", "split", "text", "label", "label_name")


def resolve_classification_task(name: str) -> str:
    """Canonical classification task name (case-insensitive, ``SST-2`` -> ``SST2``)."""
    return _resolve_name(name, CLASSIFICATION_TASKS, _CLASSIFICATION_ALIASES, "classification task")


def resolve_pair_task(name: str) -> str:
    """Canonical sentence-pair task name (case-insensitive)."""
    return _resolve_name(name, PAIR_TASKS, _PAIR_ALIASES, "pair task")


# --------------------------------------------------------------------------- paths


def _classification_paths(task: str, root: Path) -> list[Path]:
    if task in _BINARY:
        folder, (pos, _), (neg, _) = _BINARY[task]
        return [root / folder / pos, root / folder / neg]
    if task in ("SST2", "SST5"):
        sub = "binary" if task == "SST2" else "fine"
        return [root / "SST" / sub / f"sentiment-{s}" for s in ("train", "dev", "test")]
    if task == "TREC":
        return [root / "TREC" / _TREC_FILES[s] for s in ("train", "test")]
    raise AssertionError(task)


def _pair_paths(task: str, split: str, root: Path) -> list[Path]:
    if task == "MRPC":
        return [root / "MRPC" / _MRPC_FILES[split]]
    if task == "SNLI":
        return [root / "SNLI" / f"{kind}.{split}" for kind in ("s1", "s2", "labels")]
    raise AssertionError(task)


def _transfer_required(task: str, root: Path) -> list[Path]:
    """Files that must exist for ``task`` to count as present (SNLI: dev and test)."""
    if task in CLASSIFICATION_TASKS:
        return _classification_paths(task, root)
    splits = ("dev", "test") if task == "SNLI" else PAIR_SPLITS[task]
    return [p for s in splits for p in _pair_paths(task, s, root)]


def _transfer_folder(task: str, root: Path) -> Path:
    if task in _BINARY:
        return root / _BINARY[task][0]
    if task == "SST2":
        return root / "SST" / "binary"
    if task == "SST5":
        return root / "SST" / "fine"
    return root / task


# --------------------------------------------------------------------------- readers


def _read_text_fallback(path: Path, task: str) -> list[str]:
    """UTF-8, else ISO-8859-1 (SentEval reads these files as latin-1; all bytes are valid)."""
    try:
        return _read_lines(path, "utf-8", task=task)
    except InvalidInputError:
        return _read_lines(path, "latin-1", task=task)


def _read_one_per_line(path: Path, task: str) -> list[str]:
    """MR/CR/SUBJ/MPQA: one sentence a line. Blank lines are kept, as SentEval keeps them."""
    return [line.strip() for line in _read_text_fallback(path, task)]


def _read_sst_binary(path: Path) -> tuple[list[str], list[int]]:
    """``sentence<TAB>label``."""
    texts, labels = [], []
    for i, line in enumerate(_read_lines(path, task="SST2"), start=1):
        if not line.strip():
            continue
        text, sep, label = line.rpartition("\t")
        if not sep or label.strip() not in ("0", "1"):
            raise _bad_line(path, i, "expected sentence<TAB>label with label 0 or 1")
        texts.append(text.strip())
        labels.append(int(label))
    return texts, labels


def _read_sst_fine(path: Path) -> tuple[list[str], list[int]]:
    """``label<SPACE>sentence``."""
    texts, labels = [], []
    for i, line in enumerate(_read_lines(path, task="SST5"), start=1):
        if not line.strip():
            continue
        label, _, text = line.strip().partition(" ")
        if label not in ("0", "1", "2", "3", "4"):
            raise _bad_line(path, i, "expected 'label sentence' with label 0..4")
        texts.append(text.strip())
        labels.append(int(label))
    return texts, labels


def _read_trec(path: Path) -> tuple[list[str], list[str]]:
    """``COARSE:fine question`` -> (questions, coarse labels)."""
    texts, coarse = [], []
    for i, line in enumerate(_read_text_fallback(path, "TREC"), start=1):
        if not line.strip():
            continue
        label, _, question = line.strip().partition(" ")
        cls, sep, _fine = label.partition(":")
        if not sep or cls not in TREC_CLASSES:
            raise _bad_line(path, i, f"expected 'COARSE:fine question', COARSE in {TREC_CLASSES}")
        texts.append(question.strip())
        coarse.append(cls)
    return texts, coarse


def _read_mrpc(path: Path) -> tuple[list[str], list[str], list[int]]:
    """Header row, then ``Quality #1ID #2ID #1String #2String`` (UTF-8, maybe with a BOM)."""
    lines = _read_lines(path, "utf-8-sig", task="MRPC")
    if not lines or not lines[0].startswith("Quality"):
        raise _bad_line(path, 1, "expected the header 'Quality<TAB>#1 ID<TAB>...'")
    s1, s2, labels = [], [], []
    for i, line in enumerate(lines[1:], start=2):
        if not line.strip():
            continue
        fields = line.split("\t")
        if len(fields) < 5 or fields[0].strip() not in ("0", "1"):
            raise _bad_line(path, i, "expected Quality(0/1) #1ID #2ID #1String #2String")
        labels.append(int(fields[0]))
        s1.append(fields[3].strip())
        s2.append(fields[4].strip())
    return s1, s2, labels


def _read_snli(paths: list[Path], split: str) -> tuple[list[str], list[str], list[str]]:
    """``s1.<split>``, ``s2.<split>``, ``labels.<split>``: line i of each is one pair."""
    s1, s2, labels = (_read_lines(p, task="SNLI") for p in paths)
    if not (len(s1) == len(s2) == len(labels)):
        raise InvalidInputError(
            f"SNLI {split}: s1/s2/labels have {len(s1)}/{len(s2)}/{len(labels)} lines "
            f"(in {paths[0].parent}); they must match"
        )
    for i, lab in enumerate(labels, start=1):
        if lab.strip() not in SNLI_LABELS:
            raise _bad_line(paths[2], i, f"label {lab!r} is not one of {', '.join(SNLI_LABELS)}")
    return [s.strip() for s in s1], [s.strip() for s in s2], [lab.strip() for lab in labels]


# --------------------------------------------------------------------------- public API


def load_classification(
    task: str, data_dir: str | os.PathLike | None = None, drop_empty: bool = False
) -> pd.DataFrame:
    """One classification task as a DataFrame: ``task, split, text, label, label_name``.

    - MR, CR, SUBJ, MPQA: no predefined split (SentEval uses 10-fold cross-validation), so
      ``split == "all"``; label 1 = positive/subjective, 0 = negative/objective; the label-1
      file comes first. Blank lines are kept as empty texts, as SentEval keeps them (CR has
      4, MPQA 3); ``drop_empty=True`` removes them.
    - SST2 (``SST/binary``) and SST5 (``SST/fine``): splits train/dev/test.
    - TREC: train (``train_5500.label``, ISO-8859-1) and test (``TREC_10.label``); label is
      the index of the coarse class in :data:`TREC_CLASSES`, text is the question.
    """
    task = resolve_classification_task(task)
    root = _root(data_dir)
    paths = _classification_paths(task, root)
    _require(task, paths, root)
    cols: dict[str, list] = {c: [] for c in _CLS_COLUMNS}
    sources = iter(paths)

    def add(split: str, texts: list[str], labels: list[int], names: list[str]) -> None:
        path = next(sources)
        if not texts:  # a class or split with no examples cannot be scored
            raise _empty(path)
        cols["task"] += [task] * len(texts)
        cols["split"] += [split] * len(texts)
        cols["text"] += texts
        cols["label"] += labels
        cols["label_name"] += names

    if task in _BINARY:
        _, (_, pos_name), (_, neg_name) = _BINARY[task]
        for path, label, name in ((paths[0], 1, pos_name), (paths[1], 0, neg_name)):
            texts = _read_one_per_line(path, task)
            add("all", texts, [label] * len(texts), [name] * len(texts))
    elif task in ("SST2", "SST5"):
        reader, names = (
            (_read_sst_binary, SST2_LABELS) if task == "SST2" else (_read_sst_fine, SST5_LABELS)
        )
        for split, path in zip(("train", "dev", "test"), paths):
            texts, labels = reader(path)
            add(split, texts, labels, [names[y] for y in labels])
    else:  # TREC
        for split, path in zip(("train", "test"), paths):
            texts, coarse = _read_trec(path)
            add(split, texts, [TREC_CLASSES.index(c) for c in coarse], coarse)

    df = _frame(cols)
    if drop_empty:
        df = df[df["text"].str.len() > 0].reset_index(drop=True)
    df["label"] = df["label"].astype("int64")
    return df


def load_pairs(task: str, split: str, data_dir: str | os.PathLike | None = None) -> pd.DataFrame:
    """One split of a sentence-pair task: ``task, split, sentence1, sentence2, label,
    label_name``.

    - MRPC: ``train``/``test``; label = Quality (1 = paraphrase).
    - SNLI: ``dev``/``test`` (label = index in :data:`SNLI_LABELS`). ``train`` is read when
      ``s1.train`` etc. exist (after :func:`~workbench.datasets.download`); the shared
      SentEval-layout copy has no SNLI train, and asking for it then raises a
      DataNotFoundError that says how to get it.
    """
    task = resolve_pair_task(task)
    split = _resolve_split(task, split, PAIR_SPLITS[task])
    root = _root(data_dir)
    paths = _pair_paths(task, split, root)
    if task == "SNLI" and split == "train" and (root / "SNLI").is_dir():
        missing = [p for p in paths if not p.is_file()]
        if missing:
            raise DataNotFoundError(
                f"SNLI: the train split is not in this data layout (missing {missing[0]}; "
                "SentEval-layout copies such as the shared one ship dev/test only); get it "
                "with workbench.datasets.download(tasks=['SNLI']), which fetches "
                f"{_snli_url()} and writes SNLI/{{s1,s2,labels}}.train"
            )
    _require(task, paths, root)
    if task == "MRPC":
        s1, s2, labels = _read_mrpc(paths[0])
        names = [MRPC_LABELS[y] for y in labels]
    else:
        s1, s2, names = _read_snli(paths, split)
        labels = [SNLI_LABELS.index(n) for n in names]
    if not s1:
        raise _empty(paths[0])
    df = _frame(
        {
            "task": [task] * len(s1),
            "split": [split] * len(s1),
            "sentence1": s1,
            "sentence2": s2,
            "label": labels,
            "label_name": names,
        }
    )
    df["label"] = df["label"].astype("int64")
    return df


def _empty(path: Path) -> InvalidInputError:
    return InvalidInputError(
        f"{path} holds no examples (an empty or truncated file?); fetch it again: "
        "workbench download --force"
    )


def _snli_url() -> str:
    from .download import SOURCES  # late import: download imports this module

    return SOURCES["SNLI"][0]
