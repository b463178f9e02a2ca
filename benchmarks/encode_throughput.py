"""Encoding throughput: the workbench against sentence-transformers, same model, same run.

Both encode the same texts (every sentence of the STS-B test set, duplicates included, as an
evaluation would) with the same model, device, batch size and float32 weights. Runs alternate
(A B A B ...) so that load from other processes hits both alike; the median is reported.

Also measured: a cached rerun, both in the same process and as a restarted kernel would see
it (a fresh cache object reading the files from disk).

Then the ONNX Runtime paths, timed in turn in the same repeats on the same texts (the distinct
STS-B test sentences, so no path gains from de-duplication): the workbench on torch, on ONNX
float32 and on ONNX int8 (``load_encoder(..., backend=...)``), sentence-transformers on torch,
and sentence-transformers' own ``backend="onnx"``, float32 and int8 (its
``export_dynamic_quantized_onnx_model(model, "avx2")``). Each path's STS-B test Spearman
comes from encoding the STS-B test pairs as the ``simcse`` protocol reads them (SentEval's
tokenised file, cosine, x100). ``--no-onnx`` skips this part.

sentence-transformers' ONNX backend needs ``optimum-onnx``, whose only release (0.1.0) requires
``transformers<4.58``; sentence-transformers 6 requires transformers 5. So that path runs in a
worker process on an overlay of the older stack (``--st-onnx-path``, default
``$WB_ST_ONNX_PATH``), put first on its ``PYTHONPATH`` over this environment's torch, numpy and
onnxruntime; where ``optimum.onnxruntime`` imports here, no overlay is needed. Build it with

    pip install --no-deps --target /tmp/wb-st-onnx sentence-transformers==5.7.0 \
        transformers==4.57.6 tokenizers==0.22.2 huggingface_hub==0.36.2 optimum==2.1.0 \
        optimum-onnx==0.1.0 datasets==4.4.1

    python benchmarks/encode_throughput.py [--repeats 3] [--batch-size 64] [--json]
        [--no-onnx] [--st-onnx-path /tmp/wb-st-onnx]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

import workbench as wb
from workbench import embed
from workbench.datasets import load_sts
from workbench.encoders.registry import _minilm_path


def _time(fn) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--no-onnx", action="store_true", help="skip the ONNX Runtime comparison")
    ap.add_argument(
        "--st-onnx-path",
        default=os.environ.get("WB_ST_ONNX_PATH"),
        help="a folder put first on PYTHONPATH for sentence-transformers' ONNX backend",
    )
    ap.add_argument("--st-onnx-worker", nargs=2, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.st_onnx_worker:
        return _st_onnx_worker(*args.st_onnx_worker)

    from sentence_transformers import SentenceTransformer

    df = load_sts("STSBenchmark", split="test")
    texts = list(df["sentence1"]) + list(df["sentence2"])
    n_unique = len(set(texts))
    path = _minilm_path()
    ours = wb.load_encoder("all-MiniLM-L6-v2", device=args.device)
    theirs = SentenceTransformer(str(path), device=args.device)
    bs = args.batch_size

    def run_ours(t=texts):
        return ours.encode(t, batch_size=bs, cache=False, show_progress=False)

    def run_theirs(t=texts):
        return theirs.encode(t, batch_size=bs, show_progress_bar=False)

    run_ours(texts[:128])  # warm-up: allocator, thread pools
    run_theirs(texts[:128])
    uniq = list(dict.fromkeys(texts))
    t_ours, t_theirs, t_ours_u, t_theirs_u = [], [], [], []
    for _ in range(args.repeats):
        t_ours.append(_time(run_ours))
        t_theirs.append(_time(run_theirs))
        t_ours_u.append(_time(lambda: run_ours(uniq)))
        t_theirs_u.append(_time(lambda: run_theirs(uniq)))
    diff = np.abs(run_ours() - run_theirs()).max()

    with tempfile.TemporaryDirectory() as cache:
        cold = _time(lambda: ours.encode(texts, batch_size=bs, cache=cache, show_progress=False))
        warm = min(_time(lambda: ours.encode(texts, batch_size=bs, cache=cache)) for _ in range(3))
        embed._CACHES.clear()  # as after a kernel restart: read the shards from disk
        restart = _time(lambda: ours.encode(texts, batch_size=bs, cache=cache))

    med = statistics.median
    res = {
        "model": "all-MiniLM-L6-v2",
        "device": args.device,
        "threads": torch.get_num_threads(),
        "batch_size": bs,
        "texts": len(texts),
        "unique_texts": n_unique,
        "workbench_sent_per_s": len(texts) / med(t_ours),
        "sentence_transformers_sent_per_s": len(texts) / med(t_theirs),
        "ratio": med(t_theirs) / med(t_ours),
        "unique_only_workbench_sent_per_s": len(uniq) / med(t_ours_u),
        "unique_only_sentence_transformers_sent_per_s": len(uniq) / med(t_theirs_u),
        "unique_only_ratio": med(t_theirs_u) / med(t_ours_u),
        "max_abs_difference": float(diff),
        "cold_cache_s": cold,
        "warm_cache_s": warm,
        "warm_speedup": cold / warm,
        "restart_cache_s": restart,
        "restart_speedup": cold / restart,
    }
    if not args.no_onnx:
        res["onnx"] = _onnx_comparison(args, ours, theirs, uniq)
    if args.json:
        print(json.dumps(res))
        return
    print(
        f"all-MiniLM-L6-v2 on {args.device} ({res['threads']} threads), batch {bs}, "
        f"{len(texts)} STS-B test sentences ({n_unique} distinct), median of {args.repeats}"
    )
    print(f"  workbench             {res['workbench_sent_per_s']:8.1f} sentences/s")
    print(f"  sentence-transformers {res['sentence_transformers_sent_per_s']:8.1f} sentences/s")
    print(f"  ratio (workbench / sentence-transformers): {res['ratio']:.2f}x")
    print(
        f"  distinct sentences only (no de-duplication benefit): "
        f"{res['unique_only_workbench_sent_per_s']:.1f} vs "
        f"{res['unique_only_sentence_transformers_sent_per_s']:.1f} sentences/s, "
        f"ratio {res['unique_only_ratio']:.2f}x"
    )
    print(f"  max |difference| between the two embeddings: {diff:.2e}")
    print(
        f"  cache: cold {cold:.2f} s, warm rerun {warm * 1000:.1f} ms "
        f"({res['warm_speedup']:.0f}x), after a restart {restart * 1000:.1f} ms "
        f"({res['restart_speedup']:.0f}x)"
    )
    if "onnx" in res:
        _print_onnx(res["onnx"], args.device)


# -- ONNX Runtime paths ---------------------------------------------------------------------


def _stsb_pairs():
    """STS-B test as the simcse protocol reads it, and its distinct sentences."""
    from workbench.evaluation.sts import load_pairs

    pairs = load_pairs("STSBenchmark", protocol="simcse")
    sents = list(dict.fromkeys(list(pairs["sentence1"]) + list(pairs["sentence2"])))
    return pairs, sents


def _spearman(pairs, sents, vectors: np.ndarray) -> float:
    """STS-B test Spearman x100 (simcse: cosine, 'all') of one path's vectors of ``sents``."""
    from workbench.evaluation import stats
    from workbench.evaluation.sts import score

    row = {s: i for i, s in enumerate(sents)}
    a = vectors[[row[s] for s in pairs["sentence1"]]]
    b = vectors[[row[s] for s in pairs["sentence2"]]]
    pred = pairs.assign(pred=stats.pair_scores(a, b, "cosine"))
    res = score(pred, n_boot=0)
    return float(res.loc[res["level"] == "all", "spearman"].iloc[0])


