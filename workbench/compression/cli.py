"""``workbench compress``: the dimensions x codecs grid of an encoder (registered by
:mod:`workbench.cli`). A thin wrapper over :func:`workbench.compression.compression_grid`;
``--json`` prints one JSON array on stdout. Heavy imports happen inside the command: this
module is imported for every CLI call.
"""

from __future__ import annotations

import argparse
import json

from ..errors import InvalidInputError


def _dims(value: str | None) -> list[int] | None:
    if value is None:
        return None
    try:
        return [int(x) for x in value.split(",") if x.strip()]
    except ValueError:
        raise InvalidInputError(f"--dims must be comma-separated integers, got {value!r}") from None


DEFAULT_TASKS = "sts/STSBenchmark,retrieval/STSB"


def _tasks(value: str) -> tuple[list[str], list[str]]:
    sts, retrieval = [], []
    for item in (x.strip() for x in value.split(",") if x.strip()):
        family, sep, name = item.partition("/")
        family = family.strip().lower()
        if not sep or family not in ("sts", "retrieval") or not name.strip():
            raise InvalidInputError(
                f"--tasks takes family/task items (sts/STSBenchmark, retrieval/STSB), got {item!r}"
            )
        (sts if family == "sts" else retrieval).append(name.strip())
    if not sts and not retrieval:
        raise InvalidInputError("--tasks is empty; give e.g. sts/STSBenchmark,retrieval/STSB")
    return sts, retrieval


def cmd_compress(args) -> int:
    from ..cli import _cache, _load, records
    from .grid import compression_grid
    from .quantize import parse_codecs

    parse_codecs(args.codecs)  # a bad codec name fails before a model is loaded
    sts, retrieval = _tasks(args.tasks)
    df = compression_grid(
        _load(args),
        dims=_dims(args.dims),
        codecs=args.codecs,
        calibrate_on=args.calibrate_on,
        sts=sts,
        retrieval=retrieval,
        protocol=args.protocol,
        data_dir=args.data_dir,
        max_pairs=args.max_pairs,
        max_n=args.max_n,
        calibration_max_n=args.calibration_max_n,
        seed=args.seed,
        cache=_cache(args),
        batch_size=args.batch_size,
    )
    if args.json:
        print(json.dumps(records(df)))
        return 0
    first = df.iloc[0]
    print(
        f"{first['encoder']}  calibrated on {first['calibrate_on']} "
        f"({first['n_calibration']} texts, {first['calibration_overlap']} also scored)"
    )
    for (family, task, protocol), part in df.groupby(["family", "task", "protocol"], sort=False):
        table = part.pivot_table(index="codec", columns="dim", values="score", sort=False)
        table = table[sorted(table.columns, reverse=True)]
        nbytes = part.pivot_table(
            index="codec", columns="dim", values="bytes_per_vector", sort=False
        )
        print(f"\n{family}/{task}  {part['metric'].iloc[0]} x100  ({protocol})")
        print(table.to_string(float_format=lambda x: f"{x:.2f}"))
        print("bytes per vector:")
        print(nbytes[table.columns].to_string(float_format=lambda x: f"{x:g}"))
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``compress`` to the ``workbench`` command line."""
    from ..cli import _add_encoder_args
    from .grid import DEFAULT_CALIBRATION
    from .quantize import CODECS, DEFAULT_CODECS

    p = subparsers.add_parser(
        "compress",
        help="STS and retrieval scores of first-k dimensions x codecs (float16, int8, "
        "binary, PQ) against bytes per vector",
        description="Keep the first k dimensions, compress with each codec (calibrated on a "
        "reference corpus, never on the scored data) and score STS (Spearman under a named "
        "protocol) and retrieval (nDCG@10) against bytes per vector. Codecs: " + ", ".join(CODECS),
    )
    _add_encoder_args(p)
    p.add_argument("--dims", help="comma-separated k values (default: d, d/2, d/4, d/8)")
    p.add_argument(
        "--codecs",
        default=DEFAULT_CODECS,
        help=f"comma-separated codecs (default {DEFAULT_CODECS}); pq:MxB = M sub-quantisers "
        "of B bits (M must divide every k)",
    )
    p.add_argument(
        "--calibrate-on",
        default=DEFAULT_CALIBRATION,
        metavar="DATASET",
        help="corpus for int8 ranges and PQ codebooks (default stsb-train; names as "
        "`workbench geometry --texts`)",
    )
    p.add_argument("--calibration-max-n", type=int, help="random calibration texts kept")
    p.add_argument(
        "--tasks",
        default=DEFAULT_TASKS,
        help=f"comma-separated family/task (default {DEFAULT_TASKS}): sts/<any STS task, "
        "scored under --protocol>, retrieval/SNLI|STSB|MRPC",
    )
    p.add_argument("--protocol", default="simcse", help="STS protocol: simcse, senteval, mteb")
    p.add_argument("--max-pairs", type=int, help="first N STS pairs per subset (recorded)")
    p.add_argument("--max-n", type=int, help="random retrieval pairs per task (quick runs)")
    p.add_argument("--data-dir", help="SentEval-layout data (default $WORKBENCH_DATA_DIR)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", action="store_true", help="one JSON array on stdout")
    p.set_defaults(func=cmd_compress)
