"""The dashboard notebook in a real JupyterLab, driven by headless Chromium (Playwright).

Starts ``jupyter lab`` on loopback (``--allow-root``: CI runs as root), opens
``notebooks/06_dashboard.ipynb`` (a copy, so no output is written back) with ``?reset``, runs
all cells, waits for the dashboard, changes the datasets control, and checks that the STS
table and the bar chart both change. Screenshots go to the pytest tmp dir, and to
``docs/screenshots/`` when ``WORKBENCH_UPDATE_SCREENSHOTS=1``. The server is stopped by its
PID. Needs Debian's ``/usr/bin/chromium`` (``.ci/prepare`` installs it) and the ``playwright``
package; Playwright never downloads a browser here.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
NOTEBOOK = REPO / "notebooks" / "06_dashboard.ipynb"
CHROMIUM = os.environ.get("WORKBENCH_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOTS = REPO / "docs" / "screenshots"
MINILM = "all-MiniLM-L6-v2"

# A browser-driven UI test can lose a click or a websocket message on a loaded 2-core machine;
# one rerun (pytest-rerunfailures) separates that from a real failure, which fails twice.
pytestmark = [pytest.mark.slow, pytest.mark.flaky(reruns=1, reruns_delay=5)]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_http(
    url: str, proc: subprocess.Popen, log: Path, timeout: float = 120, any_status: bool = False
) -> None:
    """Wait until ``url`` answers 200 (or anything, with ``any_status``: the server is up)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"the server exited early:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(url, timeout=5) as r:
                if r.status == 200:
                    return
        except urllib.error.HTTPError:
            if any_status:
                return
            time.sleep(0.5)
        except OSError:
            time.sleep(0.5)
    raise AssertionError(f"the server did not answer within {timeout}s:\n{log.read_text()[-3000:]}")


def _start_lab(
    tmp: Path, root: Path, token: str, port: int, runtime: Path
) -> tuple[subprocess.Popen, Path]:
    """JupyterLab with its own config, runtime and workspace folders (nothing from ~ leaks in)."""
    config = tmp / "jupyter-config"
    (config / "labconfig").mkdir(parents=True)
    # no "news" toast over the page in the screenshot
    (config / "labconfig" / "page_config.json").write_text(
        json.dumps({"disabledExtensions": {"@jupyterlab/apputils-extension:announcements": True}})
    )
    env = dict(os.environ)
    env.update(
        JUPYTER_CONFIG_DIR=str(config),
        JUPYTER_RUNTIME_DIR=str(runtime),  # kernels' unix sockets: a short path
        JUPYTERLAB_WORKSPACES_DIR=str(tmp / "jupyter-workspaces"),
        JUPYTERLAB_SETTINGS_DIR=str(tmp / "jupyter-settings"),
        WORKBENCH_QUICK="1",
        PYTHONUNBUFFERED="1",
    )
    log = tmp / "jupyter-lab.log"
    cmd = [
        sys.executable,
        "-m",
        "jupyterlab",
        "--allow-root",
        "--no-browser",
        f"--port={port}",
        "--ServerApp.ip=127.0.0.1",
        f"--ServerApp.token={token}",
        f"--ServerApp.root_dir={root}",
        "--ServerApp.port_retries=0",
        # kernels on unix sockets: TCP ports picked by several jobs at once can collide, and
        # a kernel then answers another job's server
        "--KernelManager.transport=ipc",
        "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
    ]
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            cmd, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=root, start_new_session=True
        )
    return proc, log


def _keep_screenshot(src: Path) -> None:
    """Copy a screenshot to docs/screenshots/ (256 colours: small enough for the repo)."""
    from PIL import Image

    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    img = Image.open(src).convert("RGB")
    img.quantize(colors=256, method=Image.Quantize.MEDIANCUT).save(
        SCREENSHOTS / src.name, optimize=True
    )


def _stop(proc: subprocess.Popen) -> None:
    """Stop the server by its PID (SIGTERM: it shuts its kernels down), then make sure."""
    if proc.poll() is not None:
        return
    os.kill(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)


