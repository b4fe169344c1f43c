"""The dashboard in a real browser: headless Chromium from Debian's packages, driven by Selenium,
against a real uvicorn on 127.0.0.1 after a real poll. What a person sees is asserted; each page is
screenshotted into the test's temp dir (and, with MONITOR_SCREENSHOTS=DIR, copied there: that is
how docs/ is refreshed)."""

import os
import shutil
from pathlib import Path

import pytest
from conftest import INCIDENT
from test_web_api import HOSTILE, PROFILE, polled_feeds, served

CHROMIUM, CHROMEDRIVER = Path("/usr/bin/chromium"), Path("/usr/bin/chromedriver")
if not (CHROMIUM.exists() and CHROMEDRIVER.exists()):
    pytest.skip("needs Debian's chromium and chromium-driver (apt-get install -y chromium chromium-driver; "
                ".ci/run installs them)", allow_module_level=True)

from selenium import webdriver  # after the skip: selenium is needed only here
from selenium.common.exceptions import NoAlertPresentException
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.ui import WebDriverWait
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By


@pytest.fixture(scope="module")
def browser():
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                     "--window-size=1280,1000", "--no-first-run", "--disable-extensions"):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    driver.set_page_load_timeout(20)
    yield driver
    driver.quit()


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    with polled_feeds("sqlite", tmp_path_factory.mktemp("browser")) as state, served(state.runtime) as base:
        yield state, base


class Visit:
    """One walk through the dashboard: every page is checked for script that ran, then screenshotted."""

    def __init__(self, driver, base: str, folder: Path):
        self.driver, self.base, self.folder = driver, base, folder
        driver.get_log("browser")  # start with an empty console

    def open(self, path: str) -> None:
        self.driver.get(self.base + path)

    def text(self) -> str:
        return self.driver.find_element(By.TAG_NAME, "main").text

    def follow(self, element) -> None:
        """Click a link or a form's button and wait for the page it leads to (a click returns
        before the browser has left the old page)."""
        old = self.driver.find_element(By.TAG_NAME, "html")
        element.click()
        wait = WebDriverWait(self.driver, 10)
        wait.until(expected_conditions.staleness_of(old))
        wait.until(expected_conditions.presence_of_element_located((By.TAG_NAME, "main")))

    def check_and_shoot(self, name: str) -> None:
        with pytest.raises(NoAlertPresentException):
            self.driver.switch_to.alert
        assert self.driver.find_elements(By.CSS_SELECTOR, "main img") == []
        console = [entry["message"] for entry in self.driver.get_log("browser") if entry["level"] == "SEVERE"]
        assert console == [], console  # no script error, no Content-Security-Policy violation
        path = self.folder / f"{name}.png"
        assert self.driver.save_screenshot(str(path))
        if os.environ.get("MONITOR_SCREENSHOTS"):
            shutil.copy(path, Path(os.environ["MONITOR_SCREENSHOTS"]) / f"dashboard-{name}.png")


def test_a_person_walks_the_dashboard(browser, site, tmp_path):
    _, base = site
    visit = Visit(browser, base, tmp_path)

    visit.open("/incidents")
    headlines = [h.text for h in browser.find_elements(By.CSS_SELECTOR, "article.incident h2")]
    assert headlines == [f"#2 {HOSTILE}", f"#1 {INCIDENT['title']}"]  # the markup shows as text
    assert "dead after 1 attempt" in visit.text() and "desk" in visit.text()
    visit.check_and_shoot("incidents")

    visit.follow(browser.find_element(By.LINK_TEXT, f"#1 {INCIDENT['title']}"))
    assert browser.find_element(By.TAG_NAME, "h1").text == f"#1 {INCIDENT['title']}"
    marks = {(m.get_attribute("title"), m.text.removesuffix(m.get_attribute("title")))  # term, then group
             for m in browser.find_elements(By.CSS_SELECTOR, "mark")}
    assert ("attack", "Rocket") in marks and ("place", "Syria") in marks
    assert "Evidence" in visit.text() and "Pages sent" in visit.text()
    visit.check_and_shoot("incident")

    visit.open("/feeds")
    rows = [r.text for r in browser.find_elements(By.CSS_SELECTOR, "table.feeds tbody tr")]
    assert rows[0].startswith("broken") and "HTTP 500" in rows[0]
    visit.check_and_shoot("feeds")
    visit.follow(browser.find_element(By.LINK_TEXT, "wire"))
    assert HOSTILE in visit.text()
    visit.check_and_shoot("feed")

    visit.open("/outbox")
    dead = browser.find_elements(By.CSS_SELECTOR, "tr.status-dead")
    assert len(dead) == 2
    row_id = dead[0].find_element(By.TAG_NAME, "td").text
    visit.follow(dead[0].find_element(By.XPATH, ".//button[text()='Retry']"))
    assert f"Outbox row #{row_id} is pending again; the next dispatch sends it." in visit.text()
    assert len(browser.find_elements(By.CSS_SELECTOR, "tr.status-dead")) == 1
    assert browser.find_elements(By.CSS_SELECTOR, "tr.status-pending")[0].text.startswith(row_id)
    visit.check_and_shoot("outbox")

    visit.open("/try")
    browser.find_element(By.NAME, "title").send_keys("Drone strikes US base near Erbil <b>again</b>")
    browser.find_element(By.NAME, "text").send_keys(
        "A drone hit the coalition base at Erbil airport on Monday.")
    visit.follow(browser.find_element(By.XPATH, "//button[text()='Score']"))
    result = browser.find_element(By.CSS_SELECTOR, "section.result h2").text
    assert result.startswith(f"{PROFILE}: INCIDENT (score")
    assert "<b>again</b>" in browser.find_element(By.NAME, "title").get_attribute("value")
    visit.check_and_shoot("try")

    visit.open("/watchlist")
    assert "They load without error" in visit.text() and "json://127.0.0.1/..." in visit.text()
    visit.check_and_shoot("watchlist")
