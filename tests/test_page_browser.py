"""The try-it page in a real headless browser (Debian's chromium, driven by selenium through chromedriver).

The test serves the page with ``polyseg serve``, uploads the example image through the file input, clicks the
example's four extreme points on the canvas, and checks the polygon the page received (``window.polysegPage``)
and drew (canvas pixels). ``POLYSEG_PAGE_SCREENSHOT=docs/page.png`` also saves the screenshot there.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import WebDriverWait

from polyseg import Segmenter
from provision import ProvisionError, chromium
from serve_support import EXAMPLE_JPG, GOLDEN_MASK, POINTS, filled, iou, serve_process

pytestmark = pytest.mark.skipif(os.environ.get("POLYSEG_SKIP_INTEGRATION") == "1",
                                reason="POLYSEG_SKIP_INTEGRATION=1")

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic",
         "--window-size=1100,1000"]


@pytest.fixture(scope="module")
def server():
    with serve_process("--log-level", "warning") as port:
        yield f"http://127.0.0.1:{port}"


@pytest.fixture(scope="module")
def downloads(tmp_path_factory):
    return tmp_path_factory.mktemp("downloads")


@pytest.fixture(scope="module")
def browser(tmp_path_factory, downloads):
    try:
        binary, driver = chromium()
    except ProvisionError as exc:
        pytest.fail(f"cannot provision chromium: {exc}")
    options = webdriver.ChromeOptions()
    options.binary_location = str(binary)
    for flag in FLAGS + [f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}"]:
        options.add_argument(flag)
    options.add_experimental_option("prefs", {"download.default_directory": str(downloads),
                                              "download.prompt_for_download": False})
    b = webdriver.Chrome(options=options, service=Service(executable_path=str(driver)))
    yield b
    b.quit()


def status(browser) -> str:
    return browser.find_element(By.TAG_NAME, "body").get_attribute("data-status")


def wait_status(browser, wanted: str, timeout: float = 20) -> None:
    WebDriverWait(browser, timeout).until(lambda b: status(b) == wanted,
                                          f"page status never became {wanted!r}")


def click_image(browser, canvas, x: float, y: float, then_drag_to=None, *, right: bool = False,
                shift: bool = False) -> None:
    """Click (right-click, shift-click or drag) at image pixel-centre coordinates, whatever the canvas' displayed
    scale."""
    rect = browser.execute_script("const r = arguments[0].getBoundingClientRect();"
                                  "return [r.width, r.height, arguments[0].width, arguments[0].height];", canvas)
    sx, sy = rect[0] / rect[2], rect[1] / rect[3]

    def offset(px, py):  # selenium offsets are from the element's centre
        return round((px + 0.5) * sx - rect[0] / 2), round((py + 0.5) * sy - rect[1] / 2)

    chain = ActionChains(browser).move_to_element_with_offset(canvas, *offset(x, y))
    if right:
        chain.context_click().perform()
    elif shift:
        chain.key_down(Keys.SHIFT).click().key_up(Keys.SHIFT).perform()
    elif then_drag_to is None:
        chain.click().perform()
    else:
        chain.click_and_hold().move_to_element_with_offset(canvas, *offset(*then_drag_to)).release().perform()


@pytest.fixture(scope="module")
def page(browser, server):
    browser.get(server + "/")
    browser.find_element(By.ID, "file").send_keys(str(EXAMPLE_JPG))
    wait_status(browser, "ready")
    return browser


def pixel(browser, x: float, y: float) -> list[int]:
    return browser.execute_script(
        "return Array.from(document.getElementById('canvas').getContext('2d')"
        ".getImageData(arguments[0], arguments[1], 1, 1).data);", x, y)


def test_clicking_the_four_extreme_points_draws_the_polygon(page, tmp_path):
    label = page.find_element(By.ID, "label")
    label.clear()
    label.send_keys("car")
    canvas = page.find_element(By.ID, "canvas")
    for x, y in POINTS:
        click_image(page, canvas, x, y)
    wait_status(page, "done")
    result = page.execute_script("return window.polysegPage.result;")
    assert result["files"]["labelme"]["shapes"][0]["label"] == "car"
    clicked = np.asarray(page.execute_script("return window.polysegPage.points;"))
    assert np.abs(clicked - np.asarray(POINTS)).max() <= 2.0  # the clicks landed where meant (whole CSS px)
    polygon = np.asarray(result["polygon"])
    assert iou(filled(polygon, GOLDEN_MASK.shape), GOLDEN_MASK) > 0.9
    assert "vertices" in page.find_element(By.ID, "status").text
    # drawn: the outline is yellow at its vertices, the mask tinted green inside
    yellow = [pixel(page, x + 0.5, y + 0.5) for x, y in polygon[:: max(1, len(polygon) // 8)]]
    assert all(r > 200 and g > 200 and b < 120 for r, g, b, _ in yellow), yellow
    ys, xs = np.nonzero(GOLDEN_MASK)
    inside = pixel(page, int(np.median(xs)), int(np.median(ys)))
    assert inside[1] > inside[0] and inside[1] > inside[2]
    shot = tmp_path / "page.png"
    page.save_screenshot(str(shot))
    assert shot.stat().st_size > 10_000
    if os.environ.get("POLYSEG_PAGE_SCREENSHOT"):
        shutil.copy(shot, os.environ["POLYSEG_PAGE_SCREENSHOT"])


def answer_with(page, condition: str, timeout: float = 20) -> dict:
    """The page's answer once ``condition`` (JavaScript on ``r``, the answer) holds, and the page shows it."""
    WebDriverWait(page, timeout).until(
        lambda b: b.execute_script(f"const r = window.polysegPage.result; return r !== null && ({condition});"),
        f"no answer with {condition}")
    wait_status(page, "done")
    return page.execute_script("return window.polysegPage.result;")


