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

import numpy as np
import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

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


def click_image(browser, canvas, x: float, y: float, then_drag_to=None) -> None:
    """Click (or drag) at image pixel-centre coordinates, whatever the canvas' displayed scale."""
    rect = browser.execute_script("const r = arguments[0].getBoundingClientRect();"
                                  "return [r.width, r.height, arguments[0].width, arguments[0].height];", canvas)
    sx, sy = rect[0] / rect[2], rect[1] / rect[3]

    def offset(px, py):  # selenium offsets are from the element's centre
        return round((px + 0.5) * sx - rect[0] / 2), round((py + 0.5) * sy - rect[1] / 2)

    chain = ActionChains(browser).move_to_element_with_offset(canvas, *offset(x, y))
    if then_drag_to is None:
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