class _Worker:
    """sentence-transformers' ONNX backend in another process (its own library stack):
    one JSON line per request, each timed inside the worker."""

    def __init__(self, overlay: str | None, texts_file: Path, model: Path, device: str) -> None:
        env = dict(os.environ)
        if overlay:
            env["PYTHONPATH"] = os.pathsep.join([overlay, env.get("PYTHONPATH", "")]).rstrip(
                os.pathsep
            )
        self.proc = subprocess.Popen(
            [sys.executable, __file__, "--st-onnx-worker", str(texts_file), str(model)]
            + ["--device", device],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=env,
            text=True,
        )
        self.info = self.ask({"op": "info"})

    def ask(self, req: dict) -> dict:
        self.proc.stdin.write(json.dumps(req) + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"the sentence-transformers ONNX worker exited ({req['op']})")
        out = json.loads(line)
        if "error" in out:
            raise RuntimeError(out["error"])
        return out

    def close(self) -> None:
        with contextlib.suppress(RuntimeError, BrokenPipeError):
            self.ask({"op": "quit"})
        self.proc.wait(timeout=60)


def _st_onnx_worker(texts_file: str, model: str) -> None:
    """The worker's loop (run under the overlay's sentence-transformers, transformers 4)."""
    proto = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)  # library chatter goes to stderr, never into the protocol
    sys.stdout = sys.stderr

    def reply(obj: dict) -> None:
        proto.write(json.dumps(obj) + "\n")
        proto.flush()

    try:
        import onnxruntime as ort
        import sentence_transformers
        import transformers
        from sentence_transformers import SentenceTransformer, export_dynamic_quantized_onnx_model
    except Exception as e:  # noqa: BLE001 - reported to the parent, which says why it is absent
        reply({"error": f"{type(e).__name__}: {str(e).splitlines()[0]}"})
        return
    texts = json.loads(Path(texts_file).read_text())
    device = sys.argv[sys.argv.index("--device") + 1] if "--device" in sys.argv else "cpu"
    provider = "CUDAExecutionProvider" if device.startswith("cuda") else "CPUExecutionProvider"
    kw = {"provider": provider}
    tmp = tempfile.mkdtemp(prefix="wb-st-onnx-")
    try:
        t = time.perf_counter()
        fp32 = SentenceTransformer(model, backend="onnx", device=device, model_kwargs=kw)
        export_s = time.perf_counter() - t
        fp32.save_pretrained(tmp)  # the export, so that int8 quantises this very graph
        t = time.perf_counter()
        export_dynamic_quantized_onnx_model(fp32, "avx2", tmp)
        quant_s = time.perf_counter() - t
        int8 = SentenceTransformer(
            tmp,
            backend="onnx",
            device=device,
            model_kwargs={**kw, "file_name": "onnx/model_quint8_avx2.onnx"},
        )
        models = {"st-onnx": fp32, "st-onnx-int8": int8}
        for m in models.values():
            m.encode(texts[:128], show_progress_bar=False)  # warm-up
        for line in sys.stdin:
            req = json.loads(line)
            if req["op"] == "quit":
                reply({})
                return
            if req["op"] == "info":
                reply(
                    {
                        "sentence_transformers": sentence_transformers.__version__,
                        "transformers": transformers.__version__,
                        "onnxruntime": ort.__version__,
                        "provider": provider,
                        "export_s": export_s,
                        "quantize_s": quant_s,
                        "int8": "export_dynamic_quantized_onnx_model(model, 'avx2'): "
                        "dynamic, QUInt8 weights, per channel",
                    }
                )
            elif req["op"] == "time":
                m = models[req["path"]]
                t = time.perf_counter()
                m.encode(texts, batch_size=req["batch_size"], show_progress_bar=False)
                reply({"s": time.perf_counter() - t})
            elif req["op"] == "encode":
                batch = json.loads(Path(req["texts"]).read_text())
                v = models[req["path"]].encode(
                    batch, batch_size=req["batch_size"], show_progress_bar=False
                )
                np.save(req["out"], np.asarray(v, dtype=np.float32))
                reply({})
    except Exception as e:  # noqa: BLE001
        reply({"error": f"{type(e).__name__}: {str(e).splitlines()[0]}"})
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _onnx_comparison(args, ours, theirs, texts: list[str]) -> dict:
    """Every path timed in turn on ``texts``, plus each path's STS-B test Spearman."""
    import onnxruntime

    bs = args.batch_size
    paths = {"workbench torch": ours}
    load_s = {}
    for backend in ("onnx", "onnx-int8"):
        t = time.perf_counter()
        paths[f"workbench {backend}"] = wb.load_encoder(
            "all-MiniLM-L6-v2", device=args.device, backend=backend
        )
        load_s[f"workbench {backend}"] = time.perf_counter() - t

    def ours_fn(enc):
        return lambda t: enc.encode(t, batch_size=bs, cache=False, show_progress=False)

    timers = {name: ours_fn(enc) for name, enc in paths.items()}
    encoders = dict(timers)
    timers["sentence-transformers torch"] = lambda t: theirs.encode(
        t, batch_size=bs, show_progress_bar=False
    )
    encoders["sentence-transformers torch"] = timers["sentence-transformers torch"]

    work = Path(tempfile.mkdtemp(prefix="wb-bench-"))
    worker, st_error = None, None
    try:
        (work / "texts.json").write_text(json.dumps(texts))
        try:
            worker = _Worker(args.st_onnx_path, work / "texts.json", _minilm_path(), args.device)
        except RuntimeError as e:
            st_error = str(e)
        if worker is not None:
            for name in ("st-onnx", "st-onnx-int8"):
                label = "sentence-transformers " + name[3:].replace("-", " ")
                timers[label] = lambda t, name=name: worker.ask(
                    {"op": "time", "path": name, "batch_size": bs}
                )

                def remote(t, name=name):
                    (work / "in.json").write_text(json.dumps(list(t)))
                    out = work / "out.npy"
                    worker.ask(
                        {
                            "op": "encode",
                            "path": name,
                            "texts": str(work / "in.json"),
                            "out": str(out),
                            "batch_size": bs,
                        }
                    )
                    return np.load(out)

                encoders[label] = remote

        for name, fn in timers.items():  # warm-up (the worker warmed its own)
            if not name.startswith("sentence-transformers onnx"):
                fn(texts[:128])
        times: dict[str, list[float]] = {name: [] for name in timers}
        for _ in range(args.repeats):  # in turn, so that other load hits every path alike
            for name, fn in timers.items():
                if name.startswith("sentence-transformers onnx"):
                    times[name].append(fn(texts)["s"])
                else:
                    times[name].append(_time(lambda fn=fn: fn(texts)))

        pairs, sents = _stsb_pairs()
        vectors = {name: fn(sents) for name, fn in encoders.items()}
        info = worker.info if worker is not None else None
    finally:
        if worker is not None:
            worker.close()
        shutil.rmtree(work, ignore_errors=True)

    st_rate = len(texts) / statistics.median(times["sentence-transformers torch"])
    rows = []
    for name in timers:
        rate = len(texts) / statistics.median(times[name])
        rows.append(
            {
                "path": name,
                "sent_per_s": rate,
                "ratio_to_st_torch": rate / st_rate,
                "stsb_spearman": _spearman(pairs, sents, vectors[name]),
                "max_abs_diff_to_workbench_torch": float(
                    np.abs(vectors[name] - vectors["workbench torch"]).max()
                ),
            }
        )
    fp32 = {r["path"]: r["stsb_spearman"] for r in rows}
    return {
        "texts": len(texts),
        "repeats": args.repeats,
        "batch_size": bs,
        "torch_threads": torch.get_num_threads(),
        "onnxruntime": onnxruntime.__version__,
        "workbench_provider": paths["workbench onnx"].ort_provider,
        "workbench_export_cache": str(paths["workbench onnx"].onnx_path.parent),
        "workbench_load_s": load_s,
        "int8_settings": paths["workbench onnx-int8"].config()["int8"],
        "sentence_transformers_onnx": info or {"error": st_error},
        "rows": rows,
        "fp32_spearman_change": fp32["workbench onnx"] - fp32["workbench torch"],
        "fp32_within_0.05": abs(fp32["workbench onnx"] - fp32["workbench torch"]) <= 0.05,
    }


