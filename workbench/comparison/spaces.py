"""How similar are two embeddings of the same texts? Linear CKA (biased and debiased), k-NN
overlap, the orthogonal Procrustes residual and relative-representation similarity, for
arrays, encoders, layers and transforms; and the layer x layer CKA matrix.

Every measure takes two ``(n, d_a)`` and ``(n, d_b)`` arrays whose row ``i`` embeds the same
text; the dimensions may differ. All are symmetric in the two spaces.

- **Linear CKA** (Kornblith et al., ICML 2019): ``||Y^T X||_F^2 / (||X^T X||_F ||Y^T Y||_F)``
  on column-centred ``X``, ``Y``; in [0, 1], invariant to orthogonal maps and isotropic
  scaling of either space. ``debiased=True`` replaces each HSIC by the unbiased estimator of
  Song et al. (JMLR 2012), as Nguyen et al. (ICLR 2021) and Kornblith's code do: less
  inflated for few texts in many dimensions; it can be slightly negative.
- **k-NN overlap**: for each text, the share of its ``k`` nearest neighbours (cosine, itself
  left out) that the two spaces have in common, averaged over texts; 1 = the same
  neighbourhoods.
- **Procrustes residual**: both spaces centred and scaled to unit Frobenius norm (the
  narrower one padded with zero columns), the best rotation ``R`` of ``X`` onto ``Y``
  (``scipy.linalg.orthogonal_procrustes``), and ``||X R - Y||_F^2 = 2 - 2 ||X^T Y||_*``: 0
  when one space is a rotation (and scaling, shift) of the other, at most 2.
- **Relative-representation similarity** (Moschella et al., ICLR 2023): each text becomes
  its vector of cosines to the same anchor texts in each space; the mean over texts of the
  cosine between its two relative vectors. 1 when the spaces agree up to an angle-preserving
  map. Anchors: ``n_anchors`` texts drawn with ``seed`` (300, as the authors' demo). The
  relative vectors are not centred (the paper's definition), so a space whose cosines are all
  near 1 (averaged GloVe vectors) gives nearly constant relative vectors and a low value
  against any other space: MiniLM vs GloVe on the STS-B test sentences 0.25, with CKA 0.45.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pandas as pd

from ..errors import InvalidInputError
from ..geometry._checks import as_embeddings, serial_lapack, subsample

log = logging.getLogger(__name__)

__all__ = [
    "DEFAULT_TEXTS",
    "compare_spaces",
    "knn_overlap",
    "layer_cka",
    "linear_cka",
    "procrustes_residual",
    "relative_similarity",
    "space_of",
]

#: texts compared when none are given: the distinct STS-B test sentences
DEFAULT_TEXTS = "stsb-test"
#: the relreps demo's anchor count (lucmos/relreps, experiments/demo/relreps_demo.ipynb)
DEFAULT_ANCHORS = 300


def _pair(X: Any, Y: Any, min_rows: int = 2) -> tuple[np.ndarray, np.ndarray]:
    """Both spaces as float64, checked: finite, 2-D, same number of rows, not constant."""
    X = as_embeddings(X, what="embeddings a", min_rows=1)
    Y = as_embeddings(Y, what="embeddings b", min_rows=1)
    if len(X) != len(Y):
        raise InvalidInputError(
            f"the two spaces must embed the same texts row for row: a has {len(X)} rows, "
            f"b has {len(Y)}"
        )
    if len(X) < min_rows:
        raise InvalidInputError(f"need at least {min_rows} texts to compare spaces, got {len(X)}")
    return X, Y


def _centred(X: np.ndarray) -> np.ndarray:
    return X - X.mean(axis=0, keepdims=True)


def _hsic_terms(X: np.ndarray, Y: np.ndarray, debiased: bool) -> float:
    """The (scaled) linear HSIC of centred ``X`` and ``Y``, biased or unbiased.

    Biased: ``tr(K H L H) = ||Y^T X||_F^2``. Unbiased (Song et al. 2012, eq. 5, up to the
    factor ``1 / (n (n - 3))`` that cancels in CKA): with ``K~ = K - diag(K)``,
    ``tr(K~ L~) + 1'K~1 1'L~1 / ((n-1)(n-2)) - 2/(n-2) 1'K~L~1``. For centred features
    ``K 1 = 0``, so ``K~ 1 = -diag(K)``, ``1'K~1 = -||X||_F^2`` and
    ``1'K~L~1 = sum_i K_ii L_ii``, which gives the feature-space form used here:
    ``||Y^T X||^2 - n/(n-2) sum_i K_ii L_ii + ||X||^2 ||Y||^2 / ((n-1)(n-2))``.
    """
    xty = float(np.linalg.norm(X.T @ Y) ** 2)
    if not debiased:
        return xty
    n = X.shape[0]
    kx, ky = np.einsum("ij,ij->i", X, X), np.einsum("ij,ij->i", Y, Y)
    return xty - n / (n - 2.0) * float(kx @ ky) + float(kx.sum() * ky.sum()) / ((n - 1) * (n - 2))


def _self_hsic(X: np.ndarray, debiased: bool) -> float:
    """HSIC(X, X), via the d x d Gram of the features (``||X^T X||_F^2``)."""
    xx = float(np.linalg.norm(X.T @ X) ** 2)
    if not debiased:
        return xx
    n = X.shape[0]
    k = np.einsum("ij,ij->i", X, X)
    return xx - n / (n - 2.0) * float(k @ k) + float(k.sum()) ** 2 / ((n - 1) * (n - 2))


def linear_cka(X: Any, Y: Any, debiased: bool = False) -> float:
    """Linear CKA of two embeddings of the same texts (see the module docstring).

    ``debiased=True`` needs at least 4 texts (the unbiased HSIC divides by ``n - 3``).
    """
    X, Y = _pair(X, Y, min_rows=4 if debiased else 2)
    X, Y = _centred(X), _centred(Y)
    with serial_lapack():
        hxy = _hsic_terms(X, Y, debiased)
        hxx, hyy = _self_hsic(X, debiased), _self_hsic(Y, debiased)
    if hxx <= 0 or hyy <= 0:
        raise InvalidInputError(
            "CKA is undefined: one space has no variance across the texts "
            + ("(or too little for the unbiased estimator)" if debiased else "")
        )
    return float(hxy / np.sqrt(hxx * hyy))


def _unit_rows(X: np.ndarray, what: str) -> np.ndarray:
    norms = np.linalg.norm(X, axis=1, keepdims=True)
    zero = np.flatnonzero(norms[:, 0] == 0)
    if len(zero):
        raise InvalidInputError(
            f"{what} has {len(zero)} all-zero rows (first at row {zero[0]}): their cosine is "
            "undefined; drop those texts"
        )
    return X / norms


def _knn(X: np.ndarray, k: int, block: int = 1024) -> np.ndarray:
    """Indices of each row's ``k`` most cosine-similar other rows (ties: lower index first)."""
    U = _unit_rows(X, "a space")
    n = len(U)
    out = np.empty((n, k), dtype=np.int64)
    for start in range(0, n, block):  # blocks keep memory at block x n, not n x n
        stop = min(n, start + block)
        sims = U[start:stop] @ U.T
        sims[np.arange(stop - start), np.arange(start, stop)] = -np.inf  # never itself
        # a stable sort on -sims: equal cosines (duplicate texts) break ties the same way
        # in both spaces, so a rotated copy gives overlap exactly 1
        part = np.argpartition(-sims, k, axis=1)[:, : k + 1]
        for r in range(stop - start):
            cand = part[r]
            order = np.lexsort((cand, -sims[r, cand]))
            out[start + r] = cand[order][:k]
    return out