def outline(page, canvas) -> dict:
    """Clear, click the four extreme points, and the first answer."""
    page.find_element(By.ID, "clear").click()
    for x, y in POINTS:
        click_image(page, canvas, x, y)
    return answer_with(page, "r.prompt.extreme_points !== null && r.prompt.positive.length === 0")


def near(got, wanted) -> bool:
    """Clicks land within whole CSS pixels of where they were meant."""
    return np.asarray(got).shape == np.shape(wanted) and np.abs(np.asarray(got) - wanted).max() <= 2.0


@pytest.fixture(scope="module")
def reference():
    with Segmenter.from_pretrained() as seg:
        yield seg


def test_clicks_after_the_outline_correct_it_at_once(page, reference):
    canvas = page.find_element(By.ID, "canvas")
    first = outline(page, canvas)
    click_image(page, canvas, 620, 360)  # a click: add what was missed
    answer_with(page, "r.prompt.positive.length === 1")
    click_image(page, canvas, 400, 300, right=True)  # a right-click: remove what was taken
    corrected = answer_with(page, "r.prompt.negative.length === 1")
    prompt = corrected["prompt"]  # what the server read from every click so far
    assert near(prompt["extreme_points"], POINTS)
    assert near(prompt["positive"], [(620, 360)]) and near(prompt["negative"], [(400, 300)])
    assert corrected["polygon"] != first["polygon"]
    wanted = reference.segment(cv2.imread(str(EXAMPLE_JPG)), prompt["extreme_points"], positive=prompt["positive"],
                               negative=prompt["negative"], image_format="BGR")
    assert iou(filled(corrected["polygon"], GOLDEN_MASK.shape), filled(wanted.polygon, GOLDEN_MASK.shape)) > 0.98
    assert "2 correction(s)" in page.find_element(By.ID, "status").text
    # each click is drawn: extreme points red, positive corrections green, negative ones magenta (off the +/- sign)
    (px, py), (nx, ny) = prompt["positive"][0], prompt["negative"][0]
    assert pixel(page, px + 2, py + 2)[:3] == [0, 200, 0]
    assert pixel(page, nx + 2, ny + 2)[:3] == [255, 0, 255]
    ex, ey = prompt["extreme_points"][1]  # the top-most one, on the outline's edge
    assert pixel(page, ex + 0.5, ey + 0.5)[:3] == [255, 0, 0]
    click_image(page, canvas, 450, 330, shift=True)  # a shift-click: a negative one too
    assert near(answer_with(page, "r.prompt.negative.length === 2")["prompt"]["negative"], [(400, 300), (450, 330)])


def test_undo_takes_back_the_last_click_with_the_button_or_ctrl_z(page):
    canvas = page.find_element(By.ID, "canvas")
    first = outline(page, canvas)
    click_image(page, canvas, 620, 360)
    answer_with(page, "r.prompt.positive.length === 1")
    click_image(page, canvas, 400, 300, right=True)
    answer_with(page, "r.prompt.negative.length === 1")
    page.find_element(By.ID, "undo").click()
    undone = answer_with(page, "r.prompt.negative.length === 0")
    assert near(undone["prompt"]["positive"], [(620, 360)])

    def ctrl_z():
        ActionChains(page).key_down(Keys.CONTROL).send_keys("z").key_up(Keys.CONTROL).perform()

    ctrl_z()
    again = answer_with(page, "r.prompt.positive.length === 0")
    assert again["polygon"] == first["polygon"]  # the first answer, asked again
    assert pixel(page, 620.5, 360.5)[:3] != [0, 200, 0]  # the marker is gone
    ctrl_z()  # now an extreme point: no outline until there are four again
    WebDriverWait(page, 10).until(lambda b: b.execute_script("return window.polysegPage.result === null;"))
    assert len(page.execute_script("return window.polysegPage.points;")) == 3
    assert status(page) == "ready" and "3 of 4 extreme points" in page.find_element(By.ID, "status").text
    click_image(page, canvas, 400, 300, right=True)  # a negative click corrects an outline: none yet
    assert page.execute_script("return window.polysegPage.corrections.length;") == 0
    click_image(page, canvas, *POINTS[3])
    assert answer_with(page, "r.prompt.positive.length === 0")["polygon"] == first["polygon"]


def test_the_tolerance_slider_asks_again(page):
    before = len(page.execute_script("return window.polysegPage.result.polygon;"))
    page.execute_script("const t = document.getElementById('tolerance'); t.value = '0';"
                        "t.dispatchEvent(new Event('input'));")
    WebDriverWait(page, 20).until(lambda b: b.execute_script("return window.polysegPage.result.tolerance;") == 0)
    wait_status(page, "done")
    assert len(page.execute_script("return window.polysegPage.result.polygon;")) > before


def test_download_coco_json(page, downloads):
    page.find_element(By.ID, "dl-coco").click()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and not list(downloads.glob("*.coco.json")):
        time.sleep(0.2)
    (file,) = downloads.glob("*.coco.json")
    coco = json.loads(Path(file).read_text())
    assert coco["images"][0]["file_name"] == "example.jpg" and len(coco["annotations"]) == 1


def test_dragging_a_box_segments_too(page):
    canvas = page.find_element(By.ID, "canvas")
    click_image(page, canvas, 336, 261, then_drag_to=(591, 385))
    WebDriverWait(page, 20).until(lambda b: b.execute_script("return window.polysegPage.box !== null;"))
    wait_status(page, "done")
    result = page.execute_script("return window.polysegPage.result;")
    assert iou(filled(result["polygon"], GOLDEN_MASK.shape), GOLDEN_MASK) > 0.8
