"""Fetch the evaluation data into SentEval's ``downstream`` layout, and report what is present.

:func:`download` reproduces what SentEval's ``data/downstream/get_transfer_data.bash`` builds
(same URLs, same folders and file names, same post-processing), plus the ORIGINAL cased STS
Benchmark release under ``STS/STSBenchmark/stsbenchmark/``, which published STS-B numbers use.

The network part is the one small function :func:`_fetch`; everything else (unpacking,
re-layout, tokenisation) works on local files, so it is testable offline by replacing
``_fetch`` with a function that copies local archives. ``workbench.datasets.download`` is the
function (re-exported by the package), so reach this module with
``importlib.import_module("workbench.datasets.download")``.

Tokenisation. SentEval runs the Moses tokenizer (``tokenizer.perl -l en -no-escape``, then
``lowercase.perl``) over STS12-16, STS-B and SICK, and a Penn Treebank ``sed`` script
(``tokenizer.sed``) over MR/CR/SUBJ/MPQA and SNLI. Moses (Perl) is not used here:
:func:`tokenize` is a documented approximation of it, and :func:`ptb_tokenize` is a
line-for-line port of ``tokenizer.sed``. Files tokenised with :func:`tokenize` can therefore
differ in a few tokens from SentEval's own copy (see :func:`tokenize`).
"""

from __future__ import annotations

import contextvars
import http.client
import os
import re
import shutil
import sys
import tarfile
import tempfile
import urllib.error
import urllib.request
import zipfile
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

import pandas as pd

from .. import config
from ..errors import UnknownNameError, WorkbenchError
from .sts import (
    STS_SUBSETS,
    STS_TASKS,
    _norm_name,
    _sts_folder,
    _sts_required,
    resolve_sts_task,
)
from .transfer import (
    CLASSIFICATION_TASKS,
    PAIR_TASKS,
    _pair_paths,
    _transfer_folder,
    _transfer_required,
    resolve_classification_task,
    resolve_pair_task,
)

__all__ = ["SOURCES", "DOWNLOAD_UNITS", "available", "download", "ptb_tokenize", "tokenize"]

# --------------------------------------------------------------------------- sources

_IXA = "http://ixa2.si.ehu.es/stswiki/images"
_IXA_NEW = "https://ixa2.si.ehu.eus/stswiki/images"  # the same wiki under its current domain
_FB = "https://dl.fbaipublicfiles.com/senteval/senteval_data"  # SentEval's former S3 bucket
_TREC = "http://cogcomp.cs.illinois.edu/Data/QA/QC"
_TREC_NEW = "https://cogcomp.seas.upenn.edu/Data/QA/QC"
_SICK = "http://alt.qcri.org/semeval2014/task1/data/uploads"
_SST_BIN = "https://raw.githubusercontent.com/PrincetonML/SIF/master/data"
_SST_FINE = "https://raw.githubusercontent.com/AcademiaSinicaNLPLab/sentiment_dataset/master/data"

_STS_ZIPS = {
    "STS12": "4/40/STS2012-en-test.zip",
    "STS13": "2/2f/STS2013-en-test.zip",
    "STS14": "8/8c/STS2014-en-test.zip",
    "STS15": "d/da/STS2015-en-test.zip",
    "STS16": "9/98/STS2016-en-test.zip",
}
#: the folder each STS zip unpacks to (SentEval renames it to STS/<task>-en-test)
_STS_SUBDIRS = {
    "STS12": "test-gold",
    "STS13": "test-gs",
    "STS14": "sts-en-test-gs-2014",
    "STS15": "test_evaluation_task2a",
    "STS16": "sts2016-english-with-gs-v1.0",
}

