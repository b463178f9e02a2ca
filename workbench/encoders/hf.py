"""Hugging Face transformer encoders (encoder-only and decoder LLMs), any pooling, any layer."""

from __future__ import annotations

import inspect
import json
import logging
import os
import pickle
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import InvalidInputError, WorkbenchError
from .base import Encoder
from .pooling import NEEDS_ALL_LAYERS, TOKEN_POOLERS, first_last_avg, resolve_pooling
from .prompts import (
    PLACEHOLDER,
    REWRITES,
    TokenPrepending,
    find_preset,
    readout_layer,
    resolve_prompt,
    resolve_rewrite,
)

log = logging.getLogger(__name__)

_ST_POOLING_KEYS = [
    ("pooling_mode_cls_token", "cls"),
    ("pooling_mode_mean_tokens", "mean"),
    ("pooling_mode_max_tokens", "max"),
    ("pooling_mode_mean_sqrt_len_tokens", "mean-sqrt-len"),
    ("pooling_mode_lasttoken", "last-token"),
]


def folder_identity(folder: Path) -> str:
    """Hash of the full contents of a model folder's files (see
    :func:`workbench.fingerprint.folder_fingerprint`; remembered per file version, so a
    re-load does not hash the weights again)."""
    from ..fingerprint import folder_fingerprint

    return folder_fingerprint(folder)


def read_sentence_transformers_config(folder: Path) -> dict[str, Any]:
    """What a sentence-transformers folder says about pooling, normalisation and length.

    Returns keys ``pooling`` (or None), ``normalize`` (bool), ``max_length`` (or None),
    ``transformer_path`` (the folder holding the HF model) and ``unsupported`` (module types
    we do not reproduce).
    """
    out: dict[str, Any] = {
        "pooling": None,
        "normalize": False,
        "max_length": None,
        "transformer_path": folder,
        "unsupported": [],
        "include_prompt": True,
    }
    modules_file = folder / "modules.json"
    if not modules_file.is_file():
        return out
    try:
        modules = json.loads(modules_file.read_text())
    except json.JSONDecodeError as e:
        raise WorkbenchError(f"{modules_file} is not valid JSON ({e})") from None
    for m in modules:
        kind = m.get("type", "").rsplit(".", 1)[-1]
        mpath = folder / m.get("path", "")
        if kind == "Transformer":
            out["transformer_path"] = mpath
            cfg = mpath / "sentence_bert_config.json"
            if not cfg.is_file():
                cfg = folder / "sentence_bert_config.json"
            if cfg.is_file():
                out["max_length"] = json.loads(cfg.read_text()).get("max_seq_length")
        elif kind == "Pooling":
            cfg_file = mpath / "config.json"
            if cfg_file.is_file():
                cfg = json.loads(cfg_file.read_text())
                modes = [name for key, name in _ST_POOLING_KEYS if cfg.get(key)]
                if "pooling_mode" in cfg:  # newer sentence-transformers style
                    modes = [cfg["pooling_mode"]]
                if len(modes) != 1:
                    raise WorkbenchError(
                        f"{cfg_file} combines pooling modes {modes}; pass pooling= explicitly"
                    )
                out["pooling"] = resolve_pooling(modes[0])
                out["include_prompt"] = cfg.get("include_prompt", True)
        elif kind == "Normalize":
            out["normalize"] = True
        else:
            out["unsupported"].append(kind)
    return out


def _pick_device(device: str | None) -> str:
    import torch

    if device in (None, "auto"):
        if torch.cuda.is_available():
            return "cuda"
        return "cpu"
    try:
        dev = torch.device(str(device))
    except RuntimeError:
        raise InvalidInputError(
            f"unknown device {device!r}; use auto, cpu, cuda or cuda:N"
        ) from None
    if dev.type == "cuda":
        n = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if (dev.index or 0) >= n:
            raise InvalidInputError(
                f"device {device!r} asked for, but PyTorch sees {n} CUDA device(s) here; "
                "use --device cpu (or auto)"
            )
    return str(device)


