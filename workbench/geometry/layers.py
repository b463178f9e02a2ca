"""Every layer of a transformer encoder in one forward pass, cached per layer.

``encode_layers(encoder, texts)`` returns ``{layer: (n, dim) array}``. Each layer's vectors go
into the embedding cache under that layer's own configuration (the same key as
``load_encoder(name, layer=l)``), so later calls, :func:`workbench.evaluate_sts` with
``layer=l`` included, read them for free. One forward pass serves all layers, instead of one
pass per layer.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Sequence
from typing import Any

import numpy as np

from ..errors import InvalidInputError

log = logging.getLogger(__name__)

__all__ = ["encode_layers", "layer_encoders"]


def _hf(encoder: Any):
    from ..encoders import load_encoder
    from ..encoders.hf import HFEncoder

    enc = load_encoder(encoder)
    if not isinstance(enc, HFEncoder):
        raise InvalidInputError(
            f"{enc.describe()} has no layers to profile (static word vectors); use a "
            "transformer encoder"
        )
    if enc.pooling in ("pooler", "first-last-avg"):
        raise InvalidInputError(
            f"pooling={enc.pooling!r} fixes its own layers; use mean, cls, max or last-token "
            "for layer-by-layer embeddings"
        )
    return enc


def _resolve_layers(enc, layers: Sequence[int] | str | None) -> list[int]:
    L = enc.num_layers
    if layers is None or (isinstance(layers, str) and layers.strip().lower() == "all"):
        return list(range(L + 1))
    if isinstance(layers, str):
        try:
            layers = [int(x) for x in layers.split(",") if x.strip()]
        except ValueError:
            raise InvalidInputError(f"layers must be 'all' or integers, got {layers!r}") from None
    out = []
    for layer in layers:
        if isinstance(layer, bool) or not isinstance(layer, int | np.integer):
            raise InvalidInputError(f"layer must be an integer, got {layer!r}")
        if not -(L + 1) <= layer <= L:
            raise InvalidInputError(
                f"layer {layer} is out of range for {enc.name}: use 0..{L} (0 = embeddings)"
            )
        out.append(int(layer) % (L + 1))
    if not out:
        raise InvalidInputError("no layer given")
    return list(dict.fromkeys(out))


def layer_encoders(encoder: Any, layers: Sequence[int] | str | None = None) -> dict[int, Any]:
    """``{layer: encoder}`` sharing one loaded model; layer L (the last) is the default one."""
    enc = _hf(encoder)
    out = {}
    for layer in _resolve_layers(enc, layers):
        e = copy.copy(enc)  # shares model and tokenizer; only the layer (and cache key) differs
        e.layer = None if layer == enc.num_layers else layer
        out[layer] = e
    return out


def encode_layers(
    encoder: Any,
    texts: Sequence[str],
    layers: Sequence[int] | str | None = None,
    cache: bool | str = True,
    batch_size: int | None = None,
    show_progress: bool | None = None,
) -> dict[int, np.ndarray]:
    """Embeddings of ``texts`` at each layer (``all``, a list, or ``"0,3,6"``; 0 = embeddings)."""
    from tqdm.auto import tqdm

    from ..cache import text_digests
    from ..embed import get_cache
    from ..encoders.pooling import TOKEN_POOLERS

    texts = list(texts)
    if not texts:
        raise InvalidInputError("no texts to encode")
    encs = layer_encoders(encoder, layers)
    base = next(iter(encs.values()))
    uniq = list(dict.fromkeys(texts))
    keys = text_digests(uniq)
    stores = {layer: get_cache(e, cache) for layer, e in encs.items()}
    missing: dict[int, np.ndarray] = {}
    for layer, store in stores.items():
        found = store.get(keys)[0] if store is not None else np.zeros(len(uniq), dtype=bool)
        missing[layer] = ~found
    todo = np.flatnonzero(np.any(np.stack(list(missing.values())), axis=0))
    fresh: dict[int, np.ndarray] = {}
    if len(todo):
        torch = base._torch
        ids = base.tokenize([uniq[i] for i in todo])
        if any(len(x) == 0 for x in ids):
            raise InvalidInputError("some texts tokenise to nothing; remove empty texts")
        bs = batch_size or base.default_batch_size
        order = np.argsort([-len(x) for x in ids], kind="stable")
        out = {layer: np.empty((len(todo), base.dim), dtype=np.float32) for layer in encs}
        pool = TOKEN_POOLERS[base.pooling]
        if show_progress is None:
            show_progress = len(todo) > 1000
        bar = tqdm(
            total=len(todo),
            unit="sent",
            desc=f"encoding {len(encs)} layers",
            disable=not show_progress,
        )
        with torch.inference_mode():
            for start in range(0, len(order), bs):
                idx = order[start : start + bs]
                input_ids, mask = base._pad([ids[i] for i in idx])
                input_ids, mask = input_ids.to(base.device), mask.to(base.device)
                res = base.model(
                    input_ids=input_ids, attention_mask=mask, output_hidden_states=True
                )
                for layer in encs:
                    h = (
                        res.last_hidden_state
                        if layer == base.num_layers
                        else res.hidden_states[layer]
                    )
                    out[layer][idx] = pool(h, mask).float().cpu().numpy()
                bar.update(len(idx))
        bar.close()
        for layer, arr in out.items():
            if not np.isfinite(arr).all():
                raise InvalidInputError(f"layer {layer} produced NaN/inf embeddings")
            need = missing[layer][todo]
            if stores[layer] is not None and need.any():
                stores[layer].put([keys[todo[j]] for j in np.flatnonzero(need)], arr[need])
            fresh[layer] = arr
    result = {}
    pos = {t: i for i, t in enumerate(uniq)}
    rows = np.array([pos[t] for t in texts])
    for layer, e in encs.items():
        if stores[layer] is not None:
            result[layer] = e.encode(texts, cache=cache)
        else:
            vecs = fresh[layer][np.argsort(todo)][rows] if len(todo) else None
            if e.normalize:
                vecs = vecs / np.maximum(np.linalg.norm(vecs, axis=1, keepdims=True), 1e-12)
            result[layer] = vecs
    return result
