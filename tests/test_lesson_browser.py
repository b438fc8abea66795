"""The HTML lesson in a real browser: headless Chromium from Debian's packages, driven by
Selenium through /usr/bin/chromedriver (never a downloaded browser or driver).

For the seed example and cs231n's staged sigmoid, "next" is pressed through every step; at each
step the lit gate, the lit wire and the caption are read from the page, and the numbers must be
the engine's, in order. The page must make no network request and log no error. "Predict
first" is played with one right and one wrong answer. A missing Chromium fails these tests: it
never skips them (CI installs it: .ci/run).
"""

from __future__ import annotations

import io
import json
import os
import re

import pytest

import circuit_backprop as cb
from tests.conftest import REPO

CHROMEDRIVER = "/usr/bin/chromedriver"
WIDTH, HEIGHT = 1280, 800  # the viewport, so the screenshot's size
NUMBER = r"-?\d+(?:\.\d+)?(?:e[+-]?\d+)?"


@pytest.fixture(scope="module")
def browser():
    os.environ["SE_AVOID_STATS"] = "true"  # Selenium's manager must not phone home
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage",
                f"--window-size={WIDTH},{HEIGHT}", "--force-device-scale-factor=1",
                "--hide-scrollbars"):
        options.add_argument(arg)
    options.binary_location = "/usr/bin/chromium"
    options.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {
        "width": WIDTH, "height": HEIGHT, "deviceScaleFactor": 1, "mobile": False})
    yield driver
    driver.quit()


def _open(browser, tmp_path, name: str, **lesson_options):
    page = tmp_path / f"{name}.html"
    cb.Circuit.load(REPO / "circuits" / f"{name}.circ").lesson(**lesson_options).save(page)
    browser.get_log("browser")  # (drop what earlier pages logged)
    browser.get_log("performance")
    browser.get(page.as_uri())
    return page


def _state(browser) -> dict:
    return browser.execute_script("""
        const title = (g) => g.querySelector("title").textContent.trim();
        return {
          lit: [...document.querySelectorAll("#diagram g.node.lit")].map(title),
          edges: [...document.querySelectorAll("#diagram g.edge.lit")].map(title),
          heading: document.getElementById("heading").textContent,
          caption: document.getElementById("caption").innerText,
          counter: document.getElementById("counter").textContent,
          next_disabled: document.getElementById("next").disabled,
        };""")


def _table(browser) -> dict[str, tuple[str, str]]:
    return browser.execute_script("""
        const out = {};
        document.querySelectorAll("#table tbody tr").forEach((tr) => {
          out[tr.dataset.node] = [tr.children[1].textContent, tr.children[2].textContent];
        });
        return out;""")


def _walk(browser) -> list[dict]:
    """Every step's state, pressing "next" from the first to the last."""
    states = [_state(browser)]
    while not states[-1]["next_disabled"]:
        browser.find_element("id", "next").click()
        states.append(_state(browser))
        assert len(states) < 500
    return states


def _last_number(line: str) -> float:
    return float(re.findall(NUMBER, line)[-1])


def _close(a: float, b: float) -> bool:
    return abs(a - b) <= 1e-5 * max(abs(a), abs(b)) + 1e-12


def _no_network_and_no_errors(browser, page) -> None:
    resources = browser.execute_script("return performance.getEntriesByType('resource').length")
    assert resources == 0
    requests = []
    for entry in browser.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        if message["method"] == "Network.requestWillBeSent":
            requests.append(message["params"]["request"]["url"])
    assert [u for u in requests if not u.startswith("file://")] == []
    assert set(requests) <= {page.as_uri()}
    errors = [e for e in browser.get_log("browser") if e["level"] in ("SEVERE", "WARNING")]
    assert errors == []


@pytest.mark.parametrize("name", ["staged", "staged_sigmoid"])
def test_next_through_every_step_shows_the_engines_numbers(browser, tmp_path, name):
    page = _open(browser, tmp_path, name)
    result = cb.Circuit.load(REPO / "circuits" / f"{name}.circ").backward()
    out = result.output
    gates = [g for g in result.gates if g.op not in ("input", "const")]
    states = _walk(browser)

    forward = [s for s in states if s["heading"].startswith("Forward")]
    backward = [s for s in states if s["heading"].startswith("Backward")]
    assert states[0]["heading"] == "Ready" and states[-1]["heading"].startswith("Done")
    assert len(states) == 2 + len(forward) + len(backward)

    # forward: the inputs, then each stage's gate in order, its value at the end of the caption
    assert "inputs:" in forward[0]["caption"]
    for g in result.gates:
        if g.op == "input":
            assert f"{g.label} = " in forward[0]["caption"]
    lit = []
    for s in forward[1:]:
        (title,) = s["lit"]
        gate = result.gates[int(title.removeprefix("n"))]
        lit.append(gate.id)
        assert _close(_last_number(s["caption"]), gate.value), (s, gate)
    assert lit == sorted(lit)
    assert {g.id for g in gates if g.name is not None} <= set(lit)
    assert lit[-1] == gates[-1].id  # the output last

    # backward: the output's 1, then each wire from the output back, upstream × local
    assert backward[0]["lit"] == [f"n{gates[-1].id}"]
    assert f"∂{out}/∂{out} = 1" in backward[0]["caption"]
    expected = [(g.id, g.inputs[k], g.grad, g.local[k], d) for g in reversed(gates)
                for k, d in enumerate(g.downstream) if d is not None]
    assert len(backward) - 1 == len(expected)
    for s, (gate, src, upstream, local, down) in zip(backward[1:], expected, strict=True):
        assert s["lit"] == [f"n{gate}"], s
        assert f"n{src}->n{gate}" in s["edges"], s
        lines = s["caption"].split("\n")
        upstream_line = next(line for line in lines if line.startswith("upstream"))
        assert _close(_last_number(upstream_line), upstream)
        local_line = next(line for line in lines if line.startswith("local gradient"))
        assert _close(_last_number(local_line), local)
        chain = next(line for line in lines if re.match(f"∂{out}/∂.* \\+?= ", line))
        assert _close(_last_number(chain), down), s

    # the end: the table holds every value and gradient, as the engine has them
    table = _table(browser)
    for g in result.gates:
        if g.op == "const":
            continue
        value, grad = table[str(g.id)]
        assert _close(float(value), g.value)
        assert _close(float(grad), g.grad), (g, grad)
    _no_network_and_no_errors(browser, page)