_PLOT_STATE = """(sel) => {
  const gd = document.querySelector(sel + ' .js-plotly-plot');
  if (!gd || !gd.data) return null;
  return JSON.stringify({ticks: (gd.layout.xaxis || {}).ticktext || null,
                         traces: gd.data.map(t => [t.type, t.name || '', (t.y || []).length])});
}"""


_TABLE_CELLS = """(sel) => {
  const t = document.querySelector(sel);
  const head = [...t.querySelectorAll('thead th')].map(c => c.innerText.trim());
  const rows = [...t.querySelectorAll('tbody tr')].map(
    r => [...r.querySelectorAll('th, td')].map(c => c.innerText.trim()));
  return {head, rows};
}"""


def _check_marks(cells: dict, aggregation: str) -> None:
    """The marks the browser shows are those of the paired test on ``aggregation``,
    recomputed here from the notebook's methods on the same pairs (quick setting, same
    seed and number of replicates; the embeddings come from the shared cache)."""
    from workbench.plotting.sts import stars
    from workbench.widgets.core import Method, Workspace, significance
    from workbench.widgets.dashboard import QUICK_MAX_PAIRS

    methods = [Method(MINILM), Method(MINILM, pooling="cls"), Method("glove-6b-50d")]
    ws = Workspace(n_boot=300)  # the dashboard's quick setting
    _, preds = ws.results(methods, ["STS12", "STSBenchmark"], QUICK_MAX_PAIRS)
    sig = significance(preds, methods[0].name, n_boot=300, aggregation=aggregation)
    head = cells["head"]
    shown = {row[0]: dict(zip(head[1:], row[1:])) for row in cells["rows"]}
    marked = 0
    for r in sig.itertuples():
        cell = shown[r.encoder]["STS-B" if r.task == "STSBenchmark" else r.task]
        mark = stars(r.p_value)
        if mark:
            marked += 1
            assert cell.endswith((" ↑" if r.delta > 0 else " ↓") + mark), (cell, r)
        else:
            assert "↑" not in cell and "↓" not in cell, (cell, r)
    assert marked >= 1  # GloVe is far below MiniLM: at least one mark to compare


def _kernel_states(port: int, token: str) -> list[str]:
    """Execution states of the server's kernels, from its REST API."""
    url = f"http://127.0.0.1:{port}/api/kernels?token={token}"
    try:
        with urllib.request.urlopen(url, timeout=10) as r:
            return [k.get("execution_state", "?") for k in json.loads(r.read())]
    except (OSError, ValueError):
        return []


def _wait_kernel_idle(port: int, token: str, proc, log: Path, timeout: float = 300) -> None:
    """Wait for the notebook's kernel to be started and idle (a cold start on a 2-core CI
    machine can take a while: first imports, first bytecode compilation)."""
    deadline = time.monotonic() + timeout
    states: list[str] = []
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"jupyter lab exited early:\n{log.read_text()[-3000:]}")
        states = _kernel_states(port, token)
        if states and all(s == "idle" for s in states):
            return
        time.sleep(1)
    raise AssertionError(
        f"the kernel was not idle within {timeout}s (states {states}):\n{log.read_text()[-3000:]}"
    )


def _run_all(page, port: int, token: str, proc, log: Path, attempts: int = 4) -> None:
    """Run > Run All Cells once the kernel is idle; retried if no cell starts (a click that
    lands while JupyterLab is still restoring its layout or connecting is lost)."""
    started = (
        "() => [...document.querySelectorAll('.jp-InputPrompt')]"
        ".some(e => /\\[(\\*|\\d+)\\]/.test(e.textContent))"
    )
    for _ in range(attempts):
        _wait_kernel_idle(port, token, proc, log)
        page.wait_for_timeout(2000)
        try:
            page.get_by_role("menuitem", name="Run", exact=True).click(timeout=30_000)
            page.get_by_role("menuitem", name="Run All Cells", exact=True).click(timeout=30_000)
            page.wait_for_function(started, timeout=30_000)
            return
        except Exception:
            page.keyboard.press("Escape")
    raise AssertionError(
        f"Run All Cells did not start any cell after {attempts} tries (kernel states "
        f"{_kernel_states(port, token)}):\n{log.read_text()[-3000:]}"
    )


