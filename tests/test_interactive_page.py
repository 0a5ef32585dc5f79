"""The interactive page (``tg.viz.render(..., "graph.html")``) in a real headless
Chromium driven by selenium: no JavaScript error, no request, the graph renders,
groups collapse and expand, search highlights, details appear."""
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

import numpy as np
import pytest

import tinygraph as tg
from tinygraph.tools import demo

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")


def _selenium():
    try:
        import selenium  # noqa: F401  (optional: the `browser` extra)
        return True
    except ImportError:
        return False


needs_browser = pytest.mark.skipif(
    not (CHROMIUM and CHROMEDRIVER and _selenium()),
    reason="needs Debian's chromium and chromium-driver (apt-get install chromium "
           "chromium-driver) and selenium (pip install -e '.[browser]')")


def _small_with_grads(T=4):
    m = demo._small(T)
    grads = tg.gradients(m["loss"], m["lstm"].trainable_weights)
    return m, [m["loss"]] + grads


# ------------------------------------------------------------------ without a browser

def test_page_is_one_file_with_its_data_and_a_policy_forbidding_requests(tmp_path):
    _, fetches = _small_with_grads()
    path = tg.viz.render(fetches, tmp_path / "graph.html", title="a </script> title")
    assert path.endswith("graph.html") and os.listdir(tmp_path) == ["graph.html"]
    text = open(path, encoding="utf-8").read()
    assert "Content-Security-Policy" in text and "default-src 'none'" in text
    assert not re.search(r'(src|href)\s*=\s*["\']?(https?:|//|[\w./-]+\.(js|css))', text)
    blob = re.search(r'<script type="application/json" id="tg-data">(.*?)</script>', text,
                     re.S).group(1)
    data = json.loads(blob.replace("<\\/", "</"))
    assert data["title"] == "a </script> title"
    names = {n["name"] for n in data["nodes"]}
    assert "lstm/step_0/h" in names
    grads = [n for n in data["nodes"] if n["fwd"] >= 0]
    assert grads and {data["nodes"][n["fwd"]]["name"] for n in grads} & names
    kinds = {g["kind"] for g in data["groups"]}
    assert {"step", "grad"} <= kinds


def test_page_options_follow_the_svg_ones():
    _, fetches = _small_with_grads(T=10)
    data = tg.viz.to_page(fetches, max_steps=4)
    shut = {data["groups"][g]["path"] for g in data["collapsed"]}
    assert "lstm/step_2" in shut and "lstm/step_1" not in shut and "lstm/step_8" not in shut
    data = tg.viz.to_page(fetches, collapse=["dense"], max_steps=None)
    assert {data["groups"][g]["path"] for g in data["collapsed"]} == {"dense"}
    with pytest.raises(ValueError, match="max_steps must be a positive int"):
        tg.viz.to_page(fetches, max_steps=0)
    with pytest.raises(ValueError, match="grads must be"):
        tg.viz.to_page(fetches, grads="some")


def test_values_give_statistics_and_colours():
    m, fetches = _small_with_grads()
    x, y = demo.adding_problem(np.random.default_rng(0), 8, 4)
    vals = tg.Session().run(fetches, {m["x"]: x, m["y"]: y})
    data = tg.viz.to_page(fetches, values=vals)
    loss = next(n for n in data["nodes"] if n["name"] == m["loss"].node.name)
    assert loss["stats"]["mean_abs"] == pytest.approx(abs(float(vals[0])))
    assert loss["stats"]["shape"] == list(np.shape(vals[0]))
    assert loss["fill"].startswith("#") and data["legend"]["heat"]


def test_cli_writes_the_page(tmp_path):
    out = tmp_path / "g.html"
    r = subprocess.run([sys.executable, "-m", "tinygraph", "viz", "gradients", "-o", str(out)],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert "tg-data" in out.read_text(encoding="utf-8")


# ------------------------------------------------------------------ in the browser

@pytest.fixture(scope="module")
def browser():
    if not (CHROMIUM and CHROMEDRIVER and _selenium()):
        pytest.skip("no chromium/chromedriver/selenium")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    profile = tempfile.mkdtemp(prefix="tg-chromium-")
    for a in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
              "--disable-background-networking", "--disable-component-update",
              "--no-first-run", f"--user-data-dir={profile}", "--window-size=1400,900"):
        opts.add_argument(a)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=opts)
    yield driver
    driver.quit()
    shutil.rmtree(profile, ignore_errors=True)


def _open(driver, path):
    from selenium.webdriver.support.ui import WebDriverWait
    driver.get("file://" + os.path.abspath(path))
    WebDriverWait(driver, 20).until(
        lambda d: d.execute_script("return document.body.getAttribute('data-ready')") == "1"
        or _errors(d))
    assert not _errors(driver), _errors(driver)


def _errors(driver):
    return [e for e in driver.get_log("browser") if e["level"] in ("SEVERE", "ERROR")]


def _boxes(driver):
    return driver.execute_script("return document.querySelectorAll('#scene .box').length")


def _place(driver, key):
    return driver.execute_script(
        "var e = document.querySelector('[data-k=\"' + arguments[0] + '\"]');"
        "return e ? e.getAttribute('transform') : null", key)


@pytest.fixture(scope="module")
def page(tmp_path_factory):
    m, fetches = _small_with_grads(T=8)
    x, y = demo.adding_problem(np.random.default_rng(0), 8, 8)
    vals = tg.Session().run(fetches, {m["x"]: x, m["y"]: y})
    path = tmp_path_factory.mktemp("page") / "graph.html"
    return tg.viz.render(fetches, path, values=vals, max_steps=4, title="T=8 LSTM")


