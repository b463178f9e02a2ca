"""Named STS evaluation protocols ("protocol cards"): everything that changes a number.

Papers report different numbers for the same model mostly because they score different
things: another copy of STS-B, another part of SICK, another aggregation over the subsets of
STS12-16. A :class:`Protocol` pins each of those choices as data; evaluation takes a protocol
and every result row carries its label (:attr:`Protocol.label`), so a number never travels
without the setting that produced it. Nothing else in the workbench branches on paper names.

The three protocols, read from the reference code (commits pinned):

``simcse`` (the default): princeton-nlp/SimCSE @ 49fa580a853752ede55b8c76d9debf748e214d3f,
    ``evaluation.py`` and its SentEval fork ``SentEval/senteval/sts.py``. Test mode reports
    ``results[task]['all']['spearman']['all']`` for STS12-16 (evaluation.py l.182: one
    Spearman over the concatenated subsets, sts.py l.98) and
    ``results[task]['test']['spearman']`` for STS-B and SICK-R (l.184): the fork turns both
    into unsupervised cosine tasks (sts.py l.160 ``STSBenchmarkEval(STSEval)`` reading
    ``sts-test.csv``, l.205 ``SICKRelatednessEval(STSEval)`` reading
    ``SICK_test_annotated.txt``). Files: SentEval's data (the fork downloads
    ``princeton-nlp/datasets-for-simcse/senteval.tar``), so STS-B is the tokenised
    lower-cased ``STS/STSBenchmark/sts-test.csv``. Each sentence is split on whitespace by the
    loader (sts.py l.42) and re-joined with single spaces by the batcher (evaluation.py l.90);
    the tokenizer is called with ``padding=True`` and no truncation (l.103-106).

``senteval``: facebookresearch/SentEval @ 5d6dc117d1ac30357ddaeb7347fb5684e9b87015,
    ``senteval/sts.py``. For STS12-16 SentEval computes a correlation per subset and reports
    their plain mean and their mean weighted by subset size (l.93-98, logged first as
    "ALL (weighted average)"); it has no pooled ``all``. This protocol headlines ``wmean``
    (the figure BERT-flow and BERT-whitening quote); ``mean`` is an override away. SentEval's
    own STSBenchmark and SICKRelatedness are *supervised*: ``STSBenchmarkEval`` subclasses
    ``SICKRelatednessEval`` (sts.py l.152), which trains a classifier on the train-split
    embeddings (``RelatednessPytorch``, sick.py l.103) and correlates its predictions. That
    probe measures a trained regressor, not the geometry of the embedding, and depends on
    its seed and early stopping, so it is not reproduced: here STS-B and SICK-R are scored
    as SentEval scores STS12-16 (cosine on the test pairs of the same files: tokenised
    ``sts-test.csv``, ``SICK_test_annotated.txt``). Files and sentence handling are those of
    SentEval's ``data/downstream/get_transfer_data.bash`` (Moses tokenizer + lowercasing,
    l.101-123; SICK tokenised but cased, l.162-163).

``mteb``: embeddings-benchmark/mteb task definitions @ a905523d0111f999360b312bd4a601a0a97a0e1c
    (``mteb/tasks/sts/eng/{sts12..16_sts,sts_benchmark_sts,sickr_sts}.py``; the scores
    published for all-MiniLM-L6-v2 were made with mteb 1.12.75, whose
    ``mteb/evaluation/evaluators/STSEvaluator.py`` is the same computation). Each task is one
    ``test`` split scored with ``main_score = cosine_spearman`` on the whole split, i.e. the
    ``all`` setting. Gold scores are normalised to [0, 1] (``(x - 0) / (5 - 0)``), a monotone
    linear map that changes neither Pearson nor Spearman. MTEB's descriptive statistics
    (``mteb/descriptive_stats/STS/*.json``) identify the texts: STS12-16 are SentEval's
    tokenised lower-cased files, characters and unique texts equal, with surrounding whitespace
    kept (STS14: 212,331 characters in sentence1 with it, 212,330 stripped); STS-B is the
    original cased release with its trailing spaces (74,107 + 73,779 characters; the tokenised
    copy has 76,118 + 75,759); SICK-R is all of SICK, 9,927 pairs (train + trial + test).
    Sentences are encoded as they are (no whitespace handling) and truncated at the
    encoder's own ``max_seq_length`` (sentence-transformers). One difference remains and is
    recorded: MTEB's SICK-R holds the original untokenised sentences (915,617 characters),
    while the SentEval layout holds the Moses-tokenised copy (916,940: ``isn ' t`` for
    ``isn't``). Uncased WordPiece models see identical tokens either way; cased/BPE models
    may not.
"""