def test_dashboard_in_jupyterlab(tmp_path, senteval_dir, socket_dir):
    if not Path(CHROMIUM).is_file():
        pytest.skip(f"{CHROMIUM} is absent (apt-get install chromium; .ci/prepare does it)")
    sync_api = pytest.importorskip(
        "playwright.sync_api", reason="python playwright is not installed (pip install playwright)"
    )
    pytest.importorskip("jupyterlab")
    os.environ.setdefault("PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD", "1")

    root = tmp_path / "lab"
    root.mkdir()
    shutil.copy(NOTEBOOK, root / NOTEBOOK.name)
    token = "workbench-test-" + os.urandom(6).hex()
    port = _free_port()
    proc, log = _start_lab(tmp_path, root, token, port, socket_dir)
    shots = []
    wmean_cells: dict = {}
    try:
        _wait_http(f"http://127.0.0.1:{port}/api/status?token={token}", proc, log)
        with sync_api.sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            try:
                page = browser.new_page(viewport={"width": 1500, "height": 2200})
                page.set_default_timeout(60_000)
                page.goto(
                    f"http://127.0.0.1:{port}/lab/tree/{NOTEBOOK.name}?reset&token={token}",
                    wait_until="domcontentloaded",
                )
                page.wait_for_selector(".jp-NotebookPanel .jp-Cell", timeout=120_000)
                _run_all(page, port, token, proc, log)
                dash = page.locator(".wb-dashboard")
                page.wait_for_selector(".wb-dashboard .wb-table-area table", timeout=240_000)
                page.wait_for_function(
                    f"() => ({_PLOT_STATE})('.wb-bar') !== null", timeout=120_000
                )
                page.wait_for_function(
                    f"() => ({_PLOT_STATE})('.wb-scatter') !== null", timeout=120_000
                )
                table_before = dash.locator(".wb-table-area table").inner_text()
                bar_before = json.loads(page.evaluate(_PLOT_STATE, ".wb-bar"))
                assert "all-MiniLM-L6-v2" in table_before and "glove-6b-50d" in table_before
                assert "SICK-R" not in table_before
                assert bar_before["ticks"] == ["STS-B"]
                shots.append(tmp_path / "dashboard-before.png")
                dash.screenshot(path=str(shots[-1]))

                # change a control as a user would: add SICK-R to the datasets
                dash.locator(".wb-datasets select").select_option(["STS-B", "SICK-R"])
                page.wait_for_function(
                    "() => { const t = document.querySelector('.wb-dashboard .wb-table-area "
                    "table'); return t && t.innerText.includes('SICK-R'); }",
                    timeout=180_000,
                )
                page.wait_for_function(
                    f"() => {{ const s = ({_PLOT_STATE})('.wb-bar'); "
                    "return s && JSON.parse(s).ticks.includes('SICK-R'); }",
                    timeout=60_000,
                )
                table_after = dash.locator(".wb-table-area table").inner_text()
                bar_after = json.loads(page.evaluate(_PLOT_STATE, ".wb-bar"))
                assert table_after != table_before
                assert bar_after["ticks"] == ["STS-B", "SICK-R", "avg"]
                assert bar_after != bar_before
                # no error box in the dashboard
                assert dash.locator(".wb-message .wb-msg-error").count() == 0
                # the embedding space follows: both datasets in it, and the dashboard idle
                page.wait_for_function(
                    f"() => {{ const s = ({_PLOT_STATE})('.wb-scatter'); "
                    "const st = document.querySelector('.wb-dashboard .wb-status'); "
                    "return s && JSON.parse(s).traces.length === 2 && st && "
                    "st.innerText.trim() === 'ready'; }",
                    timeout=120_000,
                )
                page.wait_for_timeout(500)  # let plotly finish its transition
                shots.append(tmp_path / "dashboard.png")
                dash.screenshot(path=str(shots[-1]))

                # a multi-subset task and the wmean table: its marks must be those of the
                # wmean test (recomputed below, in this process, from the same data)
                dash.locator(".wb-datasets select").select_option(["STS12", "STS-B"])
                page.wait_for_function(
                    "() => { const t = document.querySelector('.wb-dashboard .wb-table-area "
                    "table'); return t && t.innerText.includes('STS12'); }",
                    timeout=240_000,
                )
                dash.locator(".wb-aggregation select").select_option("wmean")
                page.wait_for_function(
                    "() => { const a = document.querySelector('.wb-dashboard .wb-table-area'); "
                    "const st = document.querySelector('.wb-dashboard .wb-status'); "
                    "return a && a.innerText.includes('wmean score') && st && "
                    "st.innerText.trim() === 'ready'; }",
                    timeout=240_000,
                )
                wmean_cells = page.evaluate(_TABLE_CELLS, ".wb-dashboard .wb-table-area table")
                # finished progress bars do not pile up above the table
                assert dash.locator(".wb-log .jp-OutputArea-child").count() == 0
                explorer = page.locator(".wb-explorer")
                page.wait_for_function(
                    f"() => ({_PLOT_STATE})('.wb-ex-curve') !== null", timeout=180_000
                )
                explorer.scroll_into_view_if_needed()
                page.wait_for_timeout(500)
                shots.append(tmp_path / "explorer.png")
                explorer.screenshot(path=str(shots[-1]))
                assert dash.locator(".wb-table-area table").count() == 1
            except Exception as exc:
                page.screenshot(path=str(tmp_path / "failure.png"))
                raise AssertionError(
                    f"{type(exc).__name__}: {exc}\n(kernel states {_kernel_states(port, token)}; "
                    f"screenshot {tmp_path / 'failure.png'})\n--- jupyter lab log ---\n"
                    f"{log.read_text()[-4000:]}"
                ) from exc
            finally:
                browser.close()
    finally:
        _stop(proc)
    assert proc.poll() is not None, "jupyter lab is still running"
    _check_marks(wmean_cells, "wmean")
    for s in shots:
        assert s.stat().st_size > 10_000, f"{s} looks empty"
    if os.environ.get("WORKBENCH_UPDATE_SCREENSHOTS") == "1":
        for s in shots[1:]:
            _keep_screenshot(s)


