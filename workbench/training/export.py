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
    out/checkpoints/                 training state for resuming (ignored by loaders)

Every file is written to a temporary folder first and moved in with ``os.replace``;
``workbench_training.json`` goes last, so its presence means the folder is complete.
"""

from __future__ import annotations

import json
import logging
import os
import platform
import shutil
import tempfile
from pathlib import Path
from typing import Any

from ..errors import WorkbenchError
from .checkpoint import atomic_write_json, fix_mode

log = logging.getLogger(__name__)

TRAINING_FILE = "workbench_training.json"
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
        (out / TRAINING_FILE).unlink(missing_ok=True)  # the folder is incomplete from here
        if not encoder.normalize:
            shutil.rmtree(out / "2_Normalize", ignore_errors=True)
        for src in sorted(tmp.rglob("*")):
            if src.is_file():
                dst = out / src.relative_to(tmp)
                dst.parent.mkdir(parents=True, exist_ok=True)
                fix_mode(src)
                os.replace(src, dst)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
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


def read_training_info(folder: str | os.PathLike) -> dict[str, Any]:
    """``workbench_training.json`` of a trained folder (WorkbenchError if absent)."""
    path = Path(folder) / TRAINING_FILE
    if not path.is_file():
        raise WorkbenchError(f"{folder} holds no {TRAINING_FILE}: not a finished workbench run")
    return json.loads(path.read_text())
