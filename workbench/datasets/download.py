"""Fetch the evaluation data into SentEval's ``downstream`` layout, and report what is present.

:func:`download` reproduces what SentEval's ``data/downstream/get_transfer_data.bash`` builds
(same URLs, same folders and file names, same post-processing), plus the ORIGINAL cased STS
Benchmark release under ``STS/STSBenchmark/stsbenchmark/``, which published STS-B numbers use.

Integrity. Every URL list tries https first. A fetched file whose SHA-256 is pinned
(:data:`PINNED_SHA256`) must match it, and files copied verbatim out of an archive
(:data:`PINNED_MEMBERS`: the STS gold scores, the original STS-B release) must match theirs;
a mismatch is an error naming the URL or file and both digests, and the next URL is tried.
A download with no pin (the STS12-16 sentence files, SICK, the MR/CR/SUBJ/MPQA zip) cannot be
verified: it is fetched with an :class:`~workbench.errors.UnverifiedDownloadWarning` naming
it, and its SHA-256 is recorded in ``<dest>/workbench-download.json`` so the value can be
compared and pinned; ``strict=True`` (``workbench download --strict``) refuses such files.
Refusing them by default would make the download unusable for half the tasks, for a reason
the user cannot fix (their archives' checksums were never published with them).

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
import hashlib
import http.client
import json
import os
import re
import shutil
import sys
import tarfile
import tempfile
import time
import urllib.error
import urllib.request
import warnings
import zipfile
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

import pandas as pd

from .. import config
from ..errors import UnknownNameError, UnverifiedDownloadWarning, WorkbenchError
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

__all__ = [
    "SOURCES",
    "DOWNLOAD_UNITS",
    "PINNED_SHA256",
    "PINNED_MEMBERS",
    "available",
    "download",
    "ptb_tokenize",
    "tokenize",
]

# --------------------------------------------------------------------------- sources

_IXA = "http://ixa2.si.ehu.es/stswiki/images"
_IXA_NEW = "https://ixa2.si.ehu.eus/stswiki/images"  # the same wiki under its current domain
_FB = "https://dl.fbaipublicfiles.com/senteval/senteval_data"  # SentEval's former S3 bucket
_TREC = "http://cogcomp.cs.illinois.edu/Data/QA/QC"
_TREC_NEW = "https://cogcomp.seas.upenn.edu/Data/QA/QC"
_SICK = "http://alt.qcri.org/semeval2014/task1/data/uploads"
_SICK_HTTPS = "https://alt.qcri.org/semeval2014/task1/data/uploads"
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

#: source key -> URLs, tried in order: https first (a file's current home or SentEval's URL
#: under https), plain http (SentEval's original URL) only after it.
SOURCES: dict[str, tuple[str, ...]] = {
    **{t: (f"{_IXA_NEW}/{p}", f"{_IXA}/{p}") for t, p in _STS_ZIPS.items()},
    "STSBenchmark": (
        f"{_IXA_NEW}/4/48/Stsbenchmark.tar.gz",
        f"{_IXA}/4/48/Stsbenchmark.tar.gz",
    ),
    **{
        f"SICK_{s}": (f"{_SICK_HTTPS}/sick_{s}.zip", f"{_SICK}/sick_{s}.zip")
        for s in ("train", "trial", "test_annotated")
    },
    "BINCLASSIF": (f"{_FB}/datasmall_NB_ACL12.zip",),
    **{f"SST2_{s}": (f"{_SST_BIN}/sentiment-{s}",) for s in ("train", "dev", "test")},
    **{f"SST5_{s}": (f"{_SST_FINE}/stsa.fine.{s}",) for s in ("train", "dev", "test")},
    **{
        f"TREC_{n}": (f"{_TREC_NEW}/{n}.label", f"{_TREC}/{n}.label")
        for n in ("train_5500", "TREC_10")
    },
    **{f"MRPC_{s}": (f"{_FB}/msr_paraphrase_{s}.txt",) for s in ("train", "test")},
    "SNLI": ("https://nlp.stanford.edu/projects/snli/snli_1.0.zip",),
}

_HF = "huggingface/datasets@040102f100964a33fd334e2695f1c493fa6b92db"
_SHARED = "the SentEval layout's verbatim copy (get_transfer_data.bash writes it unchanged)"
#: source key -> (SHA-256 of the file as fetched, where the value comes from). Never
#: computed here from a fresh download: each is either published by another project for the
#: same URL or the digest of a file SentEval's script stores byte for byte.
PINNED_SHA256: dict[str, tuple[str, str]] = {
    "MRPC_train": (
        "60a9b09084528f0673eedee2b69cb941920f0b8cd0eeccefc464a98768457f89",
        f"{_HF} datasets/glue/dataset_infos.json (equal to {_SHARED})",
    ),
    "MRPC_test": (
        "a04e271090879aaba6423d65b94950c089298587d9c084bf9cd7439bd785f784",
        f"{_HF} datasets/glue/dataset_infos.json (equal to {_SHARED})",
    ),
    "TREC_train_5500": (
        "9e4c8bdcaffb96ed61041bd64b564183d52793a8e91d84fc3a8646885f466ec3",
        f"{_HF} datasets/trec/dataset_infos.json",
    ),
    "TREC_TREC_10": (
        "033f22c028c2bbba9ca682f68ffe204dc1aa6e1cf35dd6207f2d4ca67f0d0e8e",
        f"{_HF} datasets/trec/dataset_infos.json",
    ),
    "SNLI": (
        "afb3d70a5af5d8de0d9d81e2637e0fb8c22d1235c2749d83125ca43dab0dbd3e",
        f"{_HF} datasets/snli/dataset_infos.json",
    ),
    "SST2_train": ("10a92a297ec38e262386e5a2713b4bc70e5d18ced88b7f54bd171a26e5b34ab5", _SHARED),
    "SST2_dev": ("9a6c7403b71a9b762158387afe4431253ae10cdfb2319b5275289f3766f48291", _SHARED),
    "SST2_test": ("4fefd1cd67526cf87ebc7fafc3afc21cc7cfa6ae53b45e74f77f9456e3c62752", _SHARED),
    "SST5_train": ("9b52b5f686ed438d4d0274c385369251b3d579b578fddd340ba8a9bae2ca4bee", _SHARED),
    "SST5_dev": ("b2f76c62b960f9fda5c6d751edb125abab4f878eb94a8754239b7f4af647f4c3", _SHARED),
    "SST5_test": ("0e2ebb450c231f7b3d67fc932066e7bb26ae7bad8c88488f45ed44ef02eb3c73", _SHARED),
}

#: output path -> SHA-256 of a file copied unchanged out of an archive whose own checksum is
#: not pinned: the gold scores of STS12-16 and the original STS-B release (from which the
#: tokenised STS-B copy is derived). Values: the SentEval layout's copies of these files.
# fmt: off
PINNED_MEMBERS: dict[str, str] = {
    f"STS/{rel}": digest for rel, digest in (
        ("STS12-en-test/STS.gs.MSRpar.txt", "5526be59228bc34ccb3cb6f1f56c0d7278d3419b8886713ae016fd92b151f19c"),  # noqa: E501
        ("STS12-en-test/STS.gs.MSRvid.txt", "9c6096c6bcfb0144c8bbddb00900ca9198c88498630cd0c8f08d18365f1d7150"),  # noqa: E501
        ("STS12-en-test/STS.gs.SMTeuroparl.txt", "708530c4d006d06881f3289fce35d624d7efe562dcf0fe5f8aa0eec3a135f6d4"),  # noqa: E501
        ("STS12-en-test/STS.gs.surprise.OnWN.txt", "088d8ca22c0aa406e4a5d2e6e308a4f38b482b8e736c2445a38ffb6e4c4fb4fd"),  # noqa: E501
        ("STS12-en-test/STS.gs.surprise.SMTnews.txt", "aa6dfc868db333c43dc59be14d46fa6587c7ebddc0d497e717f647bf35121cf1"),  # noqa: E501
        ("STS13-en-test/STS.gs.FNWN.txt", "8ca95b7228119578e2007839cf7969f22c4f1fd41fd610c4b7f9683072d98066"),  # noqa: E501
        ("STS13-en-test/STS.gs.OnWN.txt", "0cd497aaddb00a2fb6db25f77bccfc09e8aa012e11549b81b434bab1a27ad954"),  # noqa: E501
        ("STS13-en-test/STS.gs.headlines.txt", "f49f64089011436dd296ef384c07160219406feef7dc4b9fa2af52a519f32bc6"),  # noqa: E501
        ("STS14-en-test/STS.gs.OnWN.txt", "1c80147df270ea4cfce14a47ed29f8a2f10d5dc016d02836077fd786ff7f535b"),  # noqa: E501
        ("STS14-en-test/STS.gs.deft-forum.txt", "ba6dc76696b5c93985590a325b4d142449932cdf0d715b2bab1b1743fe3c488c"),  # noqa: E501
        ("STS14-en-test/STS.gs.deft-news.txt", "105c5b333abd50c274efb4dae9e3e0dab36ed63eee780cfb49955b1586bd62f2"),  # noqa: E501
        ("STS14-en-test/STS.gs.headlines.txt", "f243c34647255cd0b994565ed4f58dd31506e7d9c9d6250d1a6dd14095625832"),  # noqa: E501
        ("STS14-en-test/STS.gs.images.txt", "fc994ebacc7074c332626fa9e29542d7340a48a3cdb999b47cdb59c378523a62"),  # noqa: E501
        ("STS14-en-test/STS.gs.tweet-news.txt", "0098c644bfeaa2d511a8297b1940771865900c372c9dd49a62726dc5ec02c9a3"),  # noqa: E501
        ("STS15-en-test/STS.gs.answers-forums.txt", "1644301a7540e5484da285002e9269062852efb2272be614cad99c9530f6a102"),  # noqa: E501
        ("STS15-en-test/STS.gs.answers-students.txt", "028db213140f8c7aef7497c4ae38b6380938f20359852231669c83dce11c3701"),  # noqa: E501
        ("STS15-en-test/STS.gs.belief.txt", "5736192faaccbdbecd0ef6b73ec04b24115cd2e48d55dc3b1b170da3d2a81c75"),  # noqa: E501
        ("STS15-en-test/STS.gs.headlines.txt", "e8e432f769c8a94ddb62ae3343890ac24a9dd78a116d56c707313bc59413dd56"),  # noqa: E501
        ("STS15-en-test/STS.gs.images.txt", "ed8878209098c77ca7f02ac413d3fd698f92ad3425999555e50fda89fc46012a"),  # noqa: E501
        ("STS16-en-test/STS.gs.answer-answer.txt", "332efd741b0cb247d20dd2a6cec854360c921c7e6b395f328f562d8d26057214"),  # noqa: E501
        ("STS16-en-test/STS.gs.headlines.txt", "01e33a95996201a6e81e3cce9eda0f15048b77613ea64dce2929bb35479f7d85"),  # noqa: E501
        ("STS16-en-test/STS.gs.plagiarism.txt", "29984944a91aaff484f2b2e5d4d434fc8a6f5ef6f578a880cccd2786f5142fdc"),  # noqa: E501
        ("STS16-en-test/STS.gs.postediting.txt", "81947ed9dbe7f85b7bd249df68ed5c7b2f16f06390ad568eb5554b1e26bc5577"),  # noqa: E501
        ("STS16-en-test/STS.gs.question-question.txt", "cf9ebf9d140191f73620cda0560947ad9283c910735d0d541b8a401a5e64afb0"),  # noqa: E501
        ("STSBenchmark/stsbenchmark/sts-train.csv", "0f71910b59aa1ad973c5897f0791f3b0965a92b8f82b1a95f3eea9f4162fda82"),  # noqa: E501
        ("STSBenchmark/stsbenchmark/sts-dev.csv", "5d7e944d8b02734b07bfdb5df67db3420c64bed153fcaa1ba47ad03480cf4234"),  # noqa: E501
        ("STSBenchmark/stsbenchmark/sts-test.csv", "affe45928a66ee5a708531233c95b7dacbbdc57f974f002a3d32ea0180cf816a"),  # noqa: E501
    )
}
# fmt: on
#: archives whose every data file is checked through PINNED_MEMBERS (the tokenised STS-B
#: copy is computed from the pinned original), so a missing archive pin loses nothing
_VERIFIED_BY_MEMBERS = frozenset({"STSBenchmark"})
DOWNLOAD_RECORD = "workbench-download.json"

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
#: what this download() fetched, for the record file and the warnings (None outside one)
_fetched: contextvars.ContextVar[list[dict] | None] = contextvars.ContextVar(
    "_fetched", default=None
)
_strict: contextvars.ContextVar[bool] = contextvars.ContextVar("_strict", default=False)


def _sha256(path: Path) -> str:
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


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
    failure, and the next URL is tried; so does a file whose SHA-256 differs from its pin
    (:data:`PINNED_SHA256`). An unpinned file is refused under ``strict`` and otherwise
    recorded as unverified."""
    pin = PINNED_SHA256.get(key)
    if pin is None and _strict.get() and key not in _VERIFIED_BY_MEMBERS:
        raise WorkbenchError(
            f"{key}: no pinned checksum for {SOURCES[key][0]}, and strict mode refuses "
            "unverified files (drop --strict, or fetch and check it by hand)"
        )
    errors = []
    for url in SOURCES[key]:
        try:
            _fetch(url, path)
        except WorkbenchError as e:
            errors.append(str(e))
            continue
        if archive and not _is_archive(path):
            errors.append(f"download of {url} failed: the reply is not a zip or tar archive")
            path.unlink()
            continue
        digest = _sha256(path)
        if pin is not None and digest != pin[0]:
            errors.append(
                f"download of {url} failed: its sha256 {digest} does not match the pinned "
                f"{pin[0]} (a changed or tampered file)"
            )
            path.unlink()
            continue
        record = _fetched.get()
        if record is not None:
            record.append(
                {
                    "source": key,
                    "url": url,
                    "sha256": digest,
                    "bytes": path.stat().st_size,
                    "pinned": pin is not None,
                    "verified": pin is not None or key in _VERIFIED_BY_MEMBERS,
                    "fetched": time.strftime("%Y-%m-%dT%H:%M:%S"),
                }
            )
        return path
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
        pin = PINNED_MEMBERS.get(Path(rel).as_posix())
        if pin is not None and (digest := _sha256(src)) != pin:
            raise WorkbenchError(
                f"{Path(rel).as_posix()} from the archive has sha256 {digest}, not the pinned "
                f"{pin} (a changed or tampered archive); it was not installed"
            )
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