def _print_onnx(r: dict, device: str) -> None:
    print(
        f"\nONNX Runtime {r['onnxruntime']} against sentence-transformers, {r['texts']} distinct "
        f"STS-B test sentences, batch {r['batch_size']}, median of {r['repeats']}, on {device} "
        f"(torch {r['torch_threads']} threads; workbench ONNX provider {r['workbench_provider']})"
    )
    print(
        f"  {'path':34s} {'sent/s':>8s} {'x ST torch':>10s} {'STS-B sp.':>9s} "
        f"{'max|v - wb torch|':>17s}"
    )
    for row in r["rows"]:
        print(
            f"  {row['path']:34s} {row['sent_per_s']:8.1f} {row['ratio_to_st_torch']:9.2f}x "
            f"{row['stsb_spearman']:9.2f} {row['max_abs_diff_to_workbench_torch']:17.2e}"
        )
    st = r["sentence_transformers_onnx"]
    if "error" in st:
        print(f"  sentence-transformers backend='onnx': not measured ({st['error']})")
    else:
        print(
            f"  sentence-transformers ONNX ran in a worker: sentence-transformers "
            f"{st['sentence_transformers']}, transformers {st['transformers']}, onnxruntime "
            f"{st['onnxruntime']}, {st['provider']}; int8 = {st['int8']}; export "
            f"{st['export_s']:.1f} s, quantisation {st['quantize_s']:.1f} s (each run)"
        )
    loads = ", ".join(f"{k} {v:.1f} s" for k, v in r["workbench_load_s"].items())
    print(f"  workbench loads (export cached in {r['workbench_export_cache']}): {loads}")
    print(
        f"  workbench onnx-int8 = quantize_dynamic({r['int8_settings']}); "
        f"fp32 ONNX Spearman change {r['fp32_spearman_change']:+.4f} "
        f"({'within' if r['fp32_within_0.05'] else 'NOT within'} 0.05 of torch)"
    )


if __name__ == "__main__":
    main()
