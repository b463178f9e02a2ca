"""`workbench study`: recipes side by side on one budget, cached, with paired significance."""

from __future__ import annotations

import importlib
import json

import numpy as np
import pytest
from test_distributed import make_tiny_bert, write_data

from workbench.errors import InvalidInputError

# the module (workbench.training's `study` attribute is the function of the same name)
S = importlib.import_module("workbench.training.study")


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tiny-study")
    make_tiny_bert(folder / "model")
    write_data(folder)
    return folder


def _study(tiny, out, **kw):
    opts = dict(
        base=str(tiny / "model"),
        steps=2,
        seeds=[1, 2],
        out=out,
        batch_size=4,
        max_len=16,
        lr=1e-3,
        data=str(tiny / "graded.tsv"),
        tasks=["STSBenchmark", "SICKRelatedness"],
        max_pairs=40,
        n_boot=50,
        geometry_texts="trec",
        geometry_max_n=60,
        id_methods=("twonn",),
        eval_data=str(tiny / "graded.tsv"),
        device="cpu",
        show_progress=False,
    )
    opts.update(kw)
    return S.study(["cosent", "pcc"], **opts)


def test_study_table_is_consistent_and_cached(tiny, tmp_path, monkeypatch):
    res = _study(tiny, tmp_path / "study")
    t = res.table.set_index("recipe")
    assert list(t.index) == [f"base ({tiny / 'model'})", "cosent", "pcc"]
    assert len(res.runs) == 4 and set(res.runs["seed"]) == {1, 2}
    # the average is the mean of the tasks, within its interval
    for _, row in t.iterrows():
        assert row["avg"] == pytest.approx((row["STSBenchmark"] + row["SICKRelatedness"]) / 2)
        assert row["avg_lo"] <= row["avg"] <= row["avg_hi"]
    # a recipe's row is the mean over its seeds; d_base is that mean minus the base's
    for recipe in ("cosent", "pcc"):
        per_seed = res.runs[res.runs["recipe"] == recipe]
        assert t.loc[recipe, "avg"] == pytest.approx(per_seed["avg"].mean())
        assert t.loc[recipe, "d_base"] == pytest.approx(
            t.loc[recipe, "avg"] - t.iloc[0]["avg"], abs=1e-9
        )
        assert 0 < t.loc[recipe, "p_base"] <= 1
        assert t.loc[recipe, "retained@25%"] > 0
    best = res.settings["best_baseline"]
    other = "pcc" if best == "cosent" else "cosent"
    assert t.loc[best, "avg"] >= t.loc[other, "avg"]
    assert t.loc[other, "d_best_baseline"] == pytest.approx(
        t.loc[other, "avg"] - t.loc[best, "avg"], abs=1e-9
    )
    assert json.loads((tmp_path / "study" / "study.json").read_text())["settings"]["steps"] == 2

    # running it again trains nothing and measures nothing: everything comes from the folder
    def boom(*a, **k):
        raise AssertionError("recomputed")

    monkeypatch.setattr("workbench.geometry.suite.measure_encoder", boom)
    monkeypatch.setattr("workbench.evaluation.sts.predict", boom)
    again = _study(tiny, tmp_path / "study")
    np.testing.assert_allclose(
        again.table.select_dtypes("number").to_numpy(),
        res.table.select_dtypes("number").to_numpy(),
    )


def test_study_refuses_bad_input(tiny, tmp_path):
    with pytest.raises(InvalidInputError, match="listed twice"):
        S.study(["cosent", "cosent"], out=tmp_path)
    with pytest.raises(InvalidInputError, match="seeds"):
        S.study(["cosent"], seeds=[1, 1], out=tmp_path)
    with pytest.raises(InvalidInputError, match="options for recipes not in the study"):
        S.study(["cosent"], options={"pcc": {}}, out=tmp_path)
    with pytest.raises(InvalidInputError, match="RECIPE.KEY=VALUE"):
        S._parse_opts(["mine_every=3"])
    assert S._parse_opts(["conan.mine-every=3", "conan.x=a"]) == {
        "conan": {"mine_every": 3, "x": "a"}
    }


def test_train_cli_lists_recipes_and_refuses_unknown_options(capsys, tmp_path):
    from workbench.cli import main
    from workbench.training.recipes import METHODS, RECIPES

    with pytest.raises(SystemExit):
        main(["train", "--help"])
    text = capsys.readouterr().out
    for name in RECIPES:  # every recipe, seed-paper methods included, with what it trains
        assert f"  {name} " in text
    assert set(METHODS) <= set(RECIPES)
    rc = main(["train", "--recipe", "cosent", "--out", str(tmp_path / "r"), "--opt", "x=1"])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and len(err.splitlines()) == 1
    assert "does not take option(s) x" in err and "no options" in err
    rc = main(["train", "--recipe", "nope", "--out", str(tmp_path / "r")])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and "unknown recipe 'nope'" in err and len(err.splitlines()) == 1
    assert not (tmp_path / "r").exists()


def test_study_replaces_runs_made_with_other_settings(tiny, tmp_path):
    first = _study(tiny, tmp_path / "study", seeds=[1])
    assert set(first.runs["steps"]) == {2}
    # another budget in the same folder retrains (the folder is the study's cache), and the
    # user's own files beside the runs stay
    (tmp_path / "study" / "notes.txt").write_text("mine")
    again = _study(tiny, tmp_path / "study", seeds=[1], steps=3)
    assert set(again.runs["steps"]) == {3}
    assert (tmp_path / "study" / "notes.txt").read_text() == "mine"