def _check_k(k: Any, n: int) -> int:
    if isinstance(k, bool) or not isinstance(k, int | np.integer) or k < 1:
        raise InvalidInputError(f"k must be a whole number of neighbours >= 1, got {k!r}")
    if k >= n:
        raise InvalidInputError(
            f"k={k} neighbours needs more than {k} texts (each text's neighbours are the "
            f"others), got {n}; choose k <= {n - 1}"
        )
    return int(k)


def knn_overlap(X: Any, Y: Any, k: int = 10) -> float:
    """Mean share of each text's ``k`` cosine nearest neighbours common to both spaces."""
    X, Y = _pair(X, Y)
    k = _check_k(k, len(X))
    with serial_lapack():
        na, nb = _knn(X, k), _knn(Y, k)
    na.sort(axis=1)
    nb.sort(axis=1)
    common = [len(np.intersect1d(a, b, assume_unique=True)) for a, b in zip(na, nb, strict=True)]
    return float(np.mean(common) / k)


def _standardised(X: np.ndarray, width: int, what: str) -> np.ndarray:
    Xc = _centred(X)
    norm = np.linalg.norm(Xc)
    if norm == 0:
        raise InvalidInputError(f"{what} has no variance across the texts: nothing to align")
    Xc = Xc / norm
    if Xc.shape[1] < width:  # a semi-orthogonal map from the narrower space
        Xc = np.hstack([Xc, np.zeros((len(Xc), width - Xc.shape[1]))])
    return Xc