def _write_record(root: Path, entries: list[dict]) -> None:
    """Add what was fetched to ``<root>/workbench-download.json`` (atomic replace)."""
    path = root / DOWNLOAD_RECORD
    try:
        old = json.loads(path.read_text(encoding="utf-8")).get("fetched", [])
    except (OSError, ValueError, AttributeError):
        old = []
    data = {
        "about": "files fetched by `workbench download`; verified = matched a pinned sha256 "
        "(or every data file did, see workbench.datasets.download.PINNED_MEMBERS)",
        "fetched": [*old, *entries],
    }
    tmp = root / f".{DOWNLOAD_RECORD}.{os.getpid()}.tmp"
    tmp.write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def download(
    dest: str | os.PathLike | None = None,
    tasks: Iterable[str] | str | None = None,
    force: bool = False,
    progress: bool = True,
    strict: bool = False,
) -> Path:
    """Fetch the evaluation data into SentEval's ``downstream`` layout under ``dest``.

    ``dest`` defaults to :func:`workbench.config.data_dir` (``$WORKBENCH_DATA_DIR`` or
    ``~/.cache/workbench/data/senteval``). ``tasks`` picks what to fetch (default: all of
    :data:`DOWNLOAD_UNITS`; reader task names and aliases work, ``SST`` means both SST2 and
    SST5). ``strict`` refuses every file that no pinned checksum verifies (see the module
    docstring). Files already present are kept unless ``force``; a task whose files are all
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
    fetched: list[dict] = []
    tokens = (_fetched.set(fetched), _strict.set(strict))
    stage = Path(tempfile.mkdtemp(prefix=".workbench-download-", dir=root))
    try:
        binclassif = [u for u in todo if u in _BINCLASSIF_MEMBERS]
        failed: list[str] = []
        for unit in todo:
            if unit in _BINCLASSIF_MEMBERS and unit != binclassif[0]:
                continue  # built together with the first of MR/CR/SUBJ/MPQA
            say(f"{'/'.join(binclassif) if unit in binclassif else unit}: fetching")
            start = len(fetched)
            try:
                _build_unit(unit, binclassif, stage, inst)
            except WorkbenchError as e:  # go on with the other tasks, report at the end
                failed.append(f"{unit}: {e}")
                say(f"{unit}: FAILED: {e}")
            for rec in fetched[start:]:
                if not rec["verified"]:
                    msg = (
                        f"{unit}: no pinned checksum for {rec['url']}"
                        + (" (fetched over plain http)" if rec["url"].startswith("http:") else "")
                        + f"; its content is not verified (sha256 {rec['sha256']} recorded in "
                        f"{root / DOWNLOAD_RECORD})"
                    )
                    say(f"WARNING {msg}")
                    warnings.warn(msg, UnverifiedDownloadWarning, stacklevel=2)
        if failed:
            raise WorkbenchError(
                f"download into {root} incomplete ({len(failed)} of {len(todo)} tasks failed): "
                + " | ".join(failed)
            )
    finally:
        _show_progress.reset(token)
        _fetched.reset(tokens[0])
        _strict.reset(tokens[1])
        shutil.rmtree(stage, ignore_errors=True)
        if fetched:
            _write_record(root, fetched)
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