def _pick_dtype(dtype: str | None, device: str):
    import torch

    names = {
        "float32": torch.float32,
        "fp32": torch.float32,
        "float16": torch.float16,
        "fp16": torch.float16,
        "bfloat16": torch.bfloat16,
        "bf16": torch.bfloat16,
    }
    if dtype in (None, "auto"):
        if device.startswith("cuda"):
            return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        return torch.float32
    if dtype not in names:
        raise InvalidInputError(f"unknown dtype {dtype!r}; choose auto, {', '.join(names)}")
    return names[dtype]


class HFEncoder(Encoder):
    """A transformers model plus pooling, layer and prompt.

    Parameters
    ----------
    model : a local folder (plain Hugging Face or sentence-transformers) or a hub id.
    pooling : see :mod:`workbench.encoders.pooling`; default is the folder's
        sentence-transformers pooling, else ``last-token`` for decoder LLMs and ``mean``
        otherwise.
    layer : which hidden layer to pool (0 = embeddings, 1..L transformer layers, negative
        counts from the end; default the prompt preset's read-out layer, else the last).
        Not used by ``pooler``/``first-last-avg``.
    prompt : a template with ``{text}`` or a preset name (``prompteol``, ``pretended-cot``,
        ``knowledge``; see :mod:`workbench.encoders.prompts`). A preset brings its paper's
        sentence rewriting and read-out layer; ``layer=`` and ``rewrite=`` override them.
    rewrite : how each sentence is rewritten before it goes into the template: ``eol`` (the
        reference batchers' rules) or ``none``; default the preset's, ``none`` otherwise.
    max_length : truncation in tokens (default: the folder's ``max_seq_length``, else 512).
    device, dtype : ``auto`` picks CUDA with bf16/fp16 when present, else CPU float32.
    token_prepending : decoder LLMs only (Fu et al., 2025, "Token Prepending: A Training-Free
        Approach for Eliciting Better Sentence Embeddings from LLMs"). ``True`` is the paper's
        setting scaled to the model's depth (decoder layers 1..6 of Llama-2-7B's 32 become
        ``1 .. round(7 L / 32) - 1``; PromptEOL then reads layer ``round(27 L / 32)``);
        ``(start, end)`` or a :class:`~workbench.encoders.prompts.TokenPrepending` sets it. A
        new placeholder token (never pad, EOS or any token text can produce) goes before the
        sentence; see :class:`~workbench.encoders.prompts.TokenPrepending`.
    """

    def __init__(
        self,
        model: str | os.PathLike,
        *,
        name: str | None = None,
        pooling: str | None = None,
        layer: int | None = None,
        prompt: str | None = None,
        max_length: int | None = None,
        device: str | None = "auto",
        dtype: str | None = "auto",
        normalize: bool | None = None,
        batch_size: int = 64,
        identity: str | None = None,
        trust_remote_code: bool = False,
        token_prepending: bool | tuple[int, int] | TokenPrepending = False,
        rewrite: str | None = None,
    ) -> None:
        import torch
        import transformers
        from transformers import AutoModel, AutoTokenizer

        transformers.utils.logging.disable_progress_bar()
        self.source = str(model)
        folder = Path(model).expanduser()
        self.is_local = folder.is_dir()
        st = read_sentence_transformers_config(folder) if self.is_local else {}
        if st.get("unsupported"):
            raise WorkbenchError(
                f"{folder} has sentence-transformers modules {st['unsupported']} that the "
                "workbench does not reproduce; load it with sentence_transformers instead"
            )
        model_path = st.get("transformer_path", folder) if self.is_local else str(model)
        if self.is_local and not (Path(model_path) / "config.json").is_file():
            raise WorkbenchError(
                f"could not load model {str(model)!r}: {model_path} has no config.json, so it "
                "is not a Hugging Face or sentence-transformers model folder"
            )
        self.name = name or (folder.name if self.is_local else str(model))
        self.device = _pick_device(device)
        self.torch_dtype = _pick_dtype(dtype, self.device)
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(
                model_path, trust_remote_code=trust_remote_code
            )
            kwargs = dict(dtype=self.torch_dtype, trust_remote_code=trust_remote_code)
            # A decoder's base model loaded from a *ForCausalLM checkpoint leaves lm_head
            # unused; transformers reports that as a warning table on every load.
            verbosity = transformers.utils.logging.get_verbosity()
            transformers.utils.logging.set_verbosity_error()
            kwargs["output_loading_info"] = True
            try:
                self.model, info = AutoModel.from_pretrained(
                    model_path, attn_implementation="sdpa", **kwargs
                )
            except (ValueError, ImportError):  # architecture without SDPA support
                self.model, info = AutoModel.from_pretrained(model_path, **kwargs)
            finally:
                transformers.utils.logging.set_verbosity(verbosity)
            # ...but weights missing from the checkpoint would be random: never silent.
            missing = sorted(info.get("missing_keys") or [])
            if missing:
                warnings.warn(
                    f"{model}: {len(missing)} weights are not in the checkpoint and were "
                    f"randomly initialised ({', '.join(missing[:4])}"
                    f"{', ...' if len(missing) > 4 else ''}); embeddings that use them are "
                    "meaningless",
                    stacklevel=2,
                )
        except pickle.UnpicklingError:
            # torch.load(weights_only=True) refused a pickled object that could run code
            raise WorkbenchError(
                f"could not load model {str(model)!r}: its weights file holds pickled objects "
                "other than tensors, which are refused because loading them can run code; "
                "use a .safetensors copy of the model"
            ) from None
        except (OSError, ValueError, KeyError) as e:
            offline = os.environ.get("HF_HUB_OFFLINE") == "1"
            hint = (
                " (HF_HUB_OFFLINE=1 is set: only local folders and packaged models load)"
                if offline
                else ""
            )
            raise WorkbenchError(
                f"could not load model {model!r}: {str(e).splitlines()[0]}{hint}"
            ) from None
        self.model.eval().to(self.device)
        cfg = self.model.config
        self.is_decoder = bool(
            getattr(cfg, "is_decoder", False)
            or any(a.endswith("ForCausalLM") for a in (getattr(cfg, "architectures", None) or []))
            or cfg.model_type
            in {
                "llama",
                "mistral",
                "qwen2",
                "qwen3",
                "gemma",
                "gemma2",
                "phi3",
                "gpt2",
                "gpt_neox",
                "opt",
                "smollm3",
                "olmo",
                "olmo2",
            }
        )
        self.num_layers = int(getattr(cfg, "num_hidden_layers", 0) or 0)
        if self.tokenizer.pad_token is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token or self.tokenizer.unk_token

        self.pooling = resolve_pooling(
            pooling or st.get("pooling") or ("last-token" if self.is_decoder else "mean")
        )
        self.prompt_name, self.prompt = resolve_prompt(prompt)
        preset = find_preset(self.prompt_name)
        tp = TokenPrepending.from_arg(token_prepending)
        if layer is not None:
            if isinstance(layer, bool) or not isinstance(layer, int | np.integer):
                raise InvalidInputError(f"layer must be an integer, got {layer!r}")
            if not -(self.num_layers + 1) <= layer <= self.num_layers:
                raise InvalidInputError(
                    f"layer {layer} is out of range for {self.name}: it has {self.num_layers} "
                    f"layers, so use 0..{self.num_layers} (0 = embeddings) or "
                    f"-{self.num_layers + 1}..-1"
                )
            layer = int(layer) % (self.num_layers + 1)
        elif preset is not None and self.pooling not in ("pooler", "first-last-avg"):
            layer = readout_layer(preset.tp_readout if tp else preset.readout, self.num_layers)
        if layer == self.num_layers:
            layer = None  # the last layer: same numbers, same cache
        if layer is not None and self.pooling in ("pooler", "first-last-avg"):
            raise InvalidInputError(
                f"pooling={self.pooling!r} fixes its own layers; drop layer= or pick another "
                "pooling"
            )
        self.layer = layer
        if rewrite is None:
            rewrite = preset.rewrite if preset is not None else "none"
        self.rewrite = resolve_rewrite(rewrite)
        if max_length is not None and int(max_length) < 1:
            raise InvalidInputError(
                f"max_length must be a positive number of tokens, got {max_length}"
            )
        self.max_length = int(
            max_length or st.get("max_length") or min(self.tokenizer.model_max_length, 512)
        )
        self.normalize = bool(st.get("normalize", False) if normalize is None else normalize)
        self.default_batch_size = batch_size
        if identity is None:
            if self.is_local:
                identity = folder_identity(Path(model_path))
            else:
                identity = f"{model}@{getattr(cfg, '_commit_hash', None) or 'unknown'}"
        self._identity = identity
        self._dim = int(getattr(cfg, "hidden_size", 0) or cfg.d_model)
        self._torch = torch
        forward_args = inspect.signature(self.model.forward).parameters
        self._takes_position_ids = "position_ids" in forward_args
        self.token_prepending = self._resolve_token_prepending(tp)

    @property
    def dim(self) -> int:
        return self._dim

    def config(self) -> dict[str, Any]:
        prompted = bool(self.prompt or self.token_prepending or self.rewrite != "none")
        return {
            "kind": "hf",
            "model": self._identity,
            "pooling": self.pooling,
            "layer": self.layer,
            "prompt": self.prompt,
            "max_length": self.max_length,
            # long prompted texts lose words of the sentence, not the template's end
            **({"truncate": "sentence"} if prompted else {}),
            **({"rewrite": self.rewrite} if self.rewrite != "none" else {}),
            "dtype": str(self.torch_dtype).replace("torch.", ""),
            **(
                {"token_prepending": self.token_prepending.config()}
                if self.token_prepending
                else {}
            ),
        }

    def describe(self) -> str:
        parts = [self.name, f"pooling={self.pooling}"]
        if self.layer is not None:
            parts.append(f"layer={self.layer}")
        if self.prompt:
            parts.append(f"prompt={self.prompt_name or 'custom'}")
        if self.prompt or self.rewrite != "none":
            parts.append(f"rewrite={self.rewrite}")
        tp = self.token_prepending
        if tp:
            extra = "" if (tp.init, tp.seed) == ("randn", 3407) else f",init={tp.init}"
            extra += f",seed={tp.seed}" if tp.init == "randn" and tp.seed != 3407 else ""
            parts.append(f"token-prepending={tp.start}-{tp.end}{extra}")
        return " ".join(parts)

    # -- Token Prepending ---------------------------------------------------------------------
    def _resolve_token_prepending(self, tp: TokenPrepending | None) -> TokenPrepending | None:
        """The checked settings (0-based decoder layers ``[start, end)`` get the sentence
        summary written into the placeholder), with the hooks installed on the model."""
        if tp is None:
            return None
        if not self.is_decoder:
            raise InvalidInputError(
                "token_prepending is for decoder LLMs (causal attention); "
                f"{self.name} is an encoder whose tokens already see the whole sentence"
            )
        if self.pooling != "last-token":
            raise InvalidInputError("token_prepending needs pooling='last-token'")
        tp = tp.resolved(self.num_layers)
        layers = _decoder_layers(self.model, self.num_layers)
        if layers is None:
            raise WorkbenchError(
                f"token_prepending: cannot find the decoder layers of {type(self.model).__name__}"
            )
        self._tp = _TokenPrepender(self.model, self.tokenizer, tp, layers)
        return tp

    # -- encoding ---------------------------------------------------------------------------
    def template(self) -> str:
        """The template the sentences go into, with Token Prepending's placeholder if on."""
        template = self.prompt or "{text}"
        if self.token_prepending:
            # Before the opening quote, with a space: 'This sentence : <PST> "{text}" ...' as
            # in the reference templates (token_prepending evaluate.py lines 283-297).
            slot = '"{text}"' if '"{text}"' in template else "{text}"
            template = template.replace(slot, f"{PLACEHOLDER} {slot}", 1)
        return template

    def format_texts(self, texts: Sequence[str]) -> list[str]:
        """The strings the tokenizer sees: each sentence rewritten (``rewrite``) and put
        into the template."""
        rewrite, strip = REWRITES[self.rewrite]
        template = self.template()
        if self.token_prepending:
            bad = [i for i, t in enumerate(texts) if PLACEHOLDER in t]
            if bad:
                raise InvalidInputError(
                    f"{len(bad)} texts (first at position {bad[0]}) contain {PLACEHOLDER!r}, "
                    "the string reserved for Token Prepending's placeholder; remove it"
                )
        if template == "{text}" and self.rewrite == "none":
            return list(texts)
        out = [template.replace("{text}", rewrite(t)) for t in texts]
        return [x.strip() for x in out] if strip else out

    _format = format_texts

    def tokenize(self, texts: Sequence[str]) -> list[list[int]]:
        """Token ids of each (prompted) text, at most ``max_length`` of them, with the
        tokenizer's own special tokens (a BOS where the tokenizer adds one), as the reference
        batchers do.

        Without a prompt, the end of a long text is cut, as everywhere. With a prompt, only the
        sentence is shortened: cutting the formatted string would drop the template's end
        (PromptEOL's ``means in one word:"``), whose last token is the embedding itself."""
        texts = list(texts)
        kw = dict(return_attention_mask=False, return_token_type_ids=False)
        if not self.prompt and not self.token_prepending and self.rewrite == "none":
            return self.tokenizer(texts, truncation=True, max_length=self.max_length, **kw)[
                "input_ids"
            ]
        ids = self.tokenizer(self.format_texts(texts), **kw)["input_ids"]
        for i, x in enumerate(ids):
            if len(x) > self.max_length:
                ids[i] = self._fit_prompted(texts[i], len(x) - self.max_length)
        return ids

    def _fit_prompted(self, text: str, overflow: int) -> list[int]:
        """The prompted token ids of ``text`` with the sentence cut by (about) ``overflow``
        tokens, re-checked until the whole fits in ``max_length``."""
        kw = dict(return_attention_mask=False, return_token_type_ids=False)
        own = self.tokenizer(text, add_special_tokens=False, **kw)["input_ids"]
        keep = len(own) - overflow
        while keep > 0:
            cut = self.tokenizer.decode(own[:keep], skip_special_tokens=True)
            x = self.tokenizer(self.format_texts([cut]), **kw)["input_ids"][0]
            if len(x) <= self.max_length:
                return x
            keep -= max(1, len(x) - self.max_length)
        raise InvalidInputError(
            f"the prompt of {self.name} alone is longer than max_length={self.max_length} "
            "tokens; pass a larger max_length or a shorter prompt"
        )

    def _pad(self, ids: list[list[int]]):
        torch = self._torch
        width = max(len(x) for x in ids)
        pad = self.tokenizer.pad_token_id
        input_ids = torch.full((len(ids), width), pad, dtype=torch.long)
        mask = torch.zeros((len(ids), width), dtype=torch.long)
        left = self.tokenizer.padding_side == "left"
        for i, x in enumerate(ids):
            n = len(x)
            if left:
                input_ids[i, width - n :] = torch.tensor(x)
                mask[i, width - n :] = 1
            else:
                input_ids[i, :n] = torch.tensor(x)
                mask[i, :n] = 1
        return input_ids, mask

    def _position_ids(self, mask):
        """Positions counted from each row's first real token, for left-padded decoder rows
        (as ``generate`` does): a left-padded sentence then sees the positions it has alone.
        None where nothing is left-padded or the model takes no ``position_ids``."""
        if not (self.is_decoder and self._takes_position_ids) or not bool((mask[:, 0] == 0).any()):
            return None
        pos = mask.long().cumsum(-1) - 1
        return pos.masked_fill(mask == 0, 1)

    def forward_pooled(self, input_ids, mask):
        """Pooled vectors of one padded batch (a torch tensor on the model's device)."""
        need_all = self.layer is not None or self.pooling in NEEDS_ALL_LAYERS
        kwargs = dict(input_ids=input_ids, attention_mask=mask, output_hidden_states=need_all)
        pos = self._position_ids(mask)
        if pos is not None:
            kwargs["position_ids"] = pos
        out = self.model(**kwargs)
        if self.pooling == "pooler":
            pooled = getattr(out, "pooler_output", None)
            if pooled is None:
                raise WorkbenchError(
                    f"{self.name} has no pooler output; use pooling='cls' or 'mean'"
                )
            return pooled
        if self.pooling == "first-last-avg":
            return first_last_avg(out.hidden_states, mask)
        hidden = out.hidden_states[self.layer] if self.layer is not None else out.last_hidden_state
        return TOKEN_POOLERS[self.pooling](hidden, mask)

    def _encode(self, texts: Sequence[str], batch_size: int, show_progress: bool) -> np.ndarray:
        torch = self._torch
        from tqdm.auto import tqdm

        if batch_size < 1:
            raise InvalidInputError(f"batch_size must be >= 1, got {batch_size}")
        ids = self.tokenize(texts)
        empty = [i for i, x in enumerate(ids) if len(x) == 0]
        if empty:
            raise InvalidInputError(
                f"{len(empty)} texts tokenise to nothing (first at position {empty[0]}); "
                "remove empty texts"
            )
        # Longest first: padding waste is minimal and an out-of-memory error comes at once.
        order = np.argsort([-len(x) for x in ids], kind="stable")
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        bar = tqdm(
            total=len(texts), unit="sent", desc=f"encoding ({self.name})", disable=not show_progress
        )
        with torch.inference_mode():
            for start in range(0, len(order), batch_size):
                idx = order[start : start + batch_size]
                input_ids, mask = self._pad([ids[i] for i in idx])
                try:
                    pooled = self.forward_pooled(input_ids.to(self.device), mask.to(self.device))
                except torch.OutOfMemoryError:
                    raise WorkbenchError(
                        f"out of memory encoding a batch of {len(idx)} texts of up to "
                        f"{input_ids.shape[1]} tokens on {self.device}; pass a smaller "
                        "batch_size or max_length"
                    ) from None
                out[idx] = pooled.float().cpu().numpy()
                bar.update(len(idx))
        bar.close()
        return out


