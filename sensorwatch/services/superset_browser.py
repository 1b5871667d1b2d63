"""Open a Superset dashboard in headless Chromium (Debian's ``chromium`` and
``chromedriver``, driven by Selenium), log in through the login page, wait until every
chart has its data, write a screenshot, and print what each chart got, as JSON.

Standalone (standard library + Selenium): it runs in Superset's environment
(``.venv-superset/bin/python``, where Selenium is a Superset dependency), started by
``sensorwatch.operations.dashboard.check``:

    python superset_browser.py BASE_URL DASHBOARD_PATH USER PASSWORD_FILE OUT.png CHARTS

The rows per chart are read from the page's own requests (Chrome's network log: the
responses of ``/api/v1/chart/data``), so they are what the rendered charts received.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from selenium import webdriver
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import WebDriverWait

CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
DATA = "/api/v1/chart/data"


def browser() -> webdriver.Chrome:
    options = Options()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--window-size=1600,1200", "--hide-scrollbars"):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"performance": "ALL"})
    return webdriver.Chrome(options=options, service=Service(CHROMEDRIVER))


def log_in(driver: webdriver.Chrome, base: str, user: str, password: str, timeout_s: float) -> None:
    """Through the login form, as a person would."""
    driver.get(f"{base}/login/")
    wait = WebDriverWait(driver, timeout_s)
    wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, "input#username, input[name=username]")))
    driver.find_element(By.CSS_SELECTOR, "input#username, input[name=username]").send_keys(user)
    driver.find_element(By.CSS_SELECTOR, "input#password, input[name=password]").send_keys(password)
    driver.find_element(By.CSS_SELECTOR, "button[type=submit], input[type=submit]").click()
    wait.until(lambda d: "/login" not in d.current_url)


def chart_data(driver: webdriver.Chrome, seen: dict[str, dict]) -> None:
    """Collect the chart-data requests of the page so far: per request id, the chart
    (``form_data.slice_id``) and, once loaded, the rows of its answer."""
    for entry in driver.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        params = message.get("params", {})
        if message["method"] == "Network.requestWillBeSent" and DATA in params["request"]["url"]:
            body = json.loads(params["request"].get("postData") or "{}")
            seen[params["requestId"]] = {"chart": (body.get("form_data") or {}).get("slice_id"), "rows": None}
        elif message["method"] == "Network.responseReceived" and params["requestId"] in seen:
            seen[params["requestId"]]["status"] = params["response"]["status"]
        elif message["method"] == "Network.loadingFinished" and params["requestId"] in seen:
            answer = driver.execute_cdp_cmd("Network.getResponseBody", {"requestId": params["requestId"]})
            results = json.loads(answer["body"]).get("result", [])
            seen[params["requestId"]]["rows"] = sum(len(r.get("data") or []) for r in results)
            seen[params["requestId"]]["errors"] = [r["error"] for r in results if r.get("error")]


def main(base: str, path: str, user: str, password_file: str, out: str, charts: int, timeout_s: float = 120) -> None:
    driver = browser()
    try:
        log_in(driver, base, user, Path(password_file).read_text().strip(), timeout_s)
        driver.get_log("performance")  # what the login pages did: not the dashboard's
        driver.get(f"{base}{path}")
        seen: dict[str, dict] = {}
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            chart_data(driver, seen)
            done = [s for s in seen.values() if s["rows"] is not None]
            if len({s["chart"] for s in done}) >= charts:
                break
            time.sleep(0.5)
        time.sleep(3)  # the charts draw after their data arrive
        Path(out).parent.mkdir(parents=True, exist_ok=True)
        driver.save_screenshot(out)
        rows = {str(s["chart"]): s["rows"] for s in seen.values() if s["rows"] is not None}
        errors = [e for s in seen.values() for e in s.get("errors", [])]
        statuses = sorted({int(s["status"]) for s in seen.values() if s.get("status")})
        title = driver.title
    finally:
        driver.quit()
    print(json.dumps({"title": title, "rows": rows, "errors": errors, "statuses": statuses, "screenshot": out}))


if __name__ == "__main__":
    base_url, dashboard_path, username, secret_file, png, expected = sys.argv[1:7]
    main(base_url, dashboard_path, username, secret_file, png, int(expected))
