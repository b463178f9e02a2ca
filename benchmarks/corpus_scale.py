"""The corpus-scale path on the whole shared corpus: encoding, geometry, streaming whitening.

Every step runs in its own process, so its wall time and peak RSS are its own (``wait4``'s
``ru_maxrss``: the largest single process of the step's process tree; ``workbench embed``
also records each rank's own peak in the manifest):

1. ``workbench embed --encoder ENC --texts all`` in one process;
2. the same under ``torchrun --standalone --nproc_per_node 2`` (gloo on the CPU), and the
   largest difference between the two runs' vectors (streamed shard by shard);
3. ``workbench.geometry.measure`` (the geometry suite) on the full matrix
   (``--geometry-max-n`` to cap the rows of its O(n^2) nearest-neighbour estimators);
4. whitening fitted by one streaming pass (float64 moments, O(dim^2) memory) and in memory on
   the whole matrix, for zca, pca and cholesky: the largest difference of the transformed
   corpus (PCA output columns sign-aligned: eigenvectors have no sign);
5. intrinsic dimension (TwoNN, MLE) on ``--id-subsamples`` random subsamples of ``--id-m``
   rows, with intervals.

Usage::

    nice -n 10 python benchmarks/corpus_scale.py --encoder glove-6b-50d
    nice -n 10 python benchmarks/corpus_scale.py --encoder all-MiniLM-L6-v2 --limit 5000

``--limit N`` takes a reproducible random subset of N sentences (for encoders too slow for
the whole corpus on the machine at hand). ``--json FILE`` writes every figure.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve()


def _run(cmd: list[str], env: dict | None = None) -> dict:
    """Run ``cmd``; its wall seconds, the peak RSS (MiB) of its largest process, its stdout."""
    with tempfile.TemporaryFile("w+") as fo, tempfile.TemporaryFile("w+") as fe:
        t0 = time.perf_counter()
        p = subprocess.Popen(cmd, stdout=fo, stderr=fe, text=True, env=env)
        _, status, ru = os.wait4(p.pid, 0)  # this child's own rusage (Popen.wait would reap it)
        p.returncode = code = os.waitstatus_to_exitcode(status)
        wall = time.perf_counter() - t0
        fo.seek(0)
        fe.seek(0)
        out, err = fo.read(), fe.read()
    if code != 0:
        sys.exit(f"step failed ({code}): {' '.join(cmd)}\n{err[-4000:]}")
    return {"seconds": round(wall, 2), "peak_rss_mb": round(ru.ru_maxrss / 1024, 1), "out": out}


def _last_json(text: str) -> dict:
    return json.loads(text.strip().splitlines()[-1])


# -- steps run in a child process ------------------------------------------------------------
def step_geometry(store_dir: str, max_n: int | None) -> dict:
    from workbench.corpus import CorpusStore
    from workbench.geometry import measure

    store = CorpusStore(store_dir)
    t0 = time.perf_counter()
    X = store.matrix(np.float32)
    keep = X.any(axis=1)  # static encoders give all-zero rows to texts with no known word
    X = X[keep]
    res = measure(X, max_n=max_n)
    return {
        "seconds_in_process": round(time.perf_counter() - t0, 2),
        "rows": int(res["n"]),
        "zero_rows_dropped": int((~keep).sum()),
        **{k: res[k] for k in ("isoscore", "effective_rank", "id_twonn", "id_mle", "id_lpca")},
    }


METHODS = ("zca", "pca", "cholesky")


def step_whiten_stream(store_dir: str, out: str) -> dict:
    from workbench.corpus import CorpusStore, streaming_moments
    from workbench.geometry.whitening import Whitening

    store = CorpusStore(store_dir)
    t0 = time.perf_counter()
    m = streaming_moments(store)  # what fit_whitening(store, method) does, once for 3 methods
    t_moments = time.perf_counter() - t0
    fitted = {}
    for method in METHODS:
        w = Whitening.from_moments(m.mean, m.cov(), n=m.n, method=method)
        fitted[method] = w.whitening_matrix_
    np.savez(out, mean=m.mean, **fitted)
    return {
        "seconds_in_process": round(time.perf_counter() - t0, 2),
        "seconds_moments": round(t_moments, 2),
    }


def step_whiten_memory(store_dir: str, streamed: str) -> dict:
    from workbench.corpus import CorpusStore
    from workbench.geometry.whitening import Whitening

    store = CorpusStore(store_dir)
    t0 = time.perf_counter()
    X = store.matrix(np.float64)
    ref = np.load(streamed)
    worst: dict[str, float] = {}
    for method in METHODS:
        w = Whitening(method).fit(X)
        W_s = ref[method]
        diff = 0.0
        for a in range(0, len(X), 8192):  # the transformed corpus, a block at a time
            block = X[a : a + 8192]
            y_mem = (block - w.mean_) @ w.whitening_matrix_.T
            y_str = (block - ref["mean"]) @ W_s.T
            if method == "pca":
                y_str = y_str * np.sign((y_mem * y_str).sum(0))
            diff = max(diff, float(np.abs(y_mem - y_str).max()))
        worst[method] = diff
    return {"seconds_in_process": round(time.perf_counter() - t0, 2), "max_abs_diff": worst}


def step_id(store_dir: str, m: int, r: int) -> dict:
    from workbench.corpus import CorpusStore, subsample_id

    store = CorpusStore(store_dir)
    t0 = time.perf_counter()
    df = subsample_id(store, m=min(m, store.n), n_subsamples=r, methods=("twonn", "mle"))
    df = df.drop(columns="estimates").round(3)
    return {
        "seconds_in_process": round(time.perf_counter() - t0, 2),
        "table": df.to_dict(orient="records"),
    }


STEPS = {
    "geometry": step_geometry,
    "whiten-stream": step_whiten_stream,
    "whiten-memory": step_whiten_memory,
    "id": step_id,
}


def _child(step: str, *args) -> dict:
    res = _run([sys.executable, str(HERE), "--_step", step, *map(str, args)])
    return {**_last_json(res["out"]), "seconds": res["seconds"], "peak_rss_mb": res["peak_rss_mb"]}


def _max_diff(a_dir: Path, b_dir: Path) -> float:
    from workbench.corpus import CorpusStore

    a, b = CorpusStore(a_dir), CorpusStore(b_dir)
    if a.texts() != b.texts():
        raise SystemExit("the two runs hold different texts")
    worst = 0.0
    for (sa, xa), (sb, xb) in zip(a.iter_chunks(), b.iter_chunks()):
        assert sa == sb
        worst = max(worst, float(np.abs(np.asarray(xa, np.float64) - xb).max()))
    return worst


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--encoder", default="glove-6b-50d")
    ap.add_argument("--limit", type=int, help="a random subset of N sentences")
    ap.add_argument("--shard-size", type=int, default=8192)
    ap.add_argument("--batch-size", type=int)
    ap.add_argument("--geometry-max-n", type=int, help="rows for the geometry suite (all)")
    ap.add_argument("--id-m", type=int, default=5000)
    ap.add_argument("--id-subsamples", type=int, default=5)
    ap.add_argument("--workdir", help="where the stores go (default: a temporary folder)")
    ap.add_argument("--skip-torchrun", action="store_true")
    ap.add_argument("--json", help="write every figure to this file")
    ap.add_argument("--_step", nargs="+", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args._step:
        name, *rest = args._step
        conv = [None if x == "None" else int(x) if x.isdigit() else x for x in rest]
        print(json.dumps(STEPS[name](*conv)))
        return

    from workbench.corpus import corpus_texts

    t0 = time.perf_counter()
    texts = corpus_texts("all", limit=args.limit)
    n_all = len(corpus_texts("all")) if args.limit else len(texts)
    report: dict = {
        "encoder": args.encoder,
        "sentences_in_corpus": n_all,
        "sentences_encoded": len(texts),
        "limit": args.limit,
        "count_seconds": round(time.perf_counter() - t0, 2),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, {platform.python_version()}",
        "loadavg_at_start": os.getloadavg(),
    }
    del texts
    print(f"{report['sentences_encoded']} of {n_all} sentences, encoder {args.encoder}")
    work = Path(args.workdir or tempfile.mkdtemp(prefix="corpus-scale-"))
    work.mkdir(parents=True, exist_ok=True)
    base = ["-m", "workbench", "embed", "--encoder", args.encoder, "--texts", "all"]
    base += ["--shard-size", str(args.shard_size), "--no-progress", "--json", "--no-resume"]
    if args.limit:
        base += ["--limit", str(args.limit)]
    if args.batch_size:
        base += ["--batch-size", str(args.batch_size)]

    one = _run([sys.executable, *base, "--out", str(work / "one")])
    report["encode_1proc"] = {
        "seconds": one["seconds"],
        "peak_rss_mb": one["peak_rss_mb"],
        "runs": _last_json(one["out"])["runs"],
    }
    print("1 process:", report["encode_1proc"])
    if not args.skip_torchrun:
        tr = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node"]
        two = _run([*tr, "2", *base, "--out", str(work / "two")])
        report["encode_torchrun2"] = {
            "seconds": two["seconds"],
            "peak_rss_mb": two["peak_rss_mb"],
            "runs": _last_json(two["out"])["runs"],
            "max_abs_diff_vs_1proc": _max_diff(work / "one", work / "two"),
        }
        print("torchrun x2:", report["encode_torchrun2"])
        shutil.rmtree(work / "two")
    store = str(work / "one")
    report["geometry_suite"] = _child("geometry", store, args.geometry_max_n)
    print("geometry:", report["geometry_suite"])
    report["whitening_streaming"] = _child("whiten-stream", store, work / "stream.npz")
    report["whitening_in_memory"] = _child("whiten-memory", store, work / "stream.npz")
    print("whitening:", report["whitening_streaming"], report["whitening_in_memory"])
    report["intrinsic_dimension"] = _child("id", store, args.id_m, args.id_subsamples)
    print("ID:", report["intrinsic_dimension"])
    report["peak_rss_mb_max"] = max(
        v["peak_rss_mb"] for v in report.values() if isinstance(v, dict) and "peak_rss_mb" in v
    )
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=1, default=float) + "\n")
    if not args.workdir:
        shutil.rmtree(work)
    print(json.dumps(report, indent=1, default=float))


if __name__ == "__main__":
    main()
