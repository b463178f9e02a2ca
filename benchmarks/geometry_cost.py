"""Cost of the geometry measure suite, and of intrinsic dimension against scikit-dimension.

One run, on one ``n x 384`` matrix (default 20,000 distinct rows): the embeddings of STS,
SICK and SNLI sentences by the packaged all-MiniLM-L6-v2 when available (encoded once, then
read from the embedding cache), else a synthetic low-rank-plus-noise matrix
(``--synthetic``).

1. ``workbench.geometry.measure(X)``: IsoScore, average cosine, partition isotropy,
   effective rank, uniformity (5,000-row sample), TwoNN, MLE, lPCA.
2. Intrinsic dimension only: ``workbench.geometry.intrinsic_dimension(X)`` (one shared exact
   kNN search for TwoNN and MLE) against ``skdim.id.TwoNN().fit(X)``, ``skdim.id.MLE().fit(X)``
   and ``skdim.id.lPCA().fit(X)`` called directly on the same (de-duplicated) rows; the
   estimates must agree, and the ratio of wall times is printed.

Usage::

    python benchmarks/geometry_cost.py [--n 20000] [--synthetic] [--repeat 3] [--json]

Timings are medians of ``--repeat`` runs: on a small shared machine single runs vary by up
to 3x.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
import warnings

import numpy as np


def _data(n: int, synthetic: bool, seed: int = 0) -> tuple[np.ndarray, str]:
    if not synthetic:
        try:
            from workbench import list_encoders, load_encoder
            from workbench.geometry import dedupe_rows, load_texts

            if any(r["name"] == "all-MiniLM-L6-v2" and r["installed"] for r in list_encoders()):
                # distinct strings can still embed identically (the tokenizer lower-cases),
                # so take more texts and keep the first n distinct rows
                corpus = "sts-all+stsb-train+sick-train+snli-dev"
                texts = load_texts(corpus, max_n=int(n * 1.3), seed=seed)
                X, _ = dedupe_rows(load_encoder("all-MiniLM-L6-v2").encode(texts))
                if len(X) >= n:
                    return X[:n], f"all-MiniLM-L6-v2 on {n} distinct sentences of {corpus}"
        except Exception as e:  # no data or model: fall back to synthetic data
            print(f"(real embeddings unavailable: {e}; using synthetic data)")
    rng = np.random.default_rng(seed)
    Z = rng.standard_normal((n, 24))
    X = np.tanh(Z @ rng.standard_normal((24, 384)) / 4) + 0.02 * rng.standard_normal((n, 384))
    return X.astype(np.float32), f"synthetic {n} x 384 (24-d manifold + noise)"


def _time(fn, repeat: int = 1):
    """(result, median seconds, all seconds) of ``repeat`` calls: on a shared machine single
    timings swing by 3x, the median of a few is steadier."""
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return out, float(np.median(times)), times


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=20_000)
    ap.add_argument("--synthetic", action="store_true", help="synthetic data, no model")
    ap.add_argument("--repeat", type=int, default=3, help="timed runs of each step (median)")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()

    import skdim

    from workbench.geometry import dedupe_rows, intrinsic_dimension, measure

    X, source = _data(args.n, args.synthetic)
    X = np.asarray(X, dtype=np.float64)
    Xu, n_dup = dedupe_rows(X)

    r = args.repeat
    suite, t_suite, all_suite = _time(lambda: measure(X, max_n=None), r)
    ours, t_ours, all_ours = _time(lambda: intrinsic_dimension(Xu, max_n=None, dedupe=False), r)
    ours = ours.set_index("method")["estimate"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sk, t_sk, all_sk = {}, {}, {}
        for name, est in (
            ("twonn", skdim.id.TwoNN),
            ("mle", skdim.id.MLE),
            ("lpca", skdim.id.lPCA),
        ):
            sk[name], t_sk[name], all_sk[name] = _time(
                lambda est=est: float(est().fit(Xu).dimension_), r
            )
    t_sk_total = sum(t_sk.values())
    agree = {m: bool(np.isclose(ours[m], sk[m], rtol=1e-6)) for m in sk}
    result = {
        "data": source,
        "n": int(X.shape[0]),
        "dim": int(X.shape[1]),
        "n_duplicates": int(n_dup),
        "repeat": r,
        "suite_seconds": round(t_suite, 2),
        "suite_seconds_all": [round(t, 2) for t in all_suite],
        "suite": {k: (round(v, 4) if isinstance(v, float) else v) for k, v in suite.items()},
        "id_workbench_seconds": round(t_ours, 2),
        "id_workbench_seconds_all": [round(t, 2) for t in all_ours],
        "id_skdim_seconds": {k: round(v, 2) for k, v in t_sk.items()},
        "id_skdim_seconds_all": {k: [round(t, 2) for t in v] for k, v in all_sk.items()},
        "id_skdim_total_seconds": round(t_sk_total, 2),
        "speedup_vs_skdim": round(t_sk_total / t_ours, 2),
        "estimates_workbench": {k: round(float(v), 4) for k, v in ours.items()},
        "estimates_skdim": {k: round(v, 4) for k, v in sk.items()},
        "estimates_agree": agree,
        "machine": f"{platform.machine()}, {os.cpu_count()} cpus, numpy {np.__version__}, "
        f"scikit-dimension {getattr(skdim, '__version__', '?')}",
    }
    if args.json:
        print(json.dumps(result))
        return
    print(f"data: {source}  ({result['n']} x {result['dim']}, {n_dup} duplicate rows)")
    print(f"(medians of {r} runs)")
    print(
        f"full measure suite: {t_suite:.1f} s  (runs: {', '.join(f'{t:.1f}' for t in all_suite)})"
    )
    print(f"workbench ID runs: {', '.join(f'{t:.1f}' for t in all_ours)} s")
    print(
        f"intrinsic dimension (TwoNN+MLE+lPCA): workbench {t_ours:.1f} s, scikit-dimension "
        f"{t_sk_total:.1f} s ({', '.join(f'{k} {v:.1f} s' for k, v in t_sk.items())}); "
        f"ratio {t_sk_total / t_ours:.2f}x"
    )
    for m in sk:
        print(f"  {m:6s} workbench {ours[m]:.4f}  skdim {sk[m]:.4f}  agree={agree[m]}")
    print(result["machine"])


if __name__ == "__main__":
    main()