from __future__ import annotations

import json
import os
import platform
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

import pandas as pd

from ..errors import InvalidInputError, UnknownNameError
from .stats import AGGREGATIONS, SIMILARITIES

__all__ = [
    "DEFAULT_PROTOCOL",
    "PROTOCOLS",
    "Protocol",
    "get_protocol",
    "library_versions",
    "list_protocols",
]

#: the values each overridable field accepts
CHOICES: dict[str, tuple[str, ...]] = {
    "stsb": ("tokenized", "original"),
    "split": ("test", "dev", "train"),
    "sick": ("split", "all"),
    "preprocess": ("whitespace", "strip", "raw"),
    "aggregation": AGGREGATIONS,
    "similarity": SIMILARITIES,
    "truncation": ("none", "encoder"),
}

_HELP = {
    "stsb": "STS-B copy: SentEval's tokenised lower-cased sts-*.csv, or the original cased release",
    "split": "split scored for STS-B and SICK-R (STS12-16 have test only)",
    "sick": "SICK-R files: 'split' = the file of that split, 'all' = train + trial + test",
    "preprocess": "sentence text: 'whitespace' = SentEval's s.split() re-joined with spaces, "
    "'strip' = surrounding whitespace removed, 'raw' = exactly as in the file",
    "aggregation": "STS12-16 headline over subsets: all (pooled), mean, wmean (by size)",
    "similarity": "pair score",
    "truncation": "'none' = no text may be cut, 'encoder' = the encoder's max_length",
}

_STS_YEARS = ("STS12", "STS13", "STS14", "STS15", "STS16")


