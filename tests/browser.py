"""Headless Chromium for the review page's tests (Debian's chromium and chromium-driver).

    python tests/browser.py PAGE.html SHOT.png   # a screenshot of a page, e.g. for docs/

Without the browser the tests that need it skip, except under ``TFREPORT_REQUIRE_BROWSER=1``
(set by .ci/run, which installs it), where they fail.
"""
import os
import shutil
import sys

import pytest

CHROMIUM = ("chromium", "chromium-browser", "google-chrome")
DRIVER = "chromedriver"


def _found():
    binary = next((shutil.which(b) for b in CHROMIUM if shutil.which(b)), None)
    return binary, shutil.which(DRIVER)


def open_browser(width: int = 1400, height: int = 1000):
    """A headless Chromium under Selenium; skips (or fails, when required) without one."""
    required = os.environ.get("TFREPORT_REQUIRE_BROWSER") == "1"
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        if required:
            raise
        pytest.skip("selenium is not installed (pip install -r requirements-dev.txt)")
    binary, driver = _found()
    if not (binary and driver):
        message = ("headless Chromium not found: apt-get install chromium chromium-driver "
                   "(Debian), as .ci/run does")
        if required:
            pytest.fail(message)
        pytest.skip(message)
    options = webdriver.ChromeOptions()
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                f"--window-size={width},{height}", "--allow-file-access-from-files"):
        options.add_argument(arg)
    options.binary_location = binary
    return webdriver.Chrome(options=options, service=Service(driver))


if __name__ == "__main__":
    # python tests/browser.py PAGE SHOT.png [studies-filter]: e.g. "abnormal"
    page, shot = sys.argv[1], sys.argv[2]
    browser = open_browser()
    try:
        browser.get("file://" + os.path.abspath(page))
        if len(sys.argv) > 3:
            from selenium.webdriver.common.by import By
            from selenium.webdriver.support.ui import Select
            Select(browser.find_element(By.ID, "f-normal")).select_by_value(sys.argv[3])
        browser.execute_script("const d = [...document.querySelectorAll('details.heat')]"
                               ".find(e => e.offsetParent !== null); if (d) { d.open = true; }")
        browser.execute_script("window.scrollTo(0, 0)")
        browser.save_screenshot(shot)
        print(f"wrote {shot}")
    finally:
        browser.quit()