def test_keys_previous_and_restart(browser, tmp_path):
    from selenium.webdriver.common.keys import Keys

    _open(browser, tmp_path, "staged")
    body = browser.find_element("tag name", "body")
    body.send_keys(Keys.ARROW_RIGHT, Keys.ARROW_RIGHT)
    assert _state(browser)["heading"].startswith("Forward pass · stage 2")
    body.send_keys(Keys.ARROW_LEFT)
    assert _state(browser)["heading"].startswith("Forward pass · stage 1")
    browser.find_element("id", "restart").click()
    assert _state(browser)["heading"] == "Ready"
    body.send_keys(Keys.SPACE)  # play
    assert "Pause" in browser.find_element("id", "play").text
    body.send_keys(Keys.SPACE)  # pause
    assert "Play" in browser.find_element("id", "play").text


def test_predict_first_counts_right_answers(browser, tmp_path):
    page = _open(browser, tmp_path, "staged")
    browser.find_element("id", "predict").click()
    click = lambda name: browser.find_element("id", name).click()  # noqa: E731
    click("next")  # the inputs: nothing to predict
    click("next")  # q = x + 2*y = 3 + 2·(-4) = ?
    state = _state(browser)
    assert state["caption"].endswith("= ?") and "-5" not in state["caption"].split("= ")[-1]
    assert _table(browser)["5"] == ["", ""]  # q's value is not shown before the guess
    hidden = browser.execute_script(
        "return document.querySelectorAll('#diagram .hidden-label').length")
    assert hidden > 0
    browser.find_element("id", "guess").send_keys("-5.0001\n")  # right (within 1e-3)
    assert "Right" in browser.find_element("id", "feedback").text
    assert _table(browser)["5"][0] == "-5"
    click("next")  # f = q*z = (-5)·19 = ?
    browser.find_element("id", "guess").send_keys("95\n")  # wrong: it is -95
    feedback = browser.find_element("id", "feedback").text
    assert "Not quite" in feedback and "-95" in feedback
    assert browser.find_element("id", "score").text == "Right: 1 of 2 answered"
    asked = 2
    while not browser.find_element("id", "next").get_attribute("disabled"):
        if browser.find_element("id", "ask").is_displayed():
            click("reveal")
            asked += 1
        else:
            click("next")
    assert browser.find_element("id", "feedback").text == f"You predicted 1 of {asked} right."
    assert asked == 2 + 5  # and the five gradients sent down wires
    _no_network_and_no_errors(browser, page)


@pytest.mark.parametrize("name", ["staged_sigmoid", "tensor_neuron"])
def test_screenshot_is_a_page_of_the_expected_size(browser, tmp_path, name):
    from PIL import Image

    page = _open(browser, tmp_path, name)
    for _ in range(19):  # into the backward pass (the sigmoid's: at a fork, docs/lesson.png)
        if not browser.find_element("id", "next").get_attribute("disabled"):
            browser.find_element("id", "next").click()
    shot = tmp_path / f"{name}.png"
    browser.save_screenshot(str(shot))
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    image = Image.open(io.BytesIO(data)).convert("RGB")
    assert image.size == (WIDTH, HEIGHT)
    colours = image.getcolors(maxcolors=1 << 20)
    assert colours is not None and len(colours) > 50  # text, a drawing, a table: not blank
    if os.environ.get("LESSON_SCREENSHOTS"):  # (to look at them, or refresh docs/lesson.png)
        image.save(os.path.join(os.environ["LESSON_SCREENSHOTS"], f"{name}.png"))
    _no_network_and_no_errors(browser, page)


@pytest.mark.parametrize("name", sorted(p.stem for p in (REPO / "circuits").glob("*.circ")))
def test_every_example_circuit_plays_offline(browser, tmp_path, name):
    page = tmp_path / f"{name}.html"
    circuit = cb.Circuit.load(REPO / "circuits" / f"{name}.circ")
    result = circuit.backward(circuit.random_values(0))
    result.lesson().save(page)
    browser.get_log("browser")
    browser.get_log("performance")
    browser.get(page.as_uri())
    states = _walk(browser)
    assert states[-1]["heading"].startswith("Done")
    gates = [g for g in result.gates if g.op not in ("input", "const")]
    assert [s["lit"] for s in states if s["heading"].startswith("Backward pass · the")] == [
        [f"n{gates[-1].id}"]]
    assert browser.execute_script(
        "return document.querySelectorAll('#diagram .hidden-label').length") == 0
    table = _table(browser)
    for g in result.gates:
        if g.op != "const":
            assert table[str(g.id)] == [result.number_format.value(g.value),
                                        result.number_format.value(g.grad)]
    _no_network_and_no_errors(browser, page)
