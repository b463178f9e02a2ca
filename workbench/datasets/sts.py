"""Readers for the STS tasks in SentEval's ``downstream`` layout.

Layout (relative to the data folder, see :func:`workbench.config.data_dir`)::

    STS/STS12-en-test/STS.input.<subset>.txt   sentence1<TAB>sentence2, one pair a line
    STS/STS12-en-test/STS.gs.<subset>.txt      one gold score a line (blank = unscored pair)
    ... STS13..STS16 alike
    STS/STSBenchmark/sts-{train,dev,test}.csv              SentEval's tokenised lower-cased copy
    STS/STSBenchmark/stsbenchmark/sts-{train,dev,test}.csv the original cased release
    SICK/SICK_{train,trial,test_annotated}.txt             header row, tab separated

Every file is read with plain Python (no csv module, no pandas parser), so quotes inside
sentences survive. Sentences are stripped of surrounding whitespace unless ``strip=False``
(MTEB keeps it: 13 trailing spaces in 12 STS-B test sentences, one in STS14). The helpers
prefixed ``_`` are shared with :mod:`.transfer` and :mod:`.download`.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from pathlib import Path

import pandas as pd

from .. import config
from ..errors import DataNotFoundError, InvalidInputError, UnknownNameError

__all__ = [
    "STS_TASKS",
    "STS_SUBSETS",
    "STS_SPLITS",
    "load_sts",
    "load_sts_tasks",
    "resolve_sts_task",
]

STS_TASKS: tuple[str, ...] = (
    "STS12",
    "STS13",
    "STS14",
    "STS15",
    "STS16",
    "STSBenchmark",
    "SICKRelatedness",
)

#: task -> subset names, in SentEval's order (STS13 has no SMT: it is not distributed).
STS_SUBSETS: dict[str, tuple[str, ...]] = {
    "STS12": ("MSRpar", "MSRvid", "SMTeuroparl", "surprise.OnWN", "surprise.SMTnews"),
    "STS13": ("FNWN", "headlines", "OnWN"),
    "STS14": ("deft-forum", "deft-news", "headlines", "images", "OnWN", "tweet-news"),
    "STS15": ("answers-forums", "answers-students", "belief", "headlines", "images"),
    "STS16": ("answer-answer", "headlines", "plagiarism", "postediting", "question-question"),
    "STSBenchmark": ("STSBenchmark",),
    "SICKRelatedness": ("SICKRelatedness",),
}

#: task -> valid splits.
STS_SPLITS: dict[str, tuple[str, ...]] = {
    **{t: ("test",) for t in ("STS12", "STS13", "STS14", "STS15", "STS16")},
    "STSBenchmark": ("train", "dev", "test"),
    "SICKRelatedness": ("train", "dev", "test", "all"),
}

_STS_COLUMNS = ("task", "subset", "split", "sentence1", "sentence2", "score")

# Aliases, compared after _norm_name(): upper case, without "-", "_", " " and ".".
_STS_ALIASES: dict[str, str] = {
    "STSB": "STSBenchmark",
    "STSBENCH": "STSBenchmark",
    "SICK": "SICKRelatedness",
    "SICKR": "SICKRelatedness",
    **{f"STS20{y}": f"STS{y}" for y in ("12", "13", "14", "15", "16")},
}

_SICK_FILES = {
    "train": "SICK_train.txt",
    "dev": "SICK_trial.txt",
    "test": "SICK_test_annotated.txt",
}
#: SICK's ``all`` split: the three files in this order (MTEB's SICK-R is the whole corpus).
_SICK_ALL = ("train", "dev", "test")
_SPLIT_ALIASES = {"validation": "dev", "val": "dev", "valid": "dev"}


# --------------------------------------------------------------------------- shared helpers


def _norm_name(name: str) -> str:
    return "".join(ch for ch in name.upper() if ch not in "-_ .")


def _resolve_name(
    name: object, canonical: Sequence[str], aliases: dict[str, str], what: str, hint: str = ""
) -> str:
    """Map ``name`` (case-insensitive, ignoring ``-_ .``) to one of ``canonical``."""
    if isinstance(name, str):
        key = _norm_name(name)
        for c in canonical:
            if _norm_name(c) == key:
                return c
        if key in aliases:
            return aliases[key]
    msg = f"unknown {what} {name!r}; valid names: {', '.join(canonical)}"
    if hint:
        msg += f" ({hint})"
    raise UnknownNameError(msg)


def _resolve_split(
    task: str, split: object, valid: Sequence[str], extra: dict | None = None
) -> str:
    """Map ``split`` (case-insensitive) to one of ``valid`` or raise UnknownNameError."""
    if isinstance(split, str):
        s = split.strip().lower()
        s = {**_SPLIT_ALIASES, **(extra or {})}.get(s, s)
        if s in valid:
            return s
    raise UnknownNameError(f"unknown split {split!r} for {task}; valid splits: {', '.join(valid)}")


def _root(data_dir: str | os.PathLike | None) -> Path:
    return config.data_dir(data_dir)


def _missing(task: str, path: Path, root: Path) -> DataNotFoundError:
    """The one-line error for a missing file or folder ``path`` of ``task``."""
    where = "" if root.is_dir() else f" (the data folder {root} does not exist)"
    return DataNotFoundError(f"{task}: missing {path}{where}; {config.DOWNLOAD_HINT}")


def _require(task: str, paths: Iterable[Path], root: Path) -> None:
    """Raise DataNotFoundError for the first missing path (folders are checked first)."""
    paths = list(paths)
    for folder in dict.fromkeys(p.parent for p in paths):
        if not folder.is_dir():
            raise _missing(task, folder, root)
    for p in paths:
        if not p.is_file():
            raise _missing(task, p, root)


def _read_lines(path: Path, encoding: str = "utf-8", task: str = "") -> list[str]:
    """Lines of a text file without line terminators (``\\n`` or ``\\r\\n``).

    Only ``\\n`` separates lines (``str.splitlines`` would also split on form feeds and
    Unicode separators inside sentences). A final newline does not make an extra line.
    """
    try:
        with open(path, encoding=encoding, newline="") as f:
            text = f.read()
    except FileNotFoundError:
        raise DataNotFoundError(
            f"{task + ': ' if task else ''}missing {path}; {config.DOWNLOAD_HINT}"
        ) from None
    except UnicodeDecodeError as e:
        raise InvalidInputError(
            f"{path}: not valid {encoding} text ({e.reason} at byte {e.start})"
        ) from None
    except OSError as e:
        raise InvalidInputError(f"{path}: cannot be read ({e.strerror or e})") from None
    if text.endswith("\n"):
        text = text[:-1]
    if not text:
        return []
    return [line[:-1] if line.endswith("\r") else line for line in text.split("\n")]


def _bad_line(path: Path, lineno: int, what: str) -> InvalidInputError:
    return InvalidInputError(f"{path}:{lineno}: {what}")


def _parse_float(value: str, path: Path, lineno: int) -> float:
    """A gold score: a finite number in [0, 5] (STS 0-5, SICK 1-5), else an error naming the
    file and line (a NaN would only fail after encoding, 500 would skew nothing visibly)."""
    try:
        score = float(value)
    except ValueError:
        raise _bad_line(path, lineno, f"score {value!r} is not a number") from None
    if not 0.0 <= score <= 5.0:  # also false for NaN
        raise _bad_line(path, lineno, f"score {value!r} is not a gold score in [0, 5]")
    return score


def _frame(columns: dict[str, list]) -> pd.DataFrame:
    return pd.DataFrame(columns)


# --------------------------------------------------------------------------- paths


def _sts_paths(task: str, split: str, root: Path, tokenized: bool = False) -> list[Path]:
    """Files that ``load_sts(task, split)`` reads (existing or not)."""
    sts = root / "STS"
    if task in ("STS12", "STS13", "STS14", "STS15", "STS16"):
        folder = sts / f"{task}-en-test"
        out = []
        for sub in STS_SUBSETS[task]:
            out += [folder / f"STS.input.{sub}.txt", folder / f"STS.gs.{sub}.txt"]
        return out
    if task == "STSBenchmark":
        folder = sts / "STSBenchmark"
        if not tokenized:
            folder = folder / "stsbenchmark"
        return [folder / f"sts-{split}.csv"]
    if task == "SICKRelatedness":
        parts = _SICK_ALL if split == "all" else (split,)
        return [root / "SICK" / _SICK_FILES[s] for s in parts]
    raise AssertionError(task)


def _sts_required(task: str, root: Path) -> list[Path]:
    """All files of ``task`` over all splits (both STS-B versions): used by ``available``."""
    out: list[Path] = []
    for split in STS_SPLITS[task]:
        out += _sts_paths(task, split, root, tokenized=False)
        if task == "STSBenchmark":
            out += _sts_paths(task, split, root, tokenized=True)
    return list(dict.fromkeys(out))


def _sts_folder(task: str, root: Path) -> Path:
    if task == "SICKRelatedness":
        return root / "SICK"
    if task == "STSBenchmark":
        return root / "STS" / "STSBenchmark"
    return root / "STS" / f"{task}-en-test"


# --------------------------------------------------------------------------- readers


def _clean(text: str, strip: bool) -> str:
    return text.strip() if strip else text


def _read_sts_year(task: str, root: Path, strip: bool = True) -> dict[str, list]:
    """STS12-16: ``STS.input.<subset>.txt`` + ``STS.gs.<subset>.txt``; blank gold = unscored."""
    cols: dict[str, list] = {c: [] for c in _STS_COLUMNS}
    folder = root / "STS" / f"{task}-en-test"
    for sub in STS_SUBSETS[task]:
        inp, gs = folder / f"STS.input.{sub}.txt", folder / f"STS.gs.{sub}.txt"
        pairs = _read_lines(inp, task=task)
        gold = _read_lines(gs, task=task)
        if len(pairs) != len(gold):
            raise InvalidInputError(
                f"{task}/{sub}: {inp} has {len(pairs)} lines but {gs} has {len(gold)}"
            )
        for i, (pair, score) in enumerate(zip(pairs, gold), start=1):
            score = score.strip()
            if not score:
                continue  # unscored pair (STS15/16 gold files have blank lines)
            fields = pair.split("\t")
            if len(fields) < 2:
                raise _bad_line(inp, i, "expected sentence1<TAB>sentence2")
            cols["task"].append(task)
            cols["subset"].append(sub)
            cols["split"].append("test")
            cols["sentence1"].append(_clean(fields[0], strip))
            cols["sentence2"].append(_clean(fields[1], strip))
            cols["score"].append(_parse_float(score, gs, i))
    return cols


def _read_stsb(path: Path, split: str, strip: bool = True) -> dict[str, list]:
    """STS-B: genre, file, year, id, score, sentence1, sentence2[, source fields...]."""
    cols: dict[str, list] = {c: [] for c in _STS_COLUMNS}
    for i, line in enumerate(_read_lines(path, task="STSBenchmark"), start=1):
        if not line.strip():
            continue
        fields = line.split("\t")
        if len(fields) < 7:
            raise _bad_line(path, i, f"expected at least 7 tab-separated fields, got {len(fields)}")
        cols["task"].append("STSBenchmark")
        cols["subset"].append("STSBenchmark")
        cols["split"].append(split)
        cols["sentence1"].append(_clean(fields[5], strip))
        cols["sentence2"].append(_clean(fields[6], strip))
        cols["score"].append(_parse_float(fields[4].strip(), path, i))
    return cols


def _read_sick(path: Path, split: str, strip: bool = True) -> dict[str, list]:
    """SICK: header row ``pair_ID sentence_A sentence_B relatedness_score entailment_judgment``."""
    lines = _read_lines(path, task="SICKRelatedness")
    if not lines:
        raise InvalidInputError(f"{path}: empty file")
    header = [h.strip() for h in lines[0].split("\t")]
    try:
        ia, ib, isc = (header.index(h) for h in ("sentence_A", "sentence_B", "relatedness_score"))
    except ValueError:
        raise _bad_line(
            path, 1, "header must name sentence_A, sentence_B and relatedness_score"
        ) from None
    need = max(ia, ib, isc) + 1
    cols: dict[str, list] = {c: [] for c in _STS_COLUMNS}
    for i, line in enumerate(lines[1:], start=2):
        if not line.strip():
            continue
        fields = line.split("\t")
        if len(fields) < need:
            raise _bad_line(path, i, f"expected at least {need} tab-separated fields")
        cols["task"].append("SICKRelatedness")
        cols["subset"].append("SICKRelatedness")
        cols["split"].append(split)
        cols["sentence1"].append(_clean(fields[ia], strip))
        cols["sentence2"].append(_clean(fields[ib], strip))
        cols["score"].append(_parse_float(fields[isc].strip(), path, i))
    return cols


# --------------------------------------------------------------------------- public API


def resolve_sts_task(name: str) -> str:
    """Canonical STS task name for ``name`` (case-insensitive; aliases such as ``STS-B``,
    ``stsb``, ``SICK``, ``SICK-R``, ``sts12``). Raises UnknownNameError listing valid names."""
    return _resolve_name(
        name,
        STS_TASKS,
        _STS_ALIASES,
        "STS task",
        hint="aliases: STSB, STS-B, SICK, SICK-R; classification and pair tasks have their "
        "own loaders",
    )


def load_sts(
    task: str,
    split: str = "test",
    data_dir: str | os.PathLike | None = None,
    tokenized: bool = False,
    strip: bool = True,
) -> pd.DataFrame:
    """One STS task as a DataFrame, one row per scored pair, in file order.

    Columns: ``task, subset, split, sentence1, sentence2, score`` (score a float).

    - STS12-16: split ``test`` only; blank gold lines (unscored pairs) are dropped. The
      SentEval layout keeps these inputs tokenised and lower-cased.
    - STSBenchmark: ``train``/``dev``/``test``. ``tokenized=False`` (default) reads the
      original cased release (``STS/STSBenchmark/stsbenchmark/``), which published STS-B
      numbers use; ``tokenized=True`` reads SentEval's lower-cased tokenised copy.
    - SICKRelatedness: ``train``/``dev`` (``SICK_trial.txt``)/``test``
      (``SICK_test_annotated.txt``), or ``all``: the three files concatenated in that order
      (9,927 pairs, the set MTEB's SICK-R scores).

    ``tokenized`` only matters for STSBenchmark. ``strip=False`` keeps each sentence exactly
    as its file has it (surrounding whitespace included). Unknown task or split:
    UnknownNameError; missing files: DataNotFoundError; malformed lines: InvalidInputError.
    """
    task = resolve_sts_task(task)
    split = _resolve_split(
        task, split, STS_SPLITS[task], {"trial": "dev"} if task == "SICKRelatedness" else None
    )
    root = _root(data_dir)
    paths = _sts_paths(task, split, root, tokenized=tokenized)
    _require(task, paths, root)
    if task == "STSBenchmark":
        cols = _read_stsb(paths[0], split, strip)
    elif task == "SICKRelatedness":
        cols = {c: [] for c in _STS_COLUMNS}
        for path in paths:
            for c, values in _read_sick(path, split, strip).items():
                cols[c] += values
    else:
        cols = _read_sts_year(task, root, strip)
    df = _frame(cols)
    if df.empty:
        raise InvalidInputError(
            f"{task} {split}: {', '.join(map(str, paths))} holds no scored pairs (an empty "
            "or truncated file?); fetch it again: workbench download --force"
        )
    df["score"] = df["score"].astype("float64")
    return df


def load_sts_tasks(
    tasks: Iterable[str] = STS_TASKS,
    split: str = "test",
    data_dir: str | os.PathLike | None = None,
    tokenized: bool = False,
    strip: bool = True,
) -> pd.DataFrame:
    """:func:`load_sts` for each task, concatenated (index reset)."""
    if isinstance(tasks, str):
        tasks = [tasks]
    frames = [
        load_sts(t, split=split, data_dir=data_dir, tokenized=tokenized, strip=strip) for t in tasks
    ]
    if not frames:
        raise InvalidInputError("load_sts_tasks: no tasks given")
    return pd.concat(frames, ignore_index=True)
