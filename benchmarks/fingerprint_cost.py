"""Cost of full-content model fingerprints: cold (hashed) against remembered.

For each packaged model file (MiniLM's folder, SmolLM2's GGUF, GloVe's vectors) it times,
with a fresh, empty memo in a temporary cache folder:

- ``cold``: the first fingerprint (every file read and hashed with SHA-256; the file is in
  the page cache after the first repeat, so this is the hashing cost, not disk latency);
- ``remembered``: the same call again in the same process (in-memory memo);
- ``new process``: a fresh Python process reading the memo file (what a restarted kernel or
  a second ``workbench`` command pays).

    python benchmarks/fingerprint_cost.py [--repeats 5] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def _targets() -> dict[str, tuple[str, Path]]:
    from workbench.encoders.registry import _glove_dir, _minilm_path, _smollm2_gguf

    out: dict[str, tuple[str, Path]] = {}
    if (p := _minilm_path()) is not None:
        out["all-MiniLM-L6-v2 folder"] = ("folder", p)
    if (p := _smollm2_gguf()) is not None:
        out["smollm2-135m GGUF"] = ("file", p)
    if (p := _glove_dir()) is not None:
        out["glove-6b-50d vectors"] = ("file", p / "glove_6B_50d_emb.npy")
    return out


_CHILD = """
import sys, time
from pathlib import Path
from workbench import fingerprint as F
kind, path = sys.argv[1], Path(sys.argv[2])
t = time.perf_counter()
F.folder_fingerprint(path) if kind == "folder" else F.files_fingerprint(path)
print(time.perf_counter() - t)
"""


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)

    from workbench import fingerprint as F

    rows = []
    for label, (kind, path) in _targets().items():
        size = (
            sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
            if kind == "folder"
            else path.stat().st_size
        )
        fn = F.folder_fingerprint if kind == "folder" else F.files_fingerprint
        cold, warm, child = [], [], []
        for _ in range(args.repeats):
            with tempfile.TemporaryDirectory() as cache:
                os.environ["WORKBENCH_CACHE_DIR"] = cache
                F.clear_memory()
                t = time.perf_counter()
                fn(path)
                cold.append(time.perf_counter() - t)
                t = time.perf_counter()
                fn(path)
                warm.append(time.perf_counter() - t)
                out = subprocess.run(
                    [sys.executable, "-c", _CHILD, kind, str(path)],
                    capture_output=True,
                    text=True,
                    check=True,
                    env={**os.environ, "WORKBENCH_CACHE_DIR": cache},
                )
                child.append(float(out.stdout.strip()))
        rows.append(
            {
                "target": label,
                "bytes": size,
                "cold_s": round(statistics.median(cold), 4),
                "remembered_s": round(statistics.median(warm), 6),
                "new_process_s": round(statistics.median(child), 4),
            }
        )
    if args.json:
        print(json.dumps(rows))
    else:
        for r in rows:
            print(
                f"{r['target']:<26} {r['bytes'] / 1e6:7.1f} MB  cold {r['cold_s']:.3f} s  "
                f"remembered {r['remembered_s'] * 1e3:.2f} ms  "
                f"new process {r['new_process_s'] * 1e3:.1f} ms  (median of {args.repeats})"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