@dataclass(frozen=True)
class Protocol:
    """One named way of scoring the seven STS tasks.

    Fields (each an override away, see :meth:`override`): ``stsb``, ``split``, ``sick``,
    ``preprocess``, ``aggregation``, ``similarity``, ``truncation``; their values are listed
    in ``CHOICES``. ``overrides`` records what was changed from the named protocol, and
    :attr:`label` (``"simcse"``, ``"simcse+aggregation=wmean"``) is what result rows carry.
    """

    name: str
    description: str
    stsb: str = "tokenized"
    split: str = "test"
    sick: str = "split"
    preprocess: str = "whitespace"
    aggregation: str = "all"
    similarity: str = "cosine"
    truncation: str = "none"
    metric: str = "spearman"
    sources: tuple[str, ...] = ()
    notes: tuple[tuple[str, str], ...] = ()
    overrides: tuple[tuple[str, str], ...] = field(default=(), compare=True)

    def __post_init__(self) -> None:
        for key, valid in CHOICES.items():
            value = getattr(self, key)
            if value not in valid:
                raise InvalidInputError(
                    f"protocol {self.name}: {key}={value!r} is not one of {', '.join(valid)}"
                )
        if self.sick == "all" and self.split != "test":
            raise InvalidInputError(
                f"protocol {self.name} scores all of SICK (train + trial + test), so "
                f"split={self.split} cannot apply to SICK-R; also override sick=split "
                "(--set sick=split)"
            )

    # ------------------------------------------------------------------ naming

    @property
    def label(self) -> str:
        """The name plus every override, e.g. ``simcse+aggregation=wmean+max_pairs=100``."""
        return self.name + "".join(f"+{k}={v}" for k, v in self.overrides)

    def override(self, **changes: Any) -> Protocol:
        """A copy with some fields changed; each real change is recorded in :attr:`label`.

        Values equal to the protocol's own are no change (nothing recorded). ``max_pairs``
        (first N pairs of each subset) is recorded the same way. Unknown fields, invalid
        values and combinations the protocol cannot honour raise InvalidInputError.
        """
        recorded = dict(self.overrides)
        updates: dict[str, Any] = {}
        for key, value in changes.items():
            if value is None:
                continue
            if key == "max_pairs":
                n = _positive_int(value, "max_pairs")
                recorded["max_pairs"] = str(n)
                continue
            if key == "tokenized":  # the old boolean flag
                if isinstance(value, str):
                    value = value.strip().lower() in ("1", "true", "yes", "tokenized")
                key, value = "stsb", "tokenized" if value else "original"
            if key not in CHOICES:
                raise InvalidInputError(
                    f"cannot override {key!r} of protocol {self.name}; overridable: "
                    + ", ".join([*CHOICES, "max_pairs"])
                )
            value = str(value).strip().lower()
            if value not in CHOICES[key]:
                raise InvalidInputError(
                    f"{key}={value!r} is not valid; choose one of {', '.join(CHOICES[key])}"
                )
            if value == getattr(_base(self), key):
                recorded.pop(key, None)  # back to the named protocol's own value
            else:
                recorded[key] = value
            updates[key] = value
        order = [k for k in (*CHOICES, "max_pairs") if k in recorded]
        return replace(self, **updates, overrides=tuple((k, recorded[k]) for k in order))

    @property
    def max_pairs(self) -> int | None:
        """The ``max_pairs`` override (first N pairs of each subset), or None."""
        value = dict(self.overrides).get("max_pairs")
        return None if value is None else int(value)

    # ------------------------------------------------------------------ data

    def task_split(self, task: str) -> str:
        """The split this protocol scores for ``task`` (``all`` for SICK-R under MTEB)."""
        from ..datasets import resolve_sts_task

        task = resolve_sts_task(task)
        if task in _STS_YEARS:
            return "test"
        if task == "SICKRelatedness" and self.sick == "all":
            return "all"
        return self.split

    def files(self, task: str, data_dir: str | os.PathLike | None = None) -> list[Path]:
        """The files read for ``task`` (absolute paths in the data folder)."""
        from .. import config
        from ..datasets import resolve_sts_task
        from ..datasets.sts import _sts_paths

        task = resolve_sts_task(task)
        root = config.data_dir(data_dir)
        return _sts_paths(task, self.task_split(task), root, tokenized=self.stsb == "tokenized")

    def describe_task(self, task: str, data_dir: str | os.PathLike | None = None) -> dict:
        """What this protocol scores for ``task``: files (relative to the data folder),
        split, text, aggregation (``-`` for single-subset tasks, where all three coincide)."""
        from .. import config
        from ..datasets import STS_SUBSETS, resolve_sts_task

        task = resolve_sts_task(task)
        root = config.data_dir(data_dir)
        paths = self.files(task, data_dir)
        rel = [str(p.relative_to(root)) if p.is_relative_to(root) else str(p) for p in paths]
        if task in _STS_YEARS:  # inputs and gold scores: name the folder and the count
            rel = [f"{Path(rel[0]).parent}/STS.input+gs.*.txt ({len(paths) // 2} subsets)"]
        stsb = "tokenised lower-cased" if self.stsb == "tokenized" else "original cased"
        text = {"STSBenchmark": stsb, "SICKRelatedness": "Moses-tokenised, cased"}.get(
            task, "tokenised lower-cased"
        )
        multi = len(STS_SUBSETS[task]) > 1
        return {
            "task": task,
            "files": " + ".join(rel),
            "split": self.task_split(task),
            "text": text,
            "preprocess": self.preprocess,
            "aggregation": self.aggregation if multi else "-",
            "similarity": self.similarity,
            "truncation": self.truncation,
        }

    def load(
        self,
        tasks: str | Sequence[str] | None = None,
        data_dir: str | os.PathLike | None = None,
    ) -> pd.DataFrame:
        """The gold pairs this protocol scores, text preprocessed; ``attrs['protocol']``
        holds the protocol so that :func:`~workbench.evaluate_sts` records it."""
        from ..datasets import STS_TASKS, resolve_sts_task

        if tasks is None:
            names = list(STS_TASKS)
        else:
            if isinstance(tasks, str):
                tasks = [t for t in tasks.split(",") if t.strip()]
            names = list(dict.fromkeys(resolve_sts_task(t.strip()) for t in tasks))
        if not names:
            raise InvalidInputError("no STS task given; choose from " + ", ".join(STS_TASKS))
        years = [t for t in names if t in _STS_YEARS]
        if self.split != "test" and years:
            raise InvalidInputError(
                f"{', '.join(years)} have a test split only; split={self.split} applies to "
                "STS-B and SICK-R: choose those tasks (e.g. tasks='STSB,SICK')"
            )
        frames = []
        for task in names:
            df = self.read(task, self.task_split(task), data_dir)
            if self.max_pairs is not None:
                df = df.groupby("subset", sort=False, group_keys=False).head(self.max_pairs)
            frames.append(df)
        out = pd.concat(frames, ignore_index=True)
        out.attrs["protocol"] = self
        return out

    def read(
        self, task: str, split: str, data_dir: str | os.PathLike | None = None
    ) -> pd.DataFrame:
        """All pairs of one split of ``task`` with this protocol's text: its STS-B copy and
        its sentence preprocessing. :meth:`load` reads the scored split this way, and
        reference corpora (``stsb-train`` for whitening) too, so a transform is fitted on
        text in the same form as the text it is evaluated on."""
        from ..datasets import load_sts

        df = load_sts(
            task,
            split=split,
            data_dir=data_dir,
            tokenized=self.stsb == "tokenized",
            strip=self.preprocess != "raw",
        )
        if self.preprocess == "whitespace":
            for col in ("sentence1", "sentence2"):
                df[col] = [" ".join(s.split()) for s in df[col]]
        return df

    # ------------------------------------------------------------------ display

    def card(self) -> dict[str, Any]:
        """The protocol as plain data (for JSON, tables and the notebook)."""
        out: dict[str, Any] = {"protocol": self.label, "name": self.name}
        out["description"] = self.description
        for f in fields(self):
            if f.name in CHOICES or f.name == "metric":
                out[f.name] = getattr(self, f.name)
        out["overrides"] = dict(self.overrides)
        out["sources"] = list(self.sources)
        out["notes"] = dict(self.notes)
        return out