#: source key -> URLs, tried in order: SentEval's URL first, then known new homes of the
#: same file.
SOURCES: dict[str, tuple[str, ...]] = {
    **{t: (f"{_IXA}/{p}", f"{_IXA_NEW}/{p}") for t, p in _STS_ZIPS.items()},
    "STSBenchmark": (
        f"{_IXA}/4/48/Stsbenchmark.tar.gz",
        f"{_IXA_NEW}/4/48/Stsbenchmark.tar.gz",
    ),
    **{f"SICK_{s}": (f"{_SICK}/sick_{s}.zip",) for s in ("train", "trial", "test_annotated")},
    "BINCLASSIF": (f"{_FB}/datasmall_NB_ACL12.zip",),
    **{f"SST2_{s}": (f"{_SST_BIN}/sentiment-{s}",) for s in ("train", "dev", "test")},
    **{f"SST5_{s}": (f"{_SST_FINE}/stsa.fine.{s}",) for s in ("train", "dev", "test")},
    **{
        f"TREC_{n}": (f"{_TREC}/{n}.label", f"{_TREC_NEW}/{n}.label")
        for n in ("train_5500", "TREC_10")
    },
    **{f"MRPC_{s}": (f"{_FB}/msr_paraphrase_{s}.txt",) for s in ("train", "test")},
    "SNLI": ("https://nlp.stanford.edu/projects/snli/snli_1.0.zip",),
}

#: what download() can fetch, in order; SICK = SICKRelatedness, SST2 = SST/binary, SST5 = SST/fine
DOWNLOAD_UNITS: tuple[str, ...] = (
    "STS12",
    "STS13",
    "STS14",
    "STS15",
    "STS16",
    "STSBenchmark",
    "SICK",
    "MR",
    "CR",
    "SUBJ",
    "MPQA",
    "SST2",
    "SST5",
    "TREC",
    "MRPC",
    "SNLI",
)

_BINCLASSIF_MEMBERS = {  # unit -> (member path suffix in the zip, output path)
    "MR": (
        ("rt10662/rt-polarity.pos", "MR/rt-polarity.pos"),
        ("rt10662/rt-polarity.neg", "MR/rt-polarity.neg"),
    ),
    "CR": (
        ("customerr/custrev.pos", "CR/custrev.pos"),
        ("customerr/custrev.neg", "CR/custrev.neg"),
    ),
    "SUBJ": (
        ("subj/subj.subjective", "SUBJ/subj.subjective"),
        ("subj/subj.objective", "SUBJ/subj.objective"),
    ),
    "MPQA": (("mpqa/mpqa.pos", "MPQA/mpqa.pos"), ("mpqa/mpqa.neg", "MPQA/mpqa.neg")),
}

# --------------------------------------------------------------------------- tokenisers

# Title-like abbreviations after which Moses keeps the period (a subset of its English
# nonbreaking-prefix list; months, Inc, Corp and Jr split in SentEval's STS-B copy).
# fmt: off
_NONBREAKING = frozenset((
    "mr", "mrs", "ms", "messrs", "dr", "drs", "prof", "sr", "st", "rep", "reps", "sen", "sens",
    "gov", "gen", "capt", "cmdr", "col", "lt", "maj", "sgt", "brig", "adm", "cpl", "pvt", "supt",
    "hon", "rev", "bros", "vs", "v", "e.g", "i.e",
))
# fmt: on