@needs_browser
def test_renders_without_error_or_request(browser, page):
    _open(browser, page)
    assert _boxes(browser) > 20
    assert browser.execute_script("return document.querySelectorAll('#scene path.edge').length") > 20
    requests = browser.execute_script(
        "return performance.getEntriesByType('resource').map(e => e.name)")
    assert requests == []
    assert "legend" in browser.find_element("id", "legend").text


def _frames(driver):
    """{group path: (x0, y0, x1, y1) of its frame, (x0, y0, x1, y1) of its head}."""
    return driver.execute_script("""
        var out = {};
        document.querySelectorAll('#scene rect.frame').forEach(function (f) {
          var g = +f.getAttribute('data-g'), h = document.querySelector('rect.head[data-g="' + g + '"]');
          var box = function (r) { var x = +r.getAttribute('x'), y = +r.getAttribute('y');
            return [x, y, x + +r.getAttribute('width'), y + +r.getAttribute('height')]; };
          out[tgPage.groups[g].path] = [box(f), box(h)];
        });
        return out;""")


def _check_frames(frames):
    for path, (frame, _) in frames.items():
        outer = path.rsplit("/", 1)[0]
        while outer != path and outer not in frames and "/" in outer:
            outer = outer.rsplit("/", 1)[0]
        if outer in frames and outer != path:           # strictly inside its group's frame
            o = frames[outer][0]
            assert o[0] < frame[0] and o[1] < frame[1] and frame[2] < o[2] and frame[3] < o[3], \
                (path, frame, outer, o)
    heads = sorted((h, p) for p, (_, h) in frames.items())
    for i, (a, p) in enumerate(heads):                  # no head covers another one
        for b, q in heads[i + 1:]:
            assert a[2] <= b[0] or b[2] <= a[0] or a[3] <= b[1] or b[3] <= a[1], (p, a, q, b)


@needs_browser
def test_group_frames_nest_and_no_head_covers_another(browser, page):
    """Every head stays clickable: a frame lies strictly inside its group's frame, and
    a head that would cover another (frames of steps sharing layers can start at the
    same corner) moves beside it. Before, a click on step_0's head could hit step_7's."""
    _open(browser, page)
    _check_frames(_frames(browser))
    step = browser.execute_script("return tgPage.groups.findIndex(g => g.path === 'lstm/step_0')")
    browser.execute_script("tgPage.toggle(arguments[0])", step)
    _check_frames(_frames(browser))
    assert not _errors(browser)


@needs_browser
def test_click_collapses_and_expands(browser, page):
    _open(browser, page)
    before = _boxes(browser)
    step = browser.execute_script(
        "return tgPage.groups.findIndex(g => g.path === 'lstm/step_0')")
    first = browser.execute_script(
        "var b = tgVisible.list.find(b => b.path.indexOf(arguments[0]) >= 0 && b.node !== undefined);"
        "return b.key", step)
    moved = browser.execute_script(
        "return tgVisible.list.filter(b => b.layer > 3 && b.node !== undefined)[0].key")
    where = _place(browser, moved)
    browser.find_element("css selector", f'rect.head[data-g="{step}"]').click()
    assert _boxes(browser) < before
    assert _place(browser, first) is None                # its nodes are in one box now
    assert _place(browser, moved) != where               # and the layout was redone
    browser.execute_script("tgPage.show(arguments[0])", f"g{step}")
    browser.find_element("css selector", f'[data-k="g{step}"] rect').click()
    assert _boxes(browser) == before and _place(browser, moved) == where
    assert not _errors(browser)


@needs_browser
def test_search_highlights_and_details_appear(browser, page):
    _open(browser, page)
    box = browser.find_element("id", "search")
    box.send_keys("step_0/h")
    hits = browser.execute_script("return document.querySelectorAll('#scene .hit').length")
    assert hits >= 1 and "match" in browser.find_element("id", "hits").text
    grad = browser.execute_script(
        "return tgVisible.list.find(b => b.node !== undefined && "
        "JSON.parse(document.getElementById('tg-data').textContent).nodes[b.node].fwd >= 0 && "
        "document.querySelector('[data-k=\"' + b.key + '\"]')).key")
    browser.execute_script("tgPage.show(arguments[0])", grad)
    browser.find_element("css selector", f'[data-k="{grad}"] rect').click()
    details = browser.find_element("id", "details")
    assert details.is_displayed()
    for word in ("name", "op", "shape", "dtype", "gradient of"):
        assert word in details.text
    assert browser.execute_script("return document.querySelectorAll('#scene .fwd').length") == 1
    loss = browser.execute_script(
        "var n = JSON.parse(document.getElementById('tg-data').textContent).nodes;"
        "return 'n' + n.findIndex(x => x.stats && x.op !== 'placeholder')")
    browser.execute_script("tgPage.show(arguments[0])", loss)
    browser.find_element("css selector", f'[data-k="{loss}"] rect').click()
    assert "mean_abs" in browser.find_element("id", "details").text
    assert not _errors(browser)


@needs_browser
def test_fused_op_and_loop_open_in_the_page(browser, tmp_path):
    fetches, kw = demo._loop(4)
    path = tg.viz.render(fetches, tmp_path / "loop.html", **dict(kw, expand=()))
    _open(browser, path)
    before = _boxes(browser)
    scan = browser.execute_script(
        "var n = JSON.parse(document.getElementById('tg-data').textContent).nodes;"
        "return 'n' + n.findIndex(x => x.kind === 'loop')")
    browser.execute_script("tgPage.show(arguments[0])", scan)
    browser.find_element("css selector", f'[data-k="{scan}"] rect').click()
    assert _boxes(browser) > before
    browser.execute_script("tgPage.show(arguments[0])", scan)
    browser.find_element("css selector", f'[data-k="{scan}"] rect').click()
    assert _boxes(browser) == before and not _errors(browser)