def _positive_int(value: Any, what: str) -> int:
    try:
        n = int(value)
    except (TypeError, ValueError):
        raise InvalidInputError(f"{what} must be a positive integer, got {value!r}") from None
    if n < 1 or str(n) != str(value).strip():
        raise InvalidInputError(f"{what} must be a positive integer, got {value!r}")
    return n


_SIMCSE = "princeton-nlp/SimCSE@49fa580a853752ede55b8c76d9debf748e214d3f"
_SENTEVAL = "facebookresearch/SentEval@5d6dc117d1ac30357ddaeb7347fb5684e9b87015"
_MTEB = "embeddings-benchmark/mteb@a905523d0111f999360b312bd4a601a0a97a0e1c"

PROTOCOLS: dict[str, Protocol] = {
    p.name: p
    for p in (
        Protocol(
            name="simcse",
            description="SimCSE's evaluation.py in test mode: 'all' for STS12-16, cosine on "
            "the test split of SentEval's tokenised STS-B and of SICK-R",
            sources=(
                f"{_SIMCSE}:evaluation.py (l.90 join, l.103-106 no truncation, "
                "l.182 STS12-16 ['all']['spearman']['all'], l.184 STS-B/SICK-R test)",
                f"{_SIMCSE}:SentEval/senteval/sts.py (l.42 s.split(), l.98 pooled Spearman, "
                "l.160/205 STS-B and SICK-R as unsupervised STSEval)",
            ),
            notes=(
                ("STSBenchmark", "STS/STSBenchmark/sts-test.csv, SentEval's tokenised copy"),
                ("SICKRelatedness", "SICK_test_annotated.txt, 4,927 pairs"),
            ),
        ),
        Protocol(
            name="senteval",
            description="SentEval's unsupervised STS: per-subset correlations averaged by "
            "subset size (wmean) for STS12-16; STS-B and SICK-R by cosine on the same test "
            "files (SentEval itself trains a regressor there, not reproduced)",
            aggregation="wmean",
            sources=(
                f"{_SENTEVAL}:senteval/sts.py (l.93-98 mean/wmean, no pooled 'all'; "
                "l.152 STSBenchmarkEval(SICKRelatednessEval) is supervised)",
                f"{_SENTEVAL}:senteval/sick.py (l.103 RelatednessPytorch on train embeddings)",
                f"{_SENTEVAL}:data/downstream/get_transfer_data.bash (l.101-123 Moses + "
                "lowercase for STS12-16 and STS-B; l.162-163 SICK tokenised, cased)",
            ),
            notes=(
                (
                    "STSBenchmark",
                    "SentEval trains a regressor on sts-train embeddings here; this protocol "
                    "scores cosine on sts-test.csv instead",
                ),
                (
                    "SICKRelatedness",
                    "SentEval trains a regressor on SICK_train embeddings here; this protocol "
                    "scores cosine on SICK_test_annotated.txt instead",
                ),
            ),
        ),
        Protocol(
            name="mteb",
            description="MTEB's STS12-16, STSBenchmark and SICK-R tasks: the whole test split "
            "scored at once (cosine Spearman), original cased STS-B, all 9,927 SICK pairs, "
            "text as stored, the encoder's own max length",
            stsb="original",
            sick="all",
            preprocess="raw",
            truncation="encoder",
            sources=(
                f"{_MTEB}:mteb/tasks/sts/eng/sts12_sts.py .. sts16_sts.py, "
                "sts_benchmark_sts.py, sickr_sts.py (eval_splits=['test'], "
                "main_score='cosine_spearman', min_score=0, max_score=5)",
                f"{_MTEB}:mteb/abstasks/sts.py (scores normalised to [0, 1], then "
                "pearsonr/spearmanr on the whole split)",
                f"{_MTEB}:mteb/descriptive_stats/STS/*.json (the texts: character counts "
                "and unique texts equal those of the files read here, SICK-R excepted)",
            ),
            notes=(
                (
                    "STSBenchmark",
                    "mteb/stsbenchmark-sts = the original cased release, trailing spaces kept",
                ),
                (
                    "SICKRelatedness",
                    "mteb/sickr-sts = all of SICK (9,927 pairs); its sentences are the "
                    "untokenised originals, the SentEval layout read here has the "
                    "Moses-tokenised copy (same tokens for uncased WordPiece models)",
                ),
            ),
        ),
    )
}