def tokenize(text: str, lower: bool = True) -> str:
    """Approximate SentEval's ``tokenizer.perl -l en -no-escape | lowercase.perl``.

    Rules, tuned on SentEval's STS-B copy: control characters are deleted; every character
    that is not a letter, digit, space, ``.``, ``,``, ``'``, a backtick or ``-`` becomes its
    own token; a comma splits unless it is between digits (``575,926`` stays); an
    apostrophe inside the text is its own token (``woman's`` -> ``woman ' s``), one at the
    very start or end stays attached; ``...`` is one token. A word-final period splits off
    at the end of the text; elsewhere it stays when the word has an inner period
    (``U.S.``), or, unless punctuation follows, when the word is a title (``Dr.``, see
    ``_NONBREAKING``) or one capital letter, or the next word starts in lower case. Then
    lower-case (when ``lower``) and single spaces. On STS-B this reproduces SentEval's copy
    for 17253 of 17256 sentences; Moses has more special cases than these rules.
    """
    t = " ".join(re.sub(r"[\x00-\x08\x0b-\x1f]", "", text).split())
    t = re.sub(r"\.{2,}", lambda m: f" {m.group(0)} ", t)
    t = re.sub(r"([^\w\s.,'`\-]|_)", r" \1 ", t)
    t = re.sub(r"(?<!\d),|,(?!\d)", " , ", t)
    t = re.sub(r"(?<=.)'(?=.)", " ' ", t)
    words = t.split()
    out = []
    for i, w in enumerate(words):
        if len(w) > 1 and w.endswith(".") and not w.endswith(".."):
            pre = w[:-1]
            nxt = words[i + 1] if i + 1 < len(words) else ""
            keep = nxt != "" and (
                ("." in pre and any(c.isalpha() for c in pre))
                or (
                    (nxt[0].isalnum() or nxt[0] in "'`\"(")
                    and (
                        pre.lower() in _NONBREAKING
                        or (len(pre) == 1 and pre.isupper())
                        or nxt[0].islower()
                    )
                )
            )
            if not keep:
                out += [pre, "."]
                continue
        out.append(w)
    t = " ".join(out)
    return t.lower() if lower else t


# Port of SentEval's data/downstream/tokenizer.sed (Robert MacIntyre's PTB sed script).
_PTB_RULES: tuple[tuple[str, str], ...] = (
    (r'^"', "`` "),
    (r'([ (\[{<])"', r"\1 `` "),
    (r"\.\.\.", " ... "),
    (r"[,;:@#$%&]", r" \g<0> "),
    (r"([^.])([.])([\])}>\"']*)[ \t]*$", r"\1 \2\3 "),
    (r"[?!]", r" \g<0> "),
    (r"[\][(){}<>]", r" \g<0> "),
    (r"--", " -- "),
    (r"$", " "),
    (r"^", " "),
    (r'"', " '' "),
    (r"([^'])' ", r"\1 ' "),
    (r"'([sSmMdD]) ", r" '\1 "),
    (r"'ll ", " 'll "),
    (r"'re ", " 're "),
    (r"'ve ", " 've "),
    (r"n't ", " n't "),
    (r"'LL ", " 'LL "),
    (r"'RE ", " 'RE "),
    (r"'VE ", " 'VE "),
    (r"N'T ", " N'T "),
    (r" ([Cc])annot ", r" \1an not "),
    (r" ([Dd])'ye ", r" \1' ye "),
    (r" ([Gg])imme ", r" \1im me "),
    (r" ([Gg])onna ", r" \1on na "),
    (r" ([Gg])otta ", r" \1ot ta "),
    (r" ([Ll])emme ", r" \1em me "),
    (r" ([Mm])ore'n ", r" \1ore 'n "),
    (r" '([Tt])is ", r" '\1 is "),
    (r" '([Tt])was ", r" '\1 was "),
    (r" ([Ww])anna ", r" \1an na "),
    (r"  *", " "),
    (r"^ *", ""),
)
_PTB_COMPILED = tuple((re.compile(p), r) for p, r in _PTB_RULES)


def ptb_tokenize(line: str) -> str:
    """SentEval's ``tokenizer.sed`` (Penn Treebank style) applied to one line."""
    for pat, rep in _PTB_COMPILED:
        line = pat.sub(rep, line)
    return line


def _cat_v(data: bytes) -> str:
    """``cat -v``: bytes >= 128 as ``M-x``, control characters as ``^X`` (not tab/newline)."""
    out = []
    for b in data:
        if b >= 128:
            out.append("M-")
            b -= 128
            if b < 32:
                out.append("^" + chr(b + 64))
            elif b == 127:
                out.append("^?")
            else:
                out.append(chr(b))
        elif b == 127:
            out.append("^?")
        elif b < 32 and b not in (9, 10):
            out.append("^" + chr(b + 64))
        else:
            out.append(chr(b))
    return "".join(out)