def procrustes_residual(X: Any, Y: Any) -> float:
    """``||X R - Y||_F^2`` for the best orthogonal ``R``, after centring both spaces and
    scaling each to unit Frobenius norm (see the module docstring): 0 to 2, 0 = the same
    space up to rotation, reflection, shift and scale."""
    from scipy.linalg import orthogonal_procrustes

    X, Y = _pair(X, Y)
    width = max(X.shape[1], Y.shape[1])
    A, B = _standardised(X, width, "space a"), _standardised(Y, width, "space b")
    with serial_lapack():
        R, _ = orthogonal_procrustes(A, B)
    # A R - B has squared norm 2 - 2 * nuclear norm of A^T B; floating error can make a
    # perfect match come out as -1e-16: clip at 0
    return float(max(0.0, np.linalg.norm(A @ R - B) ** 2))


def _anchors(n: int, n_anchors: int | None, anchors: Sequence[int] | None, seed: int) -> np.ndarray:
    if anchors is not None:
        idx = np.asarray(anchors)
        if idx.ndim != 1 or len(idx) == 0 or not np.issubdtype(idx.dtype, np.integer):
            raise InvalidInputError("anchors must be a non-empty list of row indices")
        if idx.min() < -n or idx.max() >= n:
            raise InvalidInputError(f"anchor rows must lie in 0..{n - 1}")
        return idx % n
    m = DEFAULT_ANCHORS if n_anchors is None else n_anchors
    if isinstance(m, bool) or not isinstance(m, int | np.integer) or m < 1:
        raise InvalidInputError(f"n_anchors must be a whole number >= 1, got {n_anchors!r}")
    return subsample(n, min(int(m), n), seed)


