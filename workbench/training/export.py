"""Write a trained encoder as a sentence-transformers folder that records how it was made.

Layout (the model files at the top, so ``workbench.load_encoder(out)``,
``SentenceTransformer(out)`` and ``AutoModel.from_pretrained(out)`` all read it)::

    out/config.json, model.safetensors, tokenizer files   the Hugging Face model
    out/modules.json                 Transformer -> Pooling (-> Normalize)
    out/sentence_bert_config.json    max_seq_length used at evaluation
    out/1_Pooling/config.json        the pooling the model was trained with
    out/config_sentence_transformers.json
    out/workbench_training.json      recipe, config, seed, versions, curve, best step,
                                     pooling/prompt to evaluate with; written last
    out/.workbench-files.json        the manifest: every file the export wrote
    out/checkpoints/                 training state for resuming (ignored by loaders)

Every file is written to a temporary folder first and moved in with ``os.replace``;
``workbench_training.json`` goes last, so its presence means the folder is complete.

The workbench deletes only what it wrote: the files named in the manifest (recorded before
they are moved in, so a killed export leaves nothing unrecorded) and the checkpoint files
(:data:`~workbench.training.checkpoint.CHECKPOINT_FILES`). Files a user adds to a run
folder survive ``--overwrite``.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import platform
import shutil
import tempfile
from pathlib import Path
from typing import Any

from ..errors import WorkbenchError
from .checkpoint import _STEP_DIR, atomic_write_json, fix_mode, remove_checkpoint_dir

log = logging.getLogger(__name__)

TRAINING_FILE = "workbench_training.json"
MANIFEST_FILE = ".workbench-files.json"
#: what an export wrote before manifests existed (folders with a training file, no manifest)
_LEGACY_PATTERNS = (
    "config.json",
    "generation_config.json",
    "model.safetensors",
    "model-*-of-*.safetensors",
    "model.safetensors.index.json",
    "pytorch_model*.bin",
    "pytorch_model.bin.index.json",
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "added_tokens.json",
    "vocab.txt",
    "vocab.json",
    "merges.txt",
    "tokenizer.model",
    "spiece.model",
    "sentencepiece.bpe.model",
    "chat_template.jinja",
    "modules.json",
    "sentence_bert_config.json",
    "config_sentence_transformers.json",
    "1_Pooling/config.json",
)
#: poolings sentence-transformers' Pooling module reproduces
ST_POOLING_KEYS = {
    "cls": "pooling_mode_cls_token",
    "mean": "pooling_mode_mean_tokens",
    "max": "pooling_mode_max_tokens",
    "mean-sqrt-len": "pooling_mode_mean_sqrt_len_tokens",
    "last-token": "pooling_mode_lasttoken",
}
_ALL_ST_KEYS = [
    "pooling_mode_cls_token",
    "pooling_mode_mean_tokens",
    "pooling_mode_max_tokens",
    "pooling_mode_mean_sqrt_len_tokens",
    "pooling_mode_weightedmean_tokens",
    "pooling_mode_lasttoken",
]


def library_versions() -> dict[str, str]:
    """Versions of the libraries that determine the numbers."""
    import numpy
    import torch
    import transformers

    import workbench

    out = {
        "workbench": workbench.__version__,
        "python": platform.python_version(),
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "numpy": numpy.__version__,
    }
    try:
        import sentence_transformers

        out["sentence_transformers"] = sentence_transformers.__version__
    except ImportError:
        pass
    return out


def pooling_config(pooling: str, dim: int) -> dict[str, Any]:
    """``1_Pooling/config.json`` for a workbench pooling name."""
    if pooling not in ST_POOLING_KEYS:
        raise WorkbenchError(
            f"pooling {pooling!r} cannot be written as a sentence-transformers Pooling module; "
            f"train with one of {', '.join(ST_POOLING_KEYS)}"
        )
    cfg: dict[str, Any] = {"word_embedding_dimension": int(dim)}
    cfg.update({k: k == ST_POOLING_KEYS[pooling] for k in _ALL_ST_KEYS})
    cfg["include_prompt"] = True
    return cfg


def export_encoder(encoder, out: str | os.PathLike, training: dict[str, Any]) -> Path:
    """Save ``encoder`` (an :class:`~workbench.encoders.hf.HFEncoder`, weights as trained)
    into ``out`` with the sentence-transformers files and ``training`` as
    ``workbench_training.json``. Returns ``out``."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    pooling = encoder.pooling
    pool_cfg = pooling_config(pooling, encoder.dim)
    if encoder.prompt:
        log.warning(
            "trained with prompt %r: sentence-transformers and load_encoder(path) do not "
            "apply it by themselves; load with prompt=%r (recorded in %s)",
            encoder.prompt,
            encoder.prompt,
            TRAINING_FILE,
        )
    versions = library_versions()
    modules = [
        {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
        {
            "idx": 1,
            "name": "1",
            "path": "1_Pooling",
            "type": "sentence_transformers.models.Pooling",
        },
    ]
    if encoder.normalize:
        modules.append(
            {
                "idx": 2,
                "name": "2",
                "path": "2_Normalize",
                "type": "sentence_transformers.models.Normalize",
            }
        )
    _remove_leftovers(out)
    tmp = Path(tempfile.mkdtemp(dir=out, prefix=".tmp-export-"))
    try:
        encoder.model.save_pretrained(tmp, safe_serialization=True)
        encoder.tokenizer.save_pretrained(tmp)
        (tmp / "modules.json").write_text(json.dumps(modules, indent=2) + "\n")
        (tmp / "sentence_bert_config.json").write_text(
            json.dumps({"max_seq_length": int(encoder.max_length), "do_lower_case": False}) + "\n"
        )
        (tmp / "config_sentence_transformers.json").write_text(
            json.dumps(
                {
                    "__version__": {
                        "sentence_transformers": versions.get("sentence_transformers", ""),
                        "transformers": versions["transformers"],
                        "pytorch": versions["torch"],
                    },
                    "prompts": {},
                    "default_prompt_name": None,
                    "similarity_fn_name": "cosine",
                },
                indent=2,
            )
            + "\n"
        )
        (tmp / "1_Pooling").mkdir()
        (tmp / "1_Pooling" / "config.json").write_text(json.dumps(pool_cfg, indent=2) + "\n")
        new_files = sorted(
            src.relative_to(tmp).as_posix() for src in tmp.rglob("*") if src.is_file()
        )
        previous = read_manifest(out) or []
        (out / TRAINING_FILE).unlink(missing_ok=True)  # the folder is incomplete from here
        # record before moving in: a kill from here on leaves only recorded files
        _write_manifest(out, sorted(set(previous) | set(new_files)))
        for rel in new_files:
            src, dst = tmp / rel, out / rel
            dst.parent.mkdir(parents=True, exist_ok=True)
            fix_mode(src)
            os.replace(src, dst)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    # files of an earlier export that this one did not write (e.g. other weight shards)
    _remove_files(out, sorted(set(previous) - set(new_files) - {TRAINING_FILE, MANIFEST_FILE}))
    _write_manifest(out, new_files)
    info = {
        **training,
        "evaluate_with": {
            "pooling": pooling,
            "prompt": encoder.prompt,
            "normalize": bool(encoder.normalize),
            "max_length": int(encoder.max_length),
            "similarity": "cosine",
        },
        "versions": versions,
        "complete": True,
    }
    atomic_write_json(out / TRAINING_FILE, info)
    log.info("trained encoder written to %s", out)
    return out


def _remove_leftovers(out: Path) -> None:
    """Temporary files and folders of a killed export (our own prefixes only)."""
    for old in out.glob(".tmp-export-*"):
        shutil.rmtree(old, ignore_errors=True)
    for name in (TRAINING_FILE, MANIFEST_FILE):  # atomic_write_text's temporary names
        for old in out.glob(f".{name}.*.tmp"):
            old.unlink(missing_ok=True)


def _write_manifest(out: Path, files: list[str]) -> None:
    atomic_write_json(
        out / MANIFEST_FILE,
        {"written_by": "workbench export", "files": sorted({*files, TRAINING_FILE})},
    )


def read_manifest(out: str | os.PathLike) -> list[str] | None:
    """Files (relative paths) the workbench's export wrote into ``out``; None without a
    manifest (or with one that cannot be read)."""
    try:
        files = json.loads((Path(out) / MANIFEST_FILE).read_text(encoding="utf-8"))["files"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if not isinstance(files, list):
        return None
    return [f for f in files if isinstance(f, str) and _safe_relative(f)]


def _safe_relative(rel: str) -> bool:
    """A manifest entry may only name a file below the run folder."""
    parts = Path(rel).parts
    return bool(parts) and not Path(rel).is_absolute() and ".." not in parts


def _remove_files(out: Path, rels: list[str]) -> None:
    """Delete these files of ``out`` (never folders), then the folders they leave empty."""
    parents = set()
    root = out.resolve()
    for rel in rels:
        p = out / rel
        if not p.parent.resolve().is_relative_to(root):  # via a symlinked folder: not ours
            continue
        if p.is_symlink() or p.is_file():
            p.unlink(missing_ok=True)
            parents.update(q for q in p.parents if q != out and out in q.parents)
    for d in sorted(parents, key=lambda q: len(q.parts), reverse=True):
        with contextlib.suppress(OSError):  # only if empty: a user's file in it keeps it
            d.rmdir()


def workbench_files(out: str | os.PathLike) -> list[str]:
    """The files in ``out`` that the workbench wrote and may delete: the manifest's entries
    (for folders exported before manifests, the names an export writes) that exist, the
    training file and the manifest. Checkpoints are handled by :func:`clear_run`."""
    out = Path(out)
    listed = read_manifest(out)
    if listed is None:
        if not (out / TRAINING_FILE).is_file():
            return []
        listed = [
            p.relative_to(out).as_posix()
            for pat in _LEGACY_PATTERNS
            for p in out.glob(pat)
            if p.is_file()
        ]
    names = {*listed, TRAINING_FILE, MANIFEST_FILE}
    return sorted(n for n in names if (out / n).is_file() or (out / n).is_symlink())


def is_run_folder(out: str | os.PathLike) -> bool:
    """Whether ``out`` holds a workbench run: a manifest, a training file, or checkpoints."""
    out = Path(out)
    if (out / MANIFEST_FILE).is_file() or (out / TRAINING_FILE).is_file():
        return True
    root = out / "checkpoints"
    return root.is_dir() and any(
        _STEP_DIR.match(p.name) or p.name.startswith(".tmp-step-") for p in root.iterdir()
    )


def clear_run(out: str | os.PathLike) -> list[str]:
    """Delete what the workbench wrote into ``out`` (an earlier run, for ``--overwrite``):
    the exported files it recorded and its checkpoints. Anything else stays. Returns the
    relative paths of what was kept because the workbench did not write it."""
    out = Path(out)
    files = workbench_files(out)
    # the manifest last: a kill midway must leave the rest still recorded
    _remove_files(out, [f for f in files if f != MANIFEST_FILE])
    root = out / "checkpoints"
    if root.is_dir():
        for p in root.iterdir():
            if p.is_dir() and (_STEP_DIR.match(p.name) or p.name.startswith(".tmp-step-")):
                remove_checkpoint_dir(p)
        with contextlib.suppress(OSError):
            root.rmdir()
    _remove_leftovers(out)
    _remove_files(out, [MANIFEST_FILE])
    kept = sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file())
    if kept:
        log.info("--overwrite kept %d file(s) the workbench did not write: %s", len(kept), kept)
    return kept


def read_training_info(folder: str | os.PathLike) -> dict[str, Any]:
    """``workbench_training.json`` of a trained folder (WorkbenchError if absent)."""
    path = Path(folder) / TRAINING_FILE
    if not path.is_file():
        raise WorkbenchError(f"{folder} holds no {TRAINING_FILE}: not a finished workbench run")
    return json.loads(path.read_text())