# --------------------------------------------------------------------------- network

_show_progress: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "_show_progress", default=True
)


def _progress_bar(total: int | None, desc: str):
    try:
        from tqdm.auto import tqdm
    except ImportError:  # tqdm is optional: no bar
        return None
    return tqdm(
        total=total,
        desc=desc,
        unit="B",
        unit_scale=True,
        unit_divisor=1024,
        disable=not _show_progress.get(),
        leave=False,
    )


def _fetch(url: str, path: Path) -> None:
    """Download ``url`` to ``path``: stream into a temporary file beside ``path``, then
    ``os.replace`` it into place. Any failure raises WorkbenchError naming the URL and the
    reason, and leaves no partial file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as out:
            req = urllib.request.Request(url, headers={"User-Agent": "workbench-download/1"})
            with urllib.request.urlopen(req, timeout=60) as resp:
                length = resp.headers.get("Content-Length") if resp.headers else None
                total = int(length) if length and length.isdigit() else None
                bar = _progress_bar(total, path.name)
                try:
                    while chunk := resp.read(1 << 20):
                        out.write(chunk)
                        if bar is not None:
                            bar.update(len(chunk))
                finally:
                    if bar is not None:
                        bar.close()
        os.replace(tmp, path)
    except urllib.error.HTTPError as e:
        raise WorkbenchError(f"download of {url} failed: HTTP {e.code} {e.reason}") from None
    except urllib.error.URLError as e:
        raise WorkbenchError(f"download of {url} failed: {e.reason}") from None
    except (OSError, http.client.HTTPException, ValueError) as e:
        reason = str(e) or type(e).__name__
        raise WorkbenchError(f"download of {url} failed: {reason}") from None
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def _is_archive(path: Path) -> bool:
    return zipfile.is_zipfile(path) or tarfile.is_tarfile(path)


def _fetch_any(key: str, path: Path, archive: bool = False) -> Path:
    """Fetch ``SOURCES[key]`` to ``path``, trying each URL in turn. With ``archive``, a reply
    that is not a zip/tar file (an HTML error page served with status 200) counts as a
    failure, and the next URL is tried."""
    errors = []
    for url in SOURCES[key]:
        try:
            _fetch(url, path)
        except WorkbenchError as e:
            errors.append(str(e))
            continue
        if not archive or _is_archive(path):
            return path
        errors.append(f"download of {url} failed: the reply is not a zip or tar archive")
        path.unlink()
    raise WorkbenchError(
        "; ".join(errors) + " (check the network, or fetch by hand into the layout)"
    )


# --------------------------------------------------------------------------- file helpers


def _write_text(path: Path, lines: Iterable[str], encoding: str = "utf-8") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding=encoding, newline="\n") as f:
        for line in lines:
            f.write(line + "\n")
    return path


def _text_lines(path: Path) -> list[str]:
    """Lines of a downloaded text file: UTF-8, else ISO-8859-1 (never fails to decode)."""
    data = path.read_bytes()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        text = data.decode("latin-1")
    if text.endswith("\n"):
        text = text[:-1]
    if not text:
        return []
    return [ln[:-1] if ln.endswith("\r") else ln for ln in text.split("\n")]


def _byte_lines(data: bytes) -> list[bytes]:
    if data.endswith(b"\n"):
        data = data[:-1]
    return data.split(b"\n") if data else []


def _extract(archive: Path, into: Path) -> Path:
    """Unpack a zip or tar archive into ``into`` (no paths outside it)."""
    into.mkdir(parents=True, exist_ok=True)
    try:
        if zipfile.is_zipfile(archive):
            with zipfile.ZipFile(archive) as z:
                root = into.resolve()
                for name in z.namelist():
                    if not (into / name).resolve().is_relative_to(root):
                        raise WorkbenchError(f"{archive}: unsafe member path {name!r}")
                z.extractall(into)
        elif tarfile.is_tarfile(archive):
            with tarfile.open(archive) as t:
                if hasattr(tarfile, "data_filter"):
                    t.extractall(into, filter="data")
                else:  # Python < 3.10.12: refuse links and paths that leave ``into``
                    root = into.resolve()
                    for m in t.getmembers():
                        if (
                            m.issym()
                            or m.islnk()
                            or not (into / m.name).resolve().is_relative_to(root)
                        ):
                            raise WorkbenchError(f"{archive}: unsafe member {m.name!r}")
                    t.extractall(into)
        else:
            raise WorkbenchError(f"{archive}: not a zip or tar archive (a failed download?)")
    except (zipfile.BadZipFile, tarfile.TarError, OSError) as e:
        raise WorkbenchError(f"{archive}: cannot be unpacked ({e})") from None
    return into


def _find_dir(root: Path, name: str, must_contain: str) -> Path:
    """The folder called ``name`` below ``root``; else the one holding ``must_contain``."""
    for p in sorted(root.rglob(name)):
        if p.is_dir() and "__MACOSX" not in p.parts:
            return p
    for p in sorted(root.rglob(must_contain)):
        if "__MACOSX" not in p.parts:
            return p.parent
    raise WorkbenchError(f"the archive unpacked in {root} has no folder {name!r} ({must_contain})")


def _find_file(root: Path, suffix: str) -> Path:
    for p in sorted(root.rglob(Path(suffix).name)):
        if "__MACOSX" not in p.parts and p.as_posix().endswith(suffix):
            return p
    raise WorkbenchError(f"the archive unpacked in {root} has no file {suffix!r}")


class _Installer:
    """Moves finished files from the staging folder into ``dest`` with ``os.replace``."""

    def __init__(self, dest: Path, force: bool) -> None:
        self.dest, self.force = dest, force

    def wanted(self, rel: str | Path) -> bool:
        return self.force or not (self.dest / rel).is_file()

    def install(self, src: Path, rel: str | Path) -> None:
        dst = self.dest / rel
        if not self.wanted(rel):
            return
        dst.parent.mkdir(parents=True, exist_ok=True)
        os.replace(src, dst)


# --------------------------------------------------------------------------- per-unit builders


def _build_sts_year(task: str, stage: Path, inst: _Installer) -> None:
    archive = _fetch_any(task, stage / f"data_{task}.zip", archive=True)
    src = _find_dir(_extract(archive, stage / f"{task}-unpacked"), _STS_SUBDIRS[task], "*input*")
    rel = Path("STS") / f"{task}-en-test"
    out = stage / f"{task}-out"
    out.mkdir()
    subsets = set(STS_SUBSETS[task])
    for f in sorted(p for p in src.iterdir() if p.is_file()):
        name = f.name
        if task == "STS16":  # SentEval: STS2016.input.X.txt -> STS.input.X.txt (and gs)
            name = re.sub(r"^STS2016\.(input|gs)\.", r"STS.\1.", name)
        m = re.fullmatch(r"STS\.input\.(.+)\.txt", name)
        if m and m.group(1) in subsets:
            lines = []
            for line in _text_lines(f):  # cut -f1 / cut -f2 | tokenizer | lowercase
                fields = line.split("\t")
                s1 = fields[0]
                s2 = fields[1] if len(fields) > 1 else ""
                lines.append(f"{tokenize(s1)}\t{tokenize(s2)}")
            _write_text(out / name, lines)
        else:
            shutil.copyfile(f, out / name)
        inst.install(out / name, rel / name)
    for sub in STS_SUBSETS[task]:
        for kind in ("input", "gs"):
            if not (inst.dest / rel / f"STS.{kind}.{sub}.txt").is_file():
                raise WorkbenchError(f"{task}: the archive has no STS.{kind}.{sub}.txt")


def _build_stsb(stage: Path, inst: _Installer) -> None:
    archive = _fetch_any("STSBenchmark", stage / "Stsbenchmark.tar.gz", archive=True)
    src = _find_dir(_extract(archive, stage / "stsb-unpacked"), "stsbenchmark", "sts-train.csv")
    out_orig, out_tok = stage / "stsb-orig", stage / "stsb-tok"
    out_orig.mkdir()
    out_tok.mkdir()
    rel = Path("STS") / "STSBenchmark"
    for f in sorted(p for p in src.iterdir() if p.is_file()):
        shutil.copyfile(f, out_orig / f.name)
        inst.install(out_orig / f.name, rel / "stsbenchmark" / f.name)
        if re.fullmatch(r"sts-(train|dev|test)\.csv", f.name):
            lines = []
            for line in _text_lines(f):  # cut -f1-5; cut -f6,7 | tokenizer | lowercase
                if not line.strip():
                    continue
                fields = line.split("\t") + [""] * 7
                lines.append("\t".join(fields[:5] + [tokenize(fields[5]), tokenize(fields[6])]))
            _write_text(out_tok / f.name, lines)
        else:
            shutil.copyfile(f, out_tok / f.name)
        inst.install(out_tok / f.name, rel / f.name)


def _build_sick(stage: Path, inst: _Installer) -> None:
    for split in ("train", "trial", "test_annotated"):
        name = f"SICK_{split}.txt"
        if not inst.wanted(Path("SICK") / name):
            continue
        archive = _fetch_any(f"SICK_{split}", stage / f"sick_{split}.zip", archive=True)
        f = _find_file(_extract(archive, stage / f"sick-{split}"), name)
        lines = _text_lines(f)
        out = lines[:1]
        for line in lines[1:]:  # pair_ID, tokenised sentence_A and sentence_B, score, label
            if not line.strip():
                continue
            fields = line.split("\t") + [""] * 5
            out.append(
                "\t".join(
                    [fields[0], tokenize(fields[1], lower=False), tokenize(fields[2], lower=False)]
                    + fields[3:5]
                )
            )
        inst.install(_write_text(stage / name, out), Path("SICK") / name)


def _build_binclassif(units: Sequence[str], stage: Path, inst: _Installer) -> None:
    archive = stage / "data_classif.zip"
    if not archive.is_file():  # one zip for MR, CR, SUBJ and MPQA
        _fetch_any("BINCLASSIF", archive, archive=True)
    root = stage / "data_bin_classif"
    if not root.is_dir():
        _extract(archive, root)
    for unit in units:
        for member, rel in _BINCLASSIF_MEMBERS[unit]:
            if not inst.wanted(rel):
                continue
            data = _find_file(root, member).read_bytes()
            # cat -v FILE | sed -f tokenizer.sed
            lines = [ptb_tokenize(_cat_v(b)) for b in _byte_lines(data)]
            inst.install(_write_text(stage / Path(rel).name, lines), rel)


def _build_direct(keys_rels: Sequence[tuple[str, str]], stage: Path, inst: _Installer) -> None:
    for key, rel in keys_rels:
        if inst.wanted(rel):
            inst.install(_fetch_any(key, stage / Path(rel).name), rel)


def _build_trec(stage: Path, inst: _Installer) -> None:
    for name in ("train_5500", "TREC_10"):
        rel = f"TREC/{name}.label"
        if not inst.wanted(rel):
            continue
        raw = _fetch_any(f"TREC_{name}", stage / f"{name}.raw").read_bytes()
        # sed -e "s/`//g"; sed -e "s/'//g" (bytes: train_5500 is ISO-8859-1)
        (stage / f"{name}.label").write_bytes(raw.replace(b"`", b"").replace(b"'", b""))
        inst.install(stage / f"{name}.label", rel)


def _build_snli(stage: Path, inst: _Installer) -> None:
    archive = _fetch_any("SNLI", stage / "snli_1.0.zip", archive=True)
    root = _extract(archive, stage / "snli-unpacked")
    for split in ("train", "dev", "test"):
        f = _find_file(root, f"snli_1.0_{split}.txt")
        rows = [ln.split("\t") for ln in _text_lines(f)]
        # awk '$1 != "-"' | cut -f 1,6,7 | sed '1d'
        rows = [r for r in rows if r[0] != "-"][1:]
        if any(len(r) < 7 for r in rows):
            raise WorkbenchError(f"{f}: expected at least 7 tab-separated fields a line")
        outs = {
            "labels": [r[0] for r in rows],
            "s1": [ptb_tokenize(r[5]) for r in rows],
            "s2": [ptb_tokenize(r[6]) for r in rows],
        }
        for kind, lines in outs.items():
            name = f"{kind}.{split}"
            inst.install(_write_text(stage / name, lines), Path("SNLI") / name)


def _build_unit(unit: str, binclassif: Sequence[str], stage: Path, inst: _Installer) -> None:
    if unit in _STS_ZIPS:
        _build_sts_year(unit, stage, inst)
    elif unit == "STSBenchmark":
        _build_stsb(stage, inst)
    elif unit == "SICK":
        _build_sick(stage, inst)
    elif unit in _BINCLASSIF_MEMBERS:
        _build_binclassif(binclassif, stage, inst)
    elif unit in ("SST2", "SST5"):
        sub = "binary" if unit == "SST2" else "fine"
        splits = ("train", "dev", "test")
        _build_direct([(f"{unit}_{s}", f"SST/{sub}/sentiment-{s}") for s in splits], stage, inst)
    elif unit == "TREC":
        _build_trec(stage, inst)
    elif unit == "MRPC":
        splits = ("train", "test")
        _build_direct([(f"MRPC_{s}", f"MRPC/msr_paraphrase_{s}.txt") for s in splits], stage, inst)
    elif unit == "SNLI":
        _build_snli(stage, inst)
    else:  # pragma: no cover - DOWNLOAD_UNITS and this function are kept in step
        raise AssertionError(unit)


def _unit_outputs(unit: str, root: Path) -> list[Path]:
    """Files that download(unit) writes and the readers read."""
    if unit in STS_TASKS:
        return _sts_required(unit, root)
    if unit == "SICK":
        return _sts_required("SICKRelatedness", root)
    if unit == "SNLI":
        return [p for s in ("train", "dev", "test") for p in _pair_paths("SNLI", s, root)]
    return _transfer_required(unit, root)


def _resolve_units(tasks: Iterable[str] | str | None) -> list[str]:
    if tasks is None:
        return list(DOWNLOAD_UNITS)
    if isinstance(tasks, str):
        tasks = [tasks]
    wanted: set[str] = set()
    for name in tasks:
        key = _norm_name(name) if isinstance(name, str) else ""
        if key == "SST":
            wanted |= {"SST2", "SST5"}
            continue
        if key in ("STS", "STSALL"):
            wanted |= {"STS12", "STS13", "STS14", "STS15", "STS16", "STSBenchmark", "SICK"}
            continue
        unit = None
        for resolve in (resolve_sts_task, resolve_classification_task, resolve_pair_task):
            try:
                unit = resolve(name)
                break
            except UnknownNameError:
                pass
        if unit is None:
            raise UnknownNameError(
                f"unknown task {name!r} to download; valid names: {', '.join(DOWNLOAD_UNITS)}, "
                f"SST (both), STS (all STS tasks)"
            )
        wanted.add("SICK" if unit == "SICKRelatedness" else unit)
    return [u for u in DOWNLOAD_UNITS if u in wanted]


def download(
    dest: str | os.PathLike | None = None,
    tasks: Iterable[str] | str | None = None,
    force: bool = False,
    progress: bool = True,
) -> Path:
    """Fetch the evaluation data into SentEval's ``downstream`` layout under ``dest``.

    ``dest`` defaults to :func:`workbench.config.data_dir` (``$WORKBENCH_DATA_DIR`` or
    ``~/.cache/workbench/data/senteval``). ``tasks`` picks what to fetch (default: all of
    :data:`DOWNLOAD_UNITS`; reader task names and aliases work, ``SST`` means both SST2 and
    SST5). Files already present are kept unless ``force``; a task whose files are all
    present is not fetched at all. Every file is written to a temporary name inside
    ``dest`` and moved into place with ``os.replace``. A task that fails does not stop the
    others; at the end a WorkbenchError names each failed task with its URL and reason.
    Returns ``dest``.

    Beyond SentEval's script: the ORIGINAL cased STS-B release is kept under
    ``STS/STSBenchmark/stsbenchmark/``, and SNLI train is written too (``{s1,s2,labels}.train``).
    The tokenised copies come from :func:`tokenize` (an approximation of SentEval's Moses
    step) and :func:`ptb_tokenize` (an exact port of SentEval's ``tokenizer.sed``).
    """
    units = _resolve_units(tasks)
    root = config.data_dir(dest)
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise WorkbenchError(f"cannot create the data folder {root}: {e.strerror or e}") from None
    inst = _Installer(root, force)
    say: Callable[[str], None] = (
        (lambda msg: print(msg, file=sys.stderr)) if progress else (lambda msg: None)
    )
    todo = [u for u in units if force or not all(p.is_file() for p in _unit_outputs(u, root))]
    for u in units:
        if u not in todo:
            say(f"{u}: already present in {root}, skipped")
    if not todo:
        return root
    token = _show_progress.set(progress)
    stage = Path(tempfile.mkdtemp(prefix=".workbench-download-", dir=root))
    try:
        binclassif = [u for u in todo if u in _BINCLASSIF_MEMBERS]
        failed: list[str] = []
        for unit in todo:
            if unit in _BINCLASSIF_MEMBERS and unit != binclassif[0]:
                continue  # built together with the first of MR/CR/SUBJ/MPQA
            say(f"{'/'.join(binclassif) if unit in binclassif else unit}: fetching")
            try:
                _build_unit(unit, binclassif, stage, inst)
            except WorkbenchError as e:  # go on with the other tasks, report at the end
                failed.append(f"{unit}: {e}")
                say(f"{unit}: FAILED: {e}")
        if failed:
            raise WorkbenchError(
                f"download into {root} incomplete ({len(failed)} of {len(todo)} tasks failed): "
                + " | ".join(failed)
            )
    finally:
        _show_progress.reset(token)
        shutil.rmtree(stage, ignore_errors=True)
    return root


# --------------------------------------------------------------------------- available


def available(data_dir: str | os.PathLike | None = None) -> pd.DataFrame:
    """One row per task: ``task, kind, present, path``.

    ``kind`` is ``sts``, ``classification`` or ``pairs``; ``present`` is True when every file
    the loaders read for the task exists (SNLI: dev and test); ``path`` is the task's folder.
    """
    root = config.data_dir(data_dir)
    rows = []
    for task in STS_TASKS:
        files = _sts_required(task, root)
        rows.append((task, "sts", all(p.is_file() for p in files), str(_sts_folder(task, root))))
    for kind, tasks in (("classification", CLASSIFICATION_TASKS), ("pairs", PAIR_TASKS)):
        for task in tasks:
            files = _transfer_required(task, root)
            present = all(p.is_file() for p in files)
            rows.append((task, kind, present, str(_transfer_folder(task, root))))
    df = pd.DataFrame(rows, columns=["task", "kind", "present", "path"])
    df["present"] = df["present"].astype(bool)
    return df
