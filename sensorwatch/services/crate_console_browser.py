"""Open CrateDB's Admin UI (the Crate console) in headless Chromium as a given user, run one
query in its Console, read the result rows from the page, write a screenshot, and print
what it saw as JSON.

Standalone (standard library + Selenium), run in Superset's environment like
``superset_browser.py`` (Selenium is a Superset dependency), by ``sensorwatch.operations.console``:

    python crate_console_browser.py BASE_URL USER PASSWORD_FILE QUERY_FILE OUT.png

The user authenticates with HTTP basic authentication on every request of the page (CDP
``Network.setExtraHTTPHeaders``), as a browser does after its login prompt.
"""

from __future__ import annotations

import base64
import json
import sys
import time
from pathlib import Path

from selenium import webdriver
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By

CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
# The console's submit button: a div whose text is "Submit query" in any case (the hint beside it is longer).
SUBMIT = ("//div[translate(normalize-space(text()), 'abcdefghijklmnopqrstuvwxyz', 'ABCDEFGHIJKLMNOPQRSTUVWXYZ')"
          " = 'SUBMIT QUERY']")


def browser() -> webdriver.Chrome:
    options = Options()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--window-size=1600,1000", "--hide-scrollbars", "--no-first-run", "--disable-background-networking",
                "--disable-component-update", "--disable-sync"):
        options.add_argument(arg)
    return webdriver.Chrome(options=options, service=Service(CHROMEDRIVER))


def results(driver: webdriver.Chrome) -> tuple[list[str], list[list[str]]]:
    """The console's result table: its headers and its rows as the page shows them."""
    headers = [th.text for th in driver.find_elements(By.CSS_SELECTOR, "table.table-console th.header")]
    rows = [[td.text for td in tr.find_elements(By.CSS_SELECTOR, "td")]
            for tr in driver.find_elements(By.CSS_SELECTOR, "table.table-console tr.cr-table-row")]
    return headers, rows


def main(base: str, user: str, password_file: str, query_file: str, out: str, timeout_s: float = 60) -> None:
    token = base64.b64encode(f"{user}:{Path(password_file).read_text().strip()}".encode()).decode()
    driver = browser()
    try:
        driver.execute_cdp_cmd("Network.enable", {})
        driver.execute_cdp_cmd("Network.setExtraHTTPHeaders", {"headers": {"Authorization": f"Basic {token}"}})
        driver.get(f"{base}/#!/console")
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline and not driver.find_elements(By.CSS_SELECTOR, ".CodeMirror"):
            time.sleep(0.3)
        driver.execute_script("document.querySelector('.CodeMirror').CodeMirror.setValue(arguments[0])",
                              Path(query_file).read_text().strip())
        driver.find_element(By.XPATH, SUBMIT).click()
        headers: list[str] = []
        rows: list[list[str]] = []
        error = ""
        while time.monotonic() < deadline:
            headers, rows = results(driver)
            errors = driver.find_elements(By.CSS_SELECTOR, ".cr-console-error, .query-error, .alert-danger")
            error = " ".join(e.text for e in errors if e.text.strip())
            if headers or error:
                break
            time.sleep(0.3)
        time.sleep(1)  # the table finishes drawing
        Path(out).parent.mkdir(parents=True, exist_ok=True)
        driver.save_screenshot(out)
        shown_user = user if user in driver.find_element(By.TAG_NAME, "body").text.split() else ""
        title = driver.title
    finally:
        driver.quit()
    print(json.dumps({"title": title, "user": shown_user, "headers": headers, "rows": rows, "error": error,
                      "screenshot": out}))


if __name__ == "__main__":
    base_url, username, secret_file, sql_file, png = sys.argv[1:6]
    main(base_url, username, secret_file, sql_file, png)