def test_dashboard_as_voila_page(tmp_path, senteval_dir, socket_dir):
    """The same notebook served by Voila in server mode: the app renders, code cells are
    hidden, and a visitor who types a server path gets a refusal that does not echo it."""
    if not Path(CHROMIUM).is_file():
        pytest.skip(f"{CHROMIUM} is absent (apt-get install chromium; .ci/prepare does it)")
    sync_api = pytest.importorskip(
        "playwright.sync_api", reason="python playwright is not installed (pip install playwright)"
    )
    pytest.importorskip("voila", reason="voila is not installed (pip install voila)")
    root = tmp_path / "voila"
    root.mkdir()
    shutil.copy(NOTEBOOK, root / NOTEBOOK.name)
    port = _free_port()
    served = tmp_path / "served-models"  # the only folder visitors may load from
    served.mkdir()
    env = dict(
        os.environ,
        WORKBENCH_QUICK="1",
        WORKBENCH_SERVER_ROOT=str(served),
        JUPYTER_CONFIG_DIR=str(tmp_path / "jupyter-config"),
        JUPYTER_RUNTIME_DIR=str(socket_dir),
    )
    log = tmp_path / "voila.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "voila",
                "--no-browser",
                f"--port={port}",
                "--Voila.ip=127.0.0.1",
                "--KernelManager.transport=ipc",
                str(root / NOTEBOOK.name),
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=root,
            start_new_session=True,
        )
    try:
        _wait_http(f"http://127.0.0.1:{port}/voila/static/", proc, log, any_status=True)
        with sync_api.sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            try:
                page = browser.new_page(viewport={"width": 1400, "height": 1250})
                # Voila streams the page while it executes the notebook
                page.goto(f"http://127.0.0.1:{port}/", wait_until="commit", timeout=120_000)
                try:
                    page.wait_for_selector(".wb-dashboard .wb-table-area table", timeout=240_000)
                except Exception:
                    page.screenshot(path=str(tmp_path / "failure.png"))
                    raise AssertionError(
                        f"no dashboard table; voila log:\n{log.read_text()[-3000:]}"
                    ) from None
                page.wait_for_function(
                    f"() => ({_PLOT_STATE})('.wb-bar') !== null", timeout=120_000
                )
                page.wait_for_function(
                    f"() => ({_PLOT_STATE})('.wb-ex-curve') !== null", timeout=120_000
                )
                assert "glove-6b-50d" in page.locator(".wb-table-area table").inner_text()
                assert page.locator(".jp-InputArea-editor").count() == 0  # no code shown
                page.wait_for_timeout(500)
                page.screenshot(path=str(tmp_path / "voila.png"))  # the top: the dashboard

                # a visitor types a server path into the encoder box and clicks Add
                secret = str(tmp_path)
                box = page.locator(".wb-dashboard .wb-encoder input")
                box.fill(secret)
                box.press("Enter")
                page.locator(
                    ".wb-dashboard .wb-add button, .wb-dashboard button.wb-add"
                ).first.click()
                page.wait_for_selector(".wb-dashboard .wb-message .wb-msg-error", timeout=60_000)
                refusal = page.locator(".wb-dashboard .wb-message").inner_text()
                assert "only the registered encoders" in refusal, refusal
                assert secret not in refusal and str(served) not in refusal
                assert secret not in page.locator(".wb-dashboard .wb-status").inner_text()
            finally:
                browser.close()
    finally:
        _stop(proc)
    assert (tmp_path / "voila.png").stat().st_size > 10_000
    if os.environ.get("WORKBENCH_UPDATE_SCREENSHOTS") == "1":
        _keep_screenshot(tmp_path / "voila.png")


