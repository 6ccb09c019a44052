"""LEADERBOARD.html in a real headless Chromium (Debian's ``chromium`` and ``chromium-driver``, which
.ci/run installs): it renders without console errors, its plots load, a click on a column's header
sorts the rows, and a screenshot is saved (to ``tmp_path``, and to ``$TLBENCH_SCREENSHOT_DIR`` when set).

Without the browser the tests skip, except in CI (``CI`` set), where they fail. Selenium never
downloads a driver: the driver's and the browser's paths are given, and Selenium Manager is told to
stay offline (``SE_OFFLINE``)."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.postgres import _in_ci
from tests.unit.test_html_report import HOSTILE_IMG, leaderboard_records
from tlbench.report import write_report

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
WIDTH = 1400


def _missing() -> str | None:
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed (pip install -e '.[test]')"
    absent = [str(p) for p in (CHROMIUM, CHROMEDRIVER) if not p.exists()]
    return f"{' and '.join(absent)} absent (apt-get install chromium chromium-driver)" if absent else None


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    why = _missing()
    if why:
        if _in_ci():
            pytest.fail(f"{why} (CI is set: the browser test must run there)", pytrace=False)
        pytest.skip(why)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    # root in CI: no sandbox; small /dev/shm in containers
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                f"--window-size={WIDTH},1000", "--hide-scrollbars", "--no-first-run"):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SE_OFFLINE", "true")  # Selenium Manager, were it ever asked: no network
        driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture(scope="module")
def page(browser: Any, tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, list[dict[str, Any]]]:
    """The page of the unit tests' records (markup in a strategy's name and options) loaded from
    disk, and the browser's console entries from loading it."""
    out = tmp_path_factory.mktemp("html")
    write_report(leaderboard_records(), "html-test", out, baseline="linear_probe", html=True)
    browser.get((out / "LEADERBOARD.html").as_uri())
    browser.execute_script("return document.readyState")
    return browser, browser.get_log("browser")


def summary_rows(driver: Any) -> list[tuple[str, str]]:
    """The summary table's (strategy, sst2 sort key) per row, in the order shown."""
    return [(r.find_element("css selector", "td:first-child").text,
             r.find_element("css selector", "td:nth-child(2)").get_attribute("data-sort"))
            for r in driver.find_elements("css selector", "#summary table tbody tr")]


def test_the_page_renders_without_console_errors_and_is_screenshot(page, tmp_path):
    driver, log = page
    assert driver.title == "html-test: leaderboard"
    assert not [e for e in log if e["level"] == "SEVERE"], log
    # every plot decoded (a data: URI the CSP refused, or broken, has no natural width)
    sizes = driver.execute_script("return Array.from(document.images, i => [i.complete, i.naturalWidth])")
    assert len(sizes) == 5 and all(done and width > 0 for done, width in sizes)
    # the markup in a strategy's name is text, not an element
    names = [e.text for e in driver.find_elements("css selector", "#summary tbody td:first-child")]
    assert HOSTILE_IMG in names
    assert driver.execute_script("return document.querySelectorAll('img:not([src^=\"data:\"])').length") == 0
    # the whole page in one picture: the window as tall as the page
    height = driver.execute_script("return document.documentElement.scrollHeight")
    driver.set_window_size(WIDTH, min(int(height) + 200, 12000))
    try:
        shot = tmp_path / "leaderboard.png"
        assert driver.save_screenshot(str(shot)) and shot.stat().st_size > 10_000
        if os.environ.get("TLBENCH_SCREENSHOT_DIR"):
            target = Path(os.environ["TLBENCH_SCREENSHOT_DIR"])
            target.mkdir(parents=True, exist_ok=True)
            shutil.copy(shot, target / "leaderboard.png")
    finally:
        driver.set_window_size(WIDTH, 1000)


def test_clicking_a_header_sorts_the_rows(page):
    driver, _ = page
    before = summary_rows(driver)
    header = driver.find_element("css selector", "#summary thead th:nth-child(2) button")
    assert header.text.startswith("sst2 (accuracy)")
    header.click()
    ascending = summary_rows(driver)
    assert sorted(ascending) == sorted(before) and ascending != before
    assert [float(k) for _, k in ascending] == sorted(float(k) for _, k in before)
    th = driver.find_element("css selector", "#summary thead th:nth-child(2)")
    assert th.get_attribute("aria-sort") == "ascending"
    header.click()
    descending = summary_rows(driver)
    assert [float(k) for _, k in descending] == sorted((float(k) for _, k in before), reverse=True)
    assert th.get_attribute("aria-sort") == "descending"
    # a text column sorts by text; the keyboard reaches the header (a button)
    name = driver.find_element("css selector", "#summary thead th:first-child button")
    name.send_keys(" ")
    names = [s for s, _ in summary_rows(driver)]
    assert names == sorted(names, key=str.lower)
    assert not [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]