def _decoder_layers(model, num_layers: int):
    """The list of decoder blocks (Llama/Mistral/Qwen ``layers``, GPT-2 ``h``, OPT
    ``decoder.layers``), or None."""
    for path in ("layers", "model.layers", "h", "transformer.h", "decoder.layers"):
        obj = model
        for part in path.split("."):
            obj = getattr(obj, part, None)
        if obj is not None and len(obj) == num_layers:
            return obj
    return None


class _TokenPrepender:
    """Token Prepending installed on a model through hooks that stay on it, so every forward
    pass of that model (``forward_pooled``, the layer-by-layer encoder of
    :mod:`workbench.geometry.layers`, ...) is the Token Prepending forward pass.

    The placeholder is a token added to the tokenizer (like the reference's
    ``tokenizer.add_tokens(['<PST>'])``), so the text around it tokenises as in the reference.
    Its id is new: never padding, never EOS, and never produced by a text (texts containing its
    string are refused). The model's embedding matrix is left as it is: a pre-hook on the model
    embeds the ids itself with the placeholder's vector at its position. At the input of each
    decoder layer ``start <= i < end`` the placeholder's state is overwritten with the state of
    the row's last real token (found from the attention mask, so left and right padding give the
    same result), as ``senllm/modeling_llama.py`` lines 547-568 of the reference do with
    ``hidden_states[:, -1, :]`` on left-padded batches.
    """

    def __init__(self, model, tokenizer, tp: TokenPrepending, layers) -> None:
        import torch

        if PLACEHOLDER in tokenizer.get_vocab():
            raise WorkbenchError(
                f"token_prepending: the tokenizer already has a token {PLACEHOLDER!r}"
            )
        vocab = len(tokenizer)
        tokenizer.add_tokens([PLACEHOLDER])
        self.id = tokenizer.convert_tokens_to_ids(PLACEHOLDER)
        if self.id < vocab:
            raise WorkbenchError("token_prepending: the placeholder did not get a new token id")
        self.embedding = model.get_input_embeddings()
        weight = self.embedding.weight
        if tp.init == "randn":
            gen = torch.Generator().manual_seed(tp.seed)
            vector = torch.randn(weight.shape[1], generator=gen, dtype=torch.float32)
        else:
            vector = weight.detach()[: min(vocab, weight.shape[0])].float().mean(0)
        self.vector = vector.to(device=weight.device, dtype=weight.dtype)
        self._params = list(inspect.signature(model.forward).parameters)
        self._state = None
        self.handles = [
            model.register_forward_pre_hook(self._before_model, with_kwargs=True),
            model.register_forward_hook(self._after_model, always_call=True),
            *(
                layers[i].register_forward_pre_hook(
                    self._before_layer, with_kwargs=True, prepend=True
                )
                for i in range(tp.start, tp.end)
            ),
        ]

    def _before_model(self, module, args, kwargs):
        import torch

        if args:  # positional arguments by name: input_ids, attention_mask, ...
            kwargs = {**dict(zip(self._params, args, strict=False)), **kwargs}
        ids = kwargs.get("input_ids")
        if ids is None:
            raise WorkbenchError(
                "token_prepending: call the model with input_ids (the placeholder is found there)"
            )
        is_ph = ids == self.id
        count = is_ph.sum(dim=1)
        if not bool((count == 1).all()):
            raise WorkbenchError(
                "token_prepending: every row needs exactly one placeholder token; found "
                f"{sorted(set(count.tolist()))} (was the template's placeholder truncated?)"
            )
        pst = is_ph.int().argmax(dim=1)
        mask = kwargs.get("attention_mask")
        positions = torch.arange(ids.shape[1], device=ids.device).expand_as(ids)
        if mask is None:
            last = torch.full_like(pst, ids.shape[1] - 1)
        else:
            last = (positions * (mask != 0).long()).max(dim=1).values
        if not bool((pst < last).all()):
            raise WorkbenchError("token_prepending: the placeholder must come before the text")
        embeds = self.embedding(ids.masked_fill(is_ph, 0))
        rows = torch.arange(ids.shape[0], device=ids.device)
        embeds[rows, pst] = self.vector.to(embeds.dtype)
        self._state = (rows, pst, last)
        return (), {**kwargs, "input_ids": None, "inputs_embeds": embeds}

    def _after_model(self, module, args, output):
        self._state = None

    def _before_layer(self, module, args, kwargs):
        if self._state is None:
            return None
        rows, pst, last = self._state
        hidden = (args[0] if args else kwargs["hidden_states"]).clone()
        hidden[rows, pst] = hidden[rows, last]
        if args:
            return (hidden, *args[1:]), kwargs
        return args, {**kwargs, "hidden_states": hidden}