# ------------------------------------------------------------------ points at scale (WebGL)

_POINTS_CELL = """\
import time
_t0 = time.perf_counter()
from workbench.widgets.scatter import corpus_view
view = corpus_view(encoder="glove-6b-50d", projection="pca", max_rows=8)
print(f"corpus view built in {time.perf_counter() - _t0:.1f} s")
view
"""


def _drawn_box(png: bytes) -> tuple[float, float, float, float, float]:
    """Fraction of non-white pixels in a screenshot of the map, and their bounding box as
    fractions of its width and height: the points were drawn, and where."""
    import io

    import numpy as np
    from PIL import Image

    img = np.asarray(Image.open(io.BytesIO(png)).convert("L"))
    ink = img < 235
    if not ink.any():
        return 0.0, 0.0, 0.0, 0.0, 0.0
    ys, xs = np.nonzero(ink)
    h, w = ink.shape
    return ink.mean(), xs.min() / w, ys.min() / h, xs.max() / w, ys.max() / h


def test_points_at_scale_in_voila(tmp_path, senteval_dir, socket_dir):
    """Every sentence of the shared data (~199k points, GloVe, PCA) in the WebGL view, served
    by Voila; a box drawn with the mouse in lasso mode lists the selected sentences and
    their STS pairs. Chromium has no GPU here: WebGL runs on SwiftShader."""
    if not Path(CHROMIUM).is_file():
        pytest.skip(f"{CHROMIUM} is absent (apt-get install chromium; .ci/prepare does it)")
    sync_api = pytest.importorskip(
        "playwright.sync_api", reason="python playwright is not installed (pip install playwright)"
    )
    pytest.importorskip("voila", reason="voila is not installed (pip install voila)")
    pytest.importorskip("jscatter", reason="jupyter-scatter is not installed (.[scatter])")
    nbformat = pytest.importorskip("nbformat")
    from workbench.widgets.scatter import corpus_points

    root = tmp_path / "points"
    root.mkdir()
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(_POINTS_CELL)]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3"}
    nbformat.write(nb, root / "points.ipynb")
    port = _free_port()
    env = dict(
        os.environ,
        JUPYTER_CONFIG_DIR=str(tmp_path / "jupyter-config"),
        JUPYTER_RUNTIME_DIR=str(socket_dir),
    )
    log = tmp_path / "voila.log"
    timings: dict[str, float] = {}
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "voila",
                "--no-browser",
                f"--port={port}",
                "--Voila.ip=127.0.0.1",
                "--KernelManager.transport=ipc",
                str(root / "points.ipynb"),
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=root,
            start_new_session=True,
        )
    shot = tmp_path / "points.png"
    try:
        _wait_http(f"http://127.0.0.1:{port}/voila/static/", proc, log, any_status=True)
        with sync_api.sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            try:
                page = browser.new_page(viewport={"width": 1400, "height": 1700})
                t0 = time.monotonic()
                page.goto(f"http://127.0.0.1:{port}/", wait_until="commit", timeout=120_000)
                page.wait_for_selector(".wb-points .wb-points-count", timeout=240_000)
                timings["page until the widget"] = time.monotonic() - t0
                canvas = page.locator(".wb-points-plot canvas").first
                canvas.wait_for(timeout=60_000)
                t1 = time.monotonic()
                page.mouse.move(2, 2)  # no tooltip or reticle over the map
                drawn = _drawn_box(canvas.screenshot())
                while drawn[0] < 0.01 and time.monotonic() - t1 < 60:
                    page.wait_for_timeout(250)
                    drawn = _drawn_box(canvas.screenshot())
                timings["widget until points drawn"] = time.monotonic() - t1
                assert drawn[0] >= 0.01, f"the map shows no points ({drawn})"
                caption = page.locator(".wb-points .wb-caption").first.inner_text()
                built = page.locator("text=corpus view built in").inner_text().strip()
                count = page.locator(".wb-points-count").inner_text()
                assert "no point selected" in count

                # lasso mode from the toolbar, then a box (the view's lasso type) dragged over
                # the middle of the drawn cloud
                page.get_by_title("Activate lasso selection").click()
                box = canvas.bounding_box()
                _, x0, y0, x1, y1 = drawn
                fx = (x0 + 0.30 * (x1 - x0), x0 + 0.50 * (x1 - x0))
                fy = (y0 + 0.40 * (y1 - y0), y0 + 0.60 * (y1 - y0))
                ax, ay = box["x"] + fx[0] * box["width"], box["y"] + fy[0] * box["height"]
                bx, by = box["x"] + fx[1] * box["width"], box["y"] + fy[1] * box["height"]
                page.mouse.move(ax, ay)
                page.mouse.down()
                for i in range(1, 11):
                    page.mouse.move(ax + (bx - ax) * i / 10, ay + (by - ay) * i / 10)
                t2 = time.monotonic()
                page.mouse.up()
                page.wait_for_function(
                    "() => /^[0-9,]+ points? selected/.test("
                    "document.querySelector('.wb-points .wb-points-count').innerText)",
                    timeout=60_000,
                )
                timings["mouse up until the table changed"] = time.monotonic() - t2
                page.mouse.move(2, 2)
                page.wait_for_timeout(300)
                page.locator(".wb-points").screenshot(path=str(shot))
                count = page.locator(".wb-points-count").inner_text()
                pairs_count = page.locator(".wb-points-pairs-count").inner_text()
                rows = page.evaluate(_TABLE_CELLS, ".wb-points table.wb-points-sel")
            except Exception as exc:
                page.screenshot(path=str(tmp_path / "failure.png"))
                raise AssertionError(
                    f"{type(exc).__name__}: {exc}\n(screenshot {tmp_path / 'failure.png'})\n"
                    f"--- voila log ---\n{log.read_text()[-3000:]}"
                ) from exc
            finally:
                browser.close()
    finally:
        _stop(proc)
    print(f"\npoints at scale: {built}; " + "; ".join(f"{k} {v:.1f} s" for k, v in timings.items()))

    # the view holds the whole corpus, counted here from the loaders
    points, _ = corpus_points(data_dir=senteval_dir)
    assert f"{len(points):,} points" in caption and len(points) > 150_000, caption
    n = int(count.split(" point")[0].replace(",", ""))
    assert 0 < n < len(points), count  # a region: some points, not all
    listed = rows["rows"]
    assert rows["head"][:2] == ["text", "dataset"] and 0 < len(listed) <= min(n, 8)
    known = set(zip(points["text"], points["dataset"]))
    for text, dataset, *_ in listed:  # texts cut to 140 characters end with "…"
        assert text.endswith("…") or (text, dataset) in known, (text, dataset)
    n_pairs = int(pairs_count.split(" STS pair")[0].replace(",", ""))
    sts_tasks = {"STS12", "STS13", "STS14", "STS15", "STS16", "STS-B", "SICK-R"}
    if any(d in sts_tasks for _, d, *_ in listed):
        assert n_pairs > 0, pairs_count
    assert shot.stat().st_size > 10_000
    if os.environ.get("WORKBENCH_UPDATE_SCREENSHOTS") == "1":
        _keep_screenshot(shot)
