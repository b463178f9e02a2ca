"""Prompts for sentence embeddings from decoder LLMs: templates, named presets, Token Prepending.

A template contains ``{text}`` where the sentence goes; the embedding is the last token's state
(``pooling="last-token"``), so the template ends just before the word the model is asked to
produce. A **preset** is a template together with everything else its paper's code does to get
a number: how each sentence is rewritten before it goes into the template, and which hidden
layer is read. Asking for a preset by name (``prompt="pretended-cot"``) gives the paper's
setting; anything else is opt-in by argument (``layer=-1``, ``rewrite="none"``) and is
recorded in the encoder's ``describe()`` and cache key.

============================  ==========  =====================  ================================
preset (aliases)              rewrite     read-out without TP    read-out with TP
============================  ==========  =====================  ================================
``prompteol``                 ``eol``     ``hidden_states[-1]``  ``hidden_states[round(27L/32)]``
``pretended-cot`` (``cot``)   ``eol``     ``hidden_states[-2]``  ``hidden_states[-2]``
``knowledge`` (``ke``)        ``eol``     ``hidden_states[-2]``  ``hidden_states[-2]``
============================  ==========  =====================  ================================

Templates: ``prompteol`` ``This sentence : "{text}" means in one word:"``; ``pretended-cot``
``After thinking step by step , this sentence : "{text}" means in one word:"``; ``knowledge``
``The essence of a sentence is often captured by its main subjects and actions, while
descriptive terms provide additional but less central details. With this in mind , this
sentence : "{text}" means in one word:"``. With Token Prepending (``token_prepending=True``,
see :class:`TokenPrepending`) the placeholder goes before the opening quote with a space,
``... : <PST> "{text}" ...``, and the read-out of ``prompteol`` moves to layer
``round(27 L / 32)`` (25 of SmolLM2's 30 layers).

``hidden_states`` counts as transformers does: ``[0]`` the input embeddings, ``[i]`` the output
of decoder layer ``i``, ``[L]`` the last layer after the final norm; ``[-2]`` is the output of
layer ``L - 1`` before any norm. A custom template (any string with ``{text}``) gets no
rewriting and the last layer unless asked.

Sentence rewriting (``rewrite=``), before the sentence goes into the template:

- ``eol``: what the reference batchers do, in their order: SentEval hands the batcher
  whitespace-split words, which it joins with single spaces (so runs of spaces collapse and the
  ends are trimmed); a final ``.`` is added unless the sentence ends in ``. ? " '``; every
  ``"`` becomes ``'``; a final ``?`` becomes ``.``; the filled-in template is ``strip()``-ed.
- ``none``: the sentence goes in as it is.

Sources (read at these commits):

- PromptEOL, Jiang et al. 2023 "Scaling Sentence Embeddings with Large Language Models":
  kongds/scaling_sentemb@8567aa083c1b3c77586670f91e7f78eb80694ad3, ``evaluation.py``
  ``batcher`` (lines 180-229: the rewriting rules, ``hidden_states[-1][:, -1, :]``).
- Pretended CoT and Knowledge Enhancement, Zhang et al. 2024 "Simple Techniques for Enhancing
  Sentence Embeddings in Generative Language Models":
  ZBWpro/PretCoTandKE@ad3a79991e3c93e80929d3e47282e719ecd0edde, ``settings.py`` (templates) and
  ``evaluation.py`` lines 223-275 (same rules; ``hidden_states[-2][:, -1, :]`` for both).
- Token Prepending, Fu et al. 2025 (ACL): fuyuchenIfyw/token_prepending@
  cc41b58696d6dceed9a92a840231728ad1d5b58b, ``evaluate.py`` lines 213-228 (a new ``<PST>``
  token with a ``torch.randn`` input embedding), 283-297 (templates ``... : <PST> "*sent 0*"
  ...``), 301-336 (same rules; ``hidden_states[output_layer][:, -1, :]``); ``config.yaml``
  (Llama-2-7B, 32 layers: ``tp_starting_index: 1``, ``tp_exiting_index: 7``,
  ``output_layer: 27`` for PromptEOL, ``-2`` for CoT/KE); ``senllm/modeling_llama.py`` lines
  519-568 (the input of decoder layers ``start <= index < exit`` gets the last position's state
  written into the ``<PST>`` position).

All three use the tokenizer's own defaults (``batch_encode_plus`` with ``add_special_tokens``
on: Llama's BOS is added, SmolLM2's tokenizer adds none), left padding and the last position:
the workbench tokenises with the same defaults and pools the last real token, which is the same
vector for any padding side.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass

from ..errors import InvalidInputError, UnknownNameError


def eol_rewrite(sentence: str) -> str:
    """A sentence as the PromptEOL/PretCoT/TP batchers put it into their templates."""
    s = " ".join(sentence.split())  # SentEval's split(), then the batcher's ' '.join
    if len(s) > 0 and s[-1] not in ".?\"'":
        s += "."
    s = s.replace('"', "'")
    if len(s) > 0 and s[-1] == "?":
        s = s[:-1] + "."
    return s


#: sentence rewriting by name: (rewrite of the sentence, strip the filled-in template)
REWRITES: dict[str, tuple[Callable[[str], str], bool]] = {
    "none": (lambda s: s, False),
    "eol": (eol_rewrite, True),
}


@dataclass(frozen=True)
class PromptPreset:
    """A prompt method as its paper's code computes it.

    ``readout`` and ``tp_readout`` name the hidden layer read: ``"-1"`` the last, ``"-2"``
    the one before (transformers' ``hidden_states[-2]``), ``"27/32"`` layer ``round(27 L /
    32)`` of an ``L``-layer model (a setting made for a 32-layer model, scaled to depth).
    """

    name: str
    template: str
    rewrite: str
    readout: str
    tp_readout: str
    source: str
    aliases: tuple[str, ...] = ()


PRESETS: dict[str, PromptPreset] = {
    p.name: p
    for p in [
        PromptPreset(
            "prompteol",
            'This sentence : "{text}" means in one word:"',
            rewrite="eol",
            readout="-1",
            tp_readout="27/32",
            source="Jiang et al. 2023 (kongds/scaling_sentemb evaluation.py); with TP: Fu et "
            "al. 2025 config.yaml llama-2-7b-tp",
        ),
        PromptPreset(
            "pretended-cot",
            'After thinking step by step , this sentence : "{text}" means in one word:"',
            rewrite="eol",
            readout="-2",
            tp_readout="-2",
            source="Zhang et al. 2024 (ZBWpro/PretCoTandKE evaluation.py)",
            aliases=("cot", "pretended_cot", "pretcot"),
        ),
        PromptPreset(
            "knowledge",
            "The essence of a sentence is often captured by its main subjects and actions, "
            "while descriptive terms provide additional but less central details. With this in "
            'mind , this sentence : "{text}" means in one word:"',
            rewrite="eol",
            readout="-2",
            tp_readout="-2",
            source="Zhang et al. 2024 (ZBWpro/PretCoTandKE evaluation.py)",
            aliases=("ke", "knowledge-enhancement", "knowledge_enhancement"),
        ),
    ]
}

#: preset name -> template (kept for callers that only want the text)
PROMPTS: dict[str, str] = {name: p.template for name, p in PRESETS.items()}


def resolve_rewrite(name: str) -> str:
    """Canonical rewriting name, or an error naming the choices."""
    key = str(name).strip().lower()
    if key not in REWRITES:
        raise UnknownNameError(
            f"unknown sentence rewriting {name!r}; choose one of {', '.join(REWRITES)}"
        )
    return key


def find_preset(prompt: str | None) -> PromptPreset | None:
    """The preset called ``prompt`` (name or alias, any case), else None."""
    if prompt is None:
        return None
    key = str(prompt).strip().lower()
    for p in PRESETS.values():
        if key == p.name or key in p.aliases:
            return p
    return None


def resolve_prompt(prompt: str | None) -> tuple[str | None, str | None]:
    """(preset name or None, template or None) for a name, a template or None/"none"."""
    if prompt is None or str(prompt).strip().lower() in ("", "none"):
        return None, None
    preset = find_preset(prompt)
    if preset is not None:
        return preset.name, preset.template
    if "{text}" not in prompt:
        names = ", ".join(n for p in PRESETS.values() for n in (p.name, *p.aliases))
        raise InvalidInputError(
            f"prompt {prompt!r} is neither a preset ({names}) nor a template containing {{text}}"
        )
    return None, prompt


def readout_layer(rule: str, num_layers: int) -> int:
    """The ``hidden_states`` index (0..L) that a read-out rule names for an L-layer model."""
    if "/" in rule:
        num, den = (int(x) for x in rule.split("/"))
        return min(num_layers, max(1, round(num * num_layers / den)))
    k = int(rule)
    return k % (num_layers + 1) if k < 0 else min(k, num_layers)


#: the string the Token Prepending placeholder is added to the tokenizer as; any text that
#: contains it is refused, so the placeholder id can only come from the template
PLACEHOLDER = "<|wb-token-prepending|>"


@dataclass(frozen=True)
class TokenPrepending:
    """Token Prepending's settings (Fu et al. 2025).

    A placeholder token is put before the sentence (``<PST> "{text}"``, a space before the
    opening quote, as in the reference templates). At the input of decoder layers
    ``start <= i < end`` (0-based) its state is overwritten with the last token's state, so the
    sentence's tokens can attend to a summary of the whole sentence despite causal attention.

    ``start``/``end`` default to the reference's Llama-2-7B setting (1 and 7 of 32 layers):
    ``start = 1`` and ``end = max(start + 1, round(7 L / 32))``, so layers 1-6 of SmolLM2's 30.
    ``init`` is the placeholder's input embedding: ``"randn"`` (default) draws it from a
    standard normal like the reference's ``torch.randn(dim)``, but from a CPU generator seeded
    with ``seed`` so the vector is the same on every machine (the reference's comes from the
    CUDA generator seeded 3407 and cannot be reproduced on a CPU); ``"mean"`` uses the mean
    input embedding. It only enters decoder layers before ``start`` (later its state is
    overwritten), and there only through a pre-norm (RMSNorm/LayerNorm), so only its direction
    matters.
    """

    start: int | None = None
    end: int | None = None
    init: str = "randn"
    seed: int = 3407

    def resolved(self, num_layers: int) -> TokenPrepending:
        """These settings with start/end filled in for an L-layer model, checked."""
        start = 1 if self.start is None else int(self.start)
        end = max(start + 1, round(7 * num_layers / 32)) if self.end is None else int(self.end)
        if not 0 <= start < end <= num_layers:
            raise InvalidInputError(
                f"token_prepending layers ({start}, {end}) must satisfy "
                f"0 <= start < end <= {num_layers}"
            )
        if self.init not in ("randn", "mean"):
            raise InvalidInputError(
                f"token_prepending init {self.init!r}: choose 'randn' or 'mean'"
            )
        return TokenPrepending(start, end, self.init, int(self.seed))

    def config(self) -> dict:
        """What changes the numbers, for the cache key."""
        out = {"layers": [self.start, self.end], "placeholder": "new-token", "init": self.init}
        if self.init == "randn":
            out["seed"] = self.seed
        return out

    @classmethod
    def from_arg(cls, arg) -> TokenPrepending | None:
        """``False``/``None`` (off), ``True`` (the reference setting), ``(start, end)``, a
        dict of fields, or a :class:`TokenPrepending`."""
        if arg is None or arg is False:
            return None
        if arg is True:
            return cls()
        if isinstance(arg, cls):
            return arg
        if isinstance(arg, dict):
            return cls(**arg)
        try:
            start, end = arg
        except (TypeError, ValueError):
            raise InvalidInputError(
                f"token_prepending must be True, (start, end) or TokenPrepending(...), got {arg!r}"
            ) from None
        return cls(int(start), int(end))


def describe_presets() -> list[dict]:
    """The presets as records (for ``workbench encoders`` and notebooks)."""
    return [{k: v for k, v in asdict(p).items()} for p in PRESETS.values()]