def relative_similarity(
    X: Any,
    Y: Any,
    n_anchors: int | None = None,
    anchors: Sequence[int] | None = None,
    seed: int = 0,
) -> float:
    """Mean cosine between each text's relative representations in the two spaces
    (Moschella et al. 2023): its cosines to the same anchor texts, ``n_anchors`` rows drawn
    with ``seed`` (default 300, or all rows when fewer) or the rows ``anchors``.

    As in the authors' demo (lucmos/relreps, ``experiments/demo/relreps_demo.ipynb``), the
    mean runs over every text, anchors included.
    """
    X, Y = _pair(X, Y)
    idx = _anchors(len(X), n_anchors, anchors, seed)
    Ux, Uy = _unit_rows(X, "space a"), _unit_rows(Y, "space b")
    Rx, Ry = Ux @ Ux[idx].T, Uy @ Uy[idx].T
    nx, ny = np.linalg.norm(Rx, axis=1), np.linalg.norm(Ry, axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        cos = np.einsum("ij,ij->i", Rx, Ry) / (nx * ny)
    if not np.isfinite(cos).all():
        raise InvalidInputError(
            "a text is orthogonal to every anchor in one space: its relative vector is zero; "
            "use more anchors"
        )
    return float(cos.mean())


# ---------------------------------------------------------------------------- encoders


def _is_array(x: Any) -> bool:
    return (
        isinstance(x, np.ndarray)
        or hasattr(x, "detach")
        or (
            isinstance(x, list | tuple)
            and len(x) > 0
            and isinstance(x[0], list | tuple | np.ndarray)
        )
    )


def _label(spec: Any, default: str) -> str:
    if isinstance(spec, str | os.PathLike):
        return str(spec)
    describe = getattr(spec, "describe", None)
    return describe() if callable(describe) else default


def space_of(
    spec: Any,
    texts: Sequence[str],
    transform: Sequence[str] | str | Callable[[np.ndarray], np.ndarray] | None = None,
    fit_on: str | None = None,
    data_dir: str | os.PathLike | None = None,
    cache: bool | str = True,
    protocol: Any = None,
) -> np.ndarray:
    """Embeddings of ``texts`` under ``spec`` (an encoder, or anything
    :func:`~workbench.load_encoder` takes), with ``transform`` applied: spec strings as
    ``workbench sts --transform`` takes them (fitted on ``fit_on``, default STS-B train, in
    the text form of ``protocol``) or a fitted callable."""
    from ..encoders import load_encoder

    enc = load_encoder(spec)
    emb = enc.encode(list(texts), cache=cache)
    if transform is None:
        return emb
    if not callable(transform):
        from ..geometry.transforms import from_specs

        transform = from_specs(
            transform, encoder=enc, fit_on=fit_on, data_dir=data_dir, cache=cache, protocol=protocol
        )
    out = np.asarray(transform(emb))
    if out.ndim != 2 or len(out) != len(emb):
        raise InvalidInputError(f"transform returned shape {out.shape} for {len(emb)} embeddings")
    return out


def _texts(texts: Any, data_dir, max_texts: int | None, seed: int) -> list[str]:
    from ..geometry.corpora import load_texts

    if texts is None or isinstance(texts, str):
        return load_texts(texts or DEFAULT_TEXTS, data_dir=data_dir, max_n=max_texts, seed=seed)
    out = list(texts)
    if max_texts is not None and len(out) > max_texts:
        out = [out[i] for i in subsample(len(out), max_texts, seed)]
    return out


def compare_spaces(
    a: Any,
    b: Any,
    k: int = 10,
    texts: Sequence[str] | str | None = None,
    transform_a: Any = None,
    transform_b: Any = None,
    n_anchors: int | None = None,
    max_texts: int | None = None,
    seed: int = 0,
    fit_on: str | None = None,
    data_dir: str | os.PathLike | None = None,
    cache: bool | str = True,
    label_a: str | None = None,
    label_b: str | None = None,
) -> dict[str, Any]:
    """All four measures between two embeddings of the same texts, as one record.

    ``a`` and ``b`` are ``(n, d)`` arrays (row ``i`` of both embeds the same text), or
    encoders / names (``load_encoder(name, layer=3)`` for a layer) that embed ``texts``: a
    list, or a corpus name of :func:`workbench.geometry.corpora.load_texts` (default
    ``stsb-test``), at most ``max_texts`` drawn with ``seed``. ``transform_a``/``_b`` are
    transform specs (``["whiten:zca"]``, fitted on ``fit_on``) or fitted callables.

    Returns ``a``, ``b``, ``n``, ``dim_a``, ``dim_b``, ``cka``, ``cka_debiased``, ``k``,
    ``knn_overlap``, ``procrustes``, ``n_anchors``, ``relative`` and ``texts``.
    """
    arrays = _is_array(a), _is_array(b)
    corpus = None
    if all(arrays):
        if texts is not None and not isinstance(texts, str) and len(list(texts)) != len(a):
            raise InvalidInputError(f"{len(list(texts))} texts given for {len(a)} rows")
        X, Y = np.asarray(a), np.asarray(b)
        if max_texts is not None:
            X, Y = _pair(X, Y, min_rows=1)
            keep = subsample(len(X), max_texts, seed)
            X, Y = X[keep], Y[keep]
        for tf, which in ((transform_a, "a"), (transform_b, "b")):
            if tf is not None and not callable(tf):
                raise InvalidInputError(
                    f"transform_{which} as specs needs an encoder to fit on its reference "
                    "corpus; pass a fitted callable for arrays"
                )
        X = X if transform_a is None else np.asarray(transform_a(X))
        Y = Y if transform_b is None else np.asarray(transform_b(Y))
    else:
        if any(arrays):
            raise InvalidInputError(
                "give two arrays or two encoders (an array and an encoder cannot be matched "
                "row for row)"
            )
        corpus = texts if isinstance(texts, str) else (DEFAULT_TEXTS if texts is None else "given")
        tx = _texts(texts, data_dir, max_texts, seed)
        kw = dict(fit_on=fit_on, data_dir=data_dir, cache=cache)
        X = space_of(a, tx, transform_a, **kw)
        Y = space_of(b, tx, transform_b, **kw)
    X, Y = _pair(X, Y, min_rows=4)
    k = _check_k(k, len(X))
    idx = _anchors(len(X), n_anchors, None, seed)
    rec: dict[str, Any] = {
        "a": label_a or _label(a, "a"),
        "b": label_b or _label(b, "b"),
        "n": len(X),
        "dim_a": X.shape[1],
        "dim_b": Y.shape[1],
        "cka": linear_cka(X, Y),
        "cka_debiased": linear_cka(X, Y, debiased=True),
        "k": k,
        "knn_overlap": knn_overlap(X, Y, k),
        "procrustes": procrustes_residual(X, Y),
        "n_anchors": len(idx),
        "relative": relative_similarity(X, Y, anchors=idx),
    }
    if corpus is not None:
        rec["texts"] = corpus
    for key, tf in (("transform_a", transform_a), ("transform_b", transform_b)):
        if tf is None:
            continue
        rec[key] = repr(tf) if callable(tf) else " -> ".join([tf] if isinstance(tf, str) else tf)
    return rec


# ---------------------------------------------------------------------------- layers


def _cka_matrix(
    A: dict[Any, np.ndarray], B: dict[Any, np.ndarray], debiased: bool, same: bool
) -> list[tuple[Any, Any, float]]:
    """CKA of every layer of ``A`` with every layer of ``B``; the centred spaces and their
    self-HSICs are computed once per layer (``same``: the symmetric half only)."""
    ca = {key: _centred(as_embeddings(v, what=f"layer {key}")) for key, v in A.items()}
    cb = (
        ca
        if same
        else {key: _centred(as_embeddings(v, what=f"layer {key}")) for key, v in B.items()}
    )
    with serial_lapack():
        sa = {key: _self_hsic(v, debiased) for key, v in ca.items()}
        sb = sa if same else {key: _self_hsic(v, debiased) for key, v in cb.items()}
        rows, done = [], {}
        for la, xa in ca.items():
            for lb, xb in cb.items():
                if same and (lb, la) in done:
                    value = done[(lb, la)]
                elif same and la == lb:
                    value = 1.0
                else:
                    value = _hsic_terms(xa, xb, debiased) / np.sqrt(sa[la] * sb[lb])
                done[(la, lb)] = value
                rows.append((la, lb, float(value)))
    return rows


def layer_cka(
    enc_a: Any,
    enc_b: Any = None,
    texts: Sequence[str] | str | None = None,
    layers_a: Sequence[int] | str | None = None,
    layers_b: Sequence[int] | str | None = None,
    debiased: bool = False,
    max_texts: int | None = 2000,
    seed: int = 0,
    data_dir: str | os.PathLike | None = None,
    cache: bool | str = True,
) -> pd.DataFrame:
    """Linear CKA between every layer of ``enc_a`` and every layer of ``enc_b`` (default:
    ``enc_a`` itself) on the same texts (corpus name or list; default ``stsb-test``, at most
    ``max_texts``). Layers are ``all`` (0 = embeddings) or a list; one forward pass per
    encoder gives every layer (:func:`workbench.geometry.layers.encode_layers`, cached).

    Returns a tidy frame: ``encoder_a``, ``layer_a``, ``encoder_b``, ``layer_b``, ``cka``,
    ``debiased``, ``n``; ``attrs['texts']`` names the texts.
    """
    from ..geometry.layers import encode_layers

    tx = _texts(texts, data_dir, max_texts, seed)
    if len(tx) < 4:
        raise InvalidInputError(f"need at least 4 texts for layer CKA, got {len(tx)}")
    A = encode_layers(enc_a, tx, layers_a, cache=cache)
    same = enc_b is None and layers_b is None
    B = (
        A
        if same
        else encode_layers(enc_b if enc_b is not None else enc_a, tx, layers_b, cache=cache)
    )
    name_a = _label(enc_a, "a")
    name_b = name_a if enc_b is None else _label(enc_b, "b")
    rows = _cka_matrix(A, B, debiased, same)
    df = pd.DataFrame(
        [
            {
                "encoder_a": name_a,
                "layer_a": la,
                "encoder_b": name_b,
                "layer_b": lb,
                "cka": v,
                "debiased": debiased,
                "n": len(tx),
            }
            for la, lb, v in rows
        ]
    )
    df.attrs["texts"] = (
        texts if isinstance(texts, str) else (DEFAULT_TEXTS if texts is None else "given")
    )
    return df