#: the protocol used when none is named: the papers' common setting (SimCSE's)
DEFAULT_PROTOCOL = "simcse"


def _base(protocol: Protocol) -> Protocol:
    """The registered protocol a (possibly overridden) protocol derives from."""
    return PROTOCOLS.get(protocol.name, replace(protocol, overrides=()))


def get_protocol(protocol: str | Protocol | None = None) -> Protocol:
    """The :class:`Protocol` named ``protocol`` (default :data:`DEFAULT_PROTOCOL`).

    A label with overrides (``"simcse+aggregation=wmean"``) gives that overridden protocol,
    so a recorded label can be fed back in.
    """
    if isinstance(protocol, Protocol):
        return protocol
    if protocol is None:
        protocol = DEFAULT_PROTOCOL
    if not isinstance(protocol, str):
        raise InvalidInputError(f"protocol must be a name or a Protocol, got {protocol!r}")
    name, *parts = protocol.strip().split("+")
    key = name.strip().lower()
    if key not in PROTOCOLS:
        raise UnknownNameError(f"unknown protocol {name!r}; choose one of {', '.join(PROTOCOLS)}")
    changes = {}
    for part in parts:
        k, sep, v = part.partition("=")
        if not sep:
            raise InvalidInputError(f"protocol override {part!r} is not KEY=VALUE")
        changes[k.strip()] = v.strip()
    return PROTOCOLS[key].override(**changes)


def list_protocols() -> pd.DataFrame:
    """One row per registered protocol: what it pins (the protocol cards side by side)."""
    rows = []
    for p in PROTOCOLS.values():
        card = p.card()
        rows.append({k: card[k] for k in ("protocol", *CHOICES, "metric", "description")})
    return pd.DataFrame(rows).set_index("protocol")


def library_versions() -> dict[str, str]:
    """Versions of what determines an STS number (recorded next to every result)."""
    from importlib.metadata import PackageNotFoundError, version

    import workbench

    out = {"workbench": workbench.__version__, "python": platform.python_version()}
    for pkg in (
        "torch",
        "transformers",
        "tokenizers",
        "sentence-transformers",
        "numpy",
        "scipy",
        "pandas",
    ):
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:
            continue
    return out


def versions_json() -> str:
    """:func:`library_versions` as one compact JSON string (hashable in a DataFrame)."""
    return json.dumps(library_versions(), sort_keys=True, separators=(",", ":"))


def field_help() -> dict[str, str]:
    """One line per overridable field (for ``--help`` and the notebook)."""
    return {k: f"{_HELP[k]} ({'/'.join(v)})" for k, v in CHOICES.items()}


def parse_overrides(items: Iterable[str] | None) -> dict[str, str]:
    """``["aggregation=wmean", "stsb=original"]`` -> dict; a bad item raises one line."""
    out: dict[str, str] = {}
    for item in items or ():
        k, sep, v = item.partition("=")
        if not sep or not k.strip() or not v.strip():
            raise InvalidInputError(
                f"--set {item!r}: expected KEY=VALUE with KEY one of "
                + ", ".join([*CHOICES, "max_pairs"])
            )
        out[k.strip().lower()] = v.strip()
    return out
