"""The sentences of the shared data as one de-duplicated, deterministically ordered list.

``corpus_texts("all")`` reads every named text set of :mod:`workbench.geometry.corpora`
(STS12-16, STS-B, SICK, SNLI, MRPC, MR, CR, SUBJ, MPQA, SST-2, TREC) through the dataset
loaders, in the text form of every registered evaluation protocol (the STS files are read
tokenised and lower-cased by ``simcse``/``senteval`` and as the original cased release by
``mteb``), so that a later ``wb.encode`` under any protocol finds its sentences in the
embedding cache. Order: protocol order of :data:`~workbench.evaluation.protocols.PROTOCOLS`,
then corpus order of :data:`~workbench.geometry.corpora.CORPORA`, then file order; the first
occurrence of a text wins. Empty or whitespace-only texts are dropped.

Not included: STS15/16 pairs without a gold score (the loaders drop them; no evaluation
reads them) and SNLI train (not in the shared layout).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence

from ..errors import InvalidInputError

__all__ = ["corpus_texts", "texts_digest"]

ALL = "all"


def corpus_texts(
    name: str = ALL,
    data_dir: str | os.PathLike | None = None,
    protocols: Sequence[str] | None = None,
    limit: int | None = None,
    seed: int = 0,
) -> list[str]:
    """Distinct non-empty texts of ``name``: ``all`` (every sentence of the shared data, see
    the module docstring) or a corpus name of :func:`workbench.geometry.corpora.load_texts`
    (``stsb-train``, ``mr+subj``, ...). ``protocols`` (default: all registered) are the text
    forms read. ``limit`` keeps a reproducible random subset of that many (``seed``), in the
    same order."""
    from ..evaluation.protocols import PROTOCOLS
    from ..geometry._checks import subsample
    from ..geometry.corpora import CORPORA, resolve_corpus

    names = list(CORPORA) if str(name).strip().lower() == ALL else resolve_corpus(name)
    protos = list(PROTOCOLS) if protocols is None else list(protocols)
    if not protos:
        raise InvalidInputError("corpus_texts: no protocol given (leave protocols=None for all)")
    from ..geometry.corpora import _protocol, _texts_of

    seen: dict[str, None] = {}
    for p in protos:
        proto = _protocol(p)
        for n in names:
            for t in _texts_of(n, data_dir, proto):
                if isinstance(t, str) and t.strip():
                    seen.setdefault(t, None)
    texts = list(seen)
    if not texts:
        raise InvalidInputError(f"corpus {name!r} has no texts")
    if limit is not None:
        if isinstance(limit, bool) or int(limit) != limit or limit < 1:
            raise InvalidInputError(f"limit must be a whole number >= 1, got {limit!r}")
        texts = [texts[i] for i in subsample(len(texts), int(limit), seed)]
    return texts


def texts_digest(texts: Sequence[str]) -> str:
    """SHA-256 of the texts in order (each UTF-8, length-prefixed): names a text list in a
    store's plan, so a resumed run can tell it is continuing the same job."""
    h = hashlib.sha256()
    for t in texts:
        b = t.encode("utf-8", "surrogatepass")
        h.update(len(b).to_bytes(8, "little"))
        h.update(b)
    return h.hexdigest()
