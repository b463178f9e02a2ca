"""Self Positioning (workbench.training.methods.merge). The paper published no code, so the
checks are the method's definition: the merged forward pass equals a model holding
``theta_0 + sum_i alpha_i tau_i``, the gradient in ``alpha`` equals the chain rule
``<dL/dtheta, tau_i>``, and the exported folder holds exactly the merged weights; plus a tiny
run read by both loaders, and clear errors."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from test_distributed import SENTS, make_tiny_bert, write_data

from workbench.errors import InvalidInputError
from workbench.training import TrainConfig, train
from workbench.training.methods.merge import MergeTrainer


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    from transformers import AutoModel, AutoTokenizer

    folder = tmp_path_factory.mktemp("merge")
    make_tiny_bert(folder / "model")
    write_data(folder)
    base = AutoModel.from_pretrained(folder / "model")
    tok = AutoTokenizer.from_pretrained(folder / "model")
    g = torch.Generator().manual_seed(1)
    for i in range(2):  # two "fine-tuned" variants: the base plus different small steps
        m = AutoModel.from_pretrained(folder / "model")
        with torch.no_grad():
            for p in m.parameters():
                p.add_(0.05 * torch.randn(p.shape, generator=g))
        m.save_pretrained(folder / f"v{i}")
        tok.save_pretrained(folder / f"v{i}")
    del base
    return folder


def _config(tiny, **kw):
    opts = dict(
        recipe="merge",
        base=str(tiny / "model"),
        data=str(tiny / "graded.tsv"),
        batch_size=4,
        max_len=16,
        steps=2,
        eval_data=None,
        show_progress=False,
        device="cpu",
        options={"variants": [str(tiny / "v0"), str(tiny / "v1")], "init": 0.3},
    )
    opts.update(kw)
    return TrainConfig(**opts)


def _state(folder):
    from transformers import AutoModel

    return {k: v.double() for k, v in AutoModel.from_pretrained(folder).state_dict().items()}


def test_merged_forward_and_alpha_gradient(tiny):
    from transformers import AutoModel

    trainer = MergeTrainer(_config(tiny))
    with torch.no_grad():
        trainer.weights.alpha.copy_(torch.tensor([0.3, -0.2]))
    rows = [trainer.token_ids[i] for i in range(4)]
    ids, mask = trainer.encoder._pad(rows)
    trainer.model.eval()
    got, _ = trainer.embed(ids, mask, [])

    # an independent model holding theta_0 + 0.3 tau_0 - 0.2 tau_1, computed in float64
    base, v0, v1 = _state(tiny / "model"), _state(tiny / "v0"), _state(tiny / "v1")
    ref_model = AutoModel.from_pretrained(tiny / "model").eval()
    merged = {k: base[k] + 0.3 * (v0[k] - base[k]) - 0.2 * (v1[k] - base[k]) for k in base}
    ref_model.load_state_dict({k: v.float() for k, v in merged.items()})
    states = ref_model(input_ids=ids, attention_mask=mask).last_hidden_state
    m = mask.unsqueeze(-1).float()
    ref = (states * m).sum(1) / m.sum(1)
    # float32 weights rounded once (relative 6e-8) through 3 small layers: 1e-5 absolute
    np.testing.assert_allclose(got.detach().numpy(), ref.detach().numpy(), atol=1e-5)

    # d(sum of embeddings)/d(alpha_i) = sum over parameters of <dL/dtheta, tau_i>
    got.sum().backward()
    ref.sum().backward()
    for i, v in enumerate((v0, v1)):
        chain = sum(
            float((p.grad.double() * (v[n] - base[n])).sum())
            for n, p in ref_model.named_parameters()
            if p.grad is not None
        )
        assert float(trainer.weights.alpha.grad[i]) == pytest.approx(chain, rel=1e-4, abs=1e-6)


def test_merge_trains_and_exports_the_merged_weights(tiny, tmp_path):
    from sentence_transformers import SentenceTransformer

    import workbench as wb

    res = train(
        "merge",
        base=str(tiny / "model"),
        data=str(tiny / "graded.tsv"),
        out=tmp_path / "run",
        steps=3,
        batch_size=4,
        lr=0.05,
        max_len=16,
        eval_data=str(tiny / "graded.tsv"),
        eval_every=3,
        show_progress=False,
        device="cpu",
        options={"variants": f"{tiny / 'v0'},{tiny / 'v1'}"},
    )
    info = json.loads((res.out / "workbench_training.json").read_text())
    alpha = info["merge"]["weights"]
    assert len(alpha) == 2 and alpha != [0.5, 0.5]  # it moved from the 1/K start
    base, v0, v1 = _state(tiny / "model"), _state(tiny / "v0"), _state(tiny / "v1")
    out = _state(res.out)
    for k in base:
        want = base[k] + alpha[0] * (v0[k] - base[k]) + alpha[1] * (v1[k] - base[k])
        # alpha is recorded to 6 decimals; tau entries are ~0.05-0.2: 1e-6 absolute
        np.testing.assert_allclose(out[k].numpy(), want.numpy(), atol=2e-6)
    ours = wb.load_encoder(res.out).encode(SENTS, cache=False)
    theirs = SentenceTransformer(str(res.out), device="cpu").encode(SENTS)
    np.testing.assert_allclose(ours, theirs, atol=1e-5)


def test_merge_bad_input(tiny, tmp_path):
    with pytest.raises(InvalidInputError, match="merge needs variants"):
        MergeTrainer(_config(tiny, options={}))
    with pytest.raises(InvalidInputError, match="is not a model folder"):
        MergeTrainer(_config(tiny, options={"variants": [str(tmp_path)]}))
    with pytest.raises(InvalidInputError, match="reg must be >= 0"):
        MergeTrainer(_config(tiny, options={"variants": [str(tiny / "v0")], "reg": -1}))
    from transformers import BertConfig, BertModel

    other = BertModel(
        BertConfig(
            vocab_size=30522,
            hidden_size=16,
            num_hidden_layers=1,
            num_attention_heads=2,
            intermediate_size=32,
            max_position_embeddings=64,
        )
    )
    other.save_pretrained(tmp_path / "other")
    with pytest.raises(InvalidInputError, match="does not have the base's parameters"):
        MergeTrainer(_config(tiny, options={"variants": [str(tmp_path / "other")]}))
    (tmp_path / "sentences.txt").write_text("\n".join(SENTS) + "\n")
    with pytest.raises(InvalidInputError, match="needs graded or pairs or triplets data"):
        MergeTrainer(_config(tiny, data=str(tmp_path / "sentences.txt")))
