"""The browser control page in a real Chromium against a real running engine (`vjengine run --remote`).

One engine (the random model, the test pattern, 32 px) and one browser serve every test of the module.
Chromium and chromedriver are Debian's (`.ci/run` installs them), driven by Selenium. The engine runs
with `--remote`, so the token is checked end to end: the page over 127.0.0.1 needs none, a request from
this machine's network address (never traffic off the machine) needs it.
"""

from __future__ import annotations

import http.client
import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.conftest import wait_for
from vjengine.control.oscquery import STATUS_COMMAND
from vjengine.params import REGISTRY
from vjengine.webaccess import lan_addresses

webdriver = pytest.importorskip("selenium.webdriver", reason="the browser tests need selenium (pip install -e .[test])")
from selenium.webdriver.common.action_chains import ActionChains  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.common.keys import Keys  # noqa: E402

pytest_plugins = ["tests.jack_server"]  # MIDI learn is played on a real MIDI stack

CHROMIUM = shutil.which("chromium")
CHROMEDRIVER = shutil.which("chromedriver")
pytestmark = pytest.mark.skipif(
    not (CHROMIUM and CHROMEDRIVER), reason="needs Debian's chromium and chromium-driver (.ci/run installs them)"
)
START_S = 300  # a cold start on a busy machine: only matters when the test is failing
LAN = next(iter(lan_addresses()), None)


def free_port(kind: int = socket.SOCK_STREAM) -> int:
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Engine:
    """`vjengine run` in the background, its log collected line by line."""

    def __init__(self, tmp: Path, *extra: str, osc: int | None = None, oscquery: int | None = None) -> None:
        self.preview, self.osc = free_port(), osc or free_port(socket.SOCK_DGRAM)
        self.oscquery = oscquery or free_port()
        self.presets = tmp / "presets"
        config = tmp / "quiet.toml"  # no trackers: nothing to download, a quicker start
        config.write_text(
            f'[landmarks]\nhands = "none"\nface = "none"\npose = "none"\n[oscquery]\nmdns = false\n'
            f'[midi]\nlearn_file = "{tmp / "learned.toml"}"\n',
            encoding="utf-8",
        )
        command = [sys.executable, "-m", "vjengine", "run", "--config", str(config), "--model", "random:sg2-32"]
        command += ["--source", "pattern", "--vgg-weights", "none", "--no-status", "--fps", "10", "--remote"]
        command += ["--output", f"preview:{self.preview}", "--osc-port", str(self.osc)]
        command += ["--oscquery-port", str(self.oscquery), "--presets", str(self.presets), *extra]
        env = {**os.environ, "PYTHONUNBUFFERED": "1", "VJENGINE_OFFLINE": "1", "VJENGINE_CACHE": str(tmp / "cache")}
        self.proc = subprocess.Popen(command, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True, env=env)
        self.log: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self.proc.stderr:
            self.log.append(line)

    @property
    def token(self) -> str:
        for line in self.log:
            if "control page for other devices" in line:
                return line.split("?token=")[1].split()[0]
        raise AssertionError("no token in the log:\n" + "".join(self.log))

    def status(self) -> dict | None:
        """The status the page is pushed, as the page gets it: over OSCQuery's websocket, once asked."""
        from websockets.exceptions import WebSocketException
        from websockets.sync.client import connect

        try:
            with connect(f"ws://127.0.0.1:{self.oscquery}/", open_timeout=30) as websocket:
                websocket.send(json.dumps({"COMMAND": STATUS_COMMAND}))
                while True:
                    message = websocket.recv(timeout=30)
                    if isinstance(message, str) and json.loads(message)["COMMAND"] == STATUS_COMMAND:
                        return json.loads(message)["DATA"]
        except (OSError, TimeoutError, WebSocketException):
            return None

    def said(self, text: str) -> bool:
        return any(text in line for line in self.log)

    def value(self, name: str):
        """A parameter's value read over OSCQuery, as any OSCQuery client reads it."""
        address = "/vj/" + name.replace(".", "/")
        url = f"http://127.0.0.1:{self.oscquery}{address}?VALUE"
        with urllib.request.urlopen(url, timeout=30) as response:
            return json.load(response)["VALUE"][0]

    def send_osc(self, name: str, *args) -> None:
        """A value over real UDP, as TouchOSC or TouchDesigner sends it."""
        from pythonosc.udp_client import SimpleUDPClient

        SimpleUDPClient("127.0.0.1", self.osc).send_message("/vj/" + name.replace(".", "/"), list(args))

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=120)
        except subprocess.TimeoutExpired:
            self.proc.kill()


@contextmanager
def started(tmp: Path, *extra: str, osc: int | None = None, oscquery: int | None = None) -> Iterator[Engine]:
    """An engine that has rendered (its pushed status counts frames), or with `oscquery`, a port someone else
    holds, one that serves its page (there is no status to ask then)."""
    running = Engine(tmp, *extra, osc=osc, oscquery=oscquery)

    def rendering() -> bool:
        if oscquery is not None:
            return running.said("control page at")
        return (running.status() or {}).get("frames", 0) > 0

    try:
        up = wait_for(lambda: rendering() or running.proc.poll() is not None, START_S)
        assert up and running.proc.poll() is None, "the engine did not start:\n" + "".join(running.log)
        yield running
    finally:
        running.stop()


@pytest.fixture(scope="module")
def engine(tmp_path_factory):
    with started(tmp_path_factory.mktemp("web")) as running:
        yield running


@pytest.fixture(scope="module")
def browser():
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1280,900"):
        options.add_argument(argument)
    driver = webdriver.Chrome(service=webdriver.ChromeService(CHROMEDRIVER), options=options)
    yield driver
    driver.quit()


def open_page(browser, url: str):
    browser.get(url)
    assert wait_for(lambda: browser.execute_script("return document.body.dataset.live === '1'"), 60), (
        browser.find_element(By.ID, "status").text
    )
    return browser


@pytest.fixture
def page(browser, engine):
    return open_page(browser, f"http://127.0.0.1:{engine.preview}/")


def control(page, name: str):
    return page.find_element(By.CSS_SELECTOR, f'[data-param="{name}"]')


def test_the_page_has_a_control_for_every_parameter_in_its_registry_group(page):
    groups = page.execute_script(
        "return Object.fromEntries([...document.querySelectorAll('[data-param]')]"
        ".map(el => [el.dataset.param, el.closest('details').dataset.group]))"
    )
    assert groups == {param.name: param.group for param in REGISTRY}


def test_moving_the_psi_slider_sets_the_engine(page, engine):
    slider = control(page, "truncation.psi")
    slider.click()
    slider.send_keys(Keys.END)  # the slider's maximum, as a performer's keyboard or drag would reach it
    assert wait_for(lambda: engine.value("truncation.psi") == 2.0)


def test_an_osc_message_over_udp_moves_the_slider(page, engine):
    engine.send_osc("transform.rotate", 45.0)
    assert wait_for(lambda: control(page, "transform.rotate").get_attribute("value") == "45")


def test_two_pages_stay_in_sync(page, engine):
    first = page.current_window_handle
    page.switch_to.new_window("window")
    try:
        open_page(page, f"http://127.0.0.1:{engine.preview}/")
        slider = control(page, "corruption.gain")
        slider.click()
        slider.send_keys(Keys.END)
        assert wait_for(lambda: engine.value("corruption.gain") == 1.0)
    finally:
        page.close()
        page.switch_to.window(first)
    assert wait_for(lambda: control(page, "corruption.gain").get_attribute("value") == "1")


def test_a_preset_pad_stores_and_recalls(page, engine):
    engine.send_osc("transform.scale", 2.0)
    assert wait_for(lambda: engine.value("transform.scale") == 2.0)
    pad = page.find_element(By.CSS_SELECTOR, '#pads [data-preset="5"]')
    ActionChains(page).key_down(Keys.SHIFT).click(pad).key_up(Keys.SHIFT).perform()  # shift+click stores
    assert wait_for(lambda: 5 in [p["slot"] for p in (engine.status() or {}).get("presets", [])])
    engine.send_osc("transform.scale", 1.0)
    assert wait_for(lambda: control(page, "transform.scale").get_attribute("value") == "1")
    pad.click()
    assert wait_for(lambda: engine.value("transform.scale") == 2.0)
    assert wait_for(lambda: control(page, "transform.scale").get_attribute("value") == "2")


def test_the_picture_in_the_page_changes_over_time(page):
    grab = (
        "const img = document.getElementById('picture');"
        "if (!img.naturalWidth) return null;"
        "const c = document.createElement('canvas'); c.width = img.naturalWidth; c.height = img.naturalHeight;"
        "c.getContext('2d').drawImage(img, 0, 0); return c.toDataURL();"
    )
    assert wait_for(lambda: page.execute_script(grab) is not None)
    first = page.execute_script(grab)
    assert wait_for(lambda: page.execute_script(grab) != first)


def test_the_page_fits_a_phone_in_portrait(browser, engine, tmp_path):
    metrics = {"width": 390, "height": 844, "deviceScaleFactor": 2, "mobile": True}
    browser.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", metrics)
    try:
        page = open_page(browser, f"http://127.0.0.1:{engine.preview}/")
        assert page.get_screenshot_as_file(str(tmp_path / "phone.png"))
        width = page.execute_script("return window.innerWidth")
        assert width == 390
        assert page.execute_script("return document.documentElement.scrollWidth") <= width
        overflowing = page.execute_script(
            "return [...document.querySelectorAll('[data-param], #pads button, header > *')]"
            ".filter(el => el.getBoundingClientRect().right > window.innerWidth + 0.5)"
            ".map(el => el.dataset.param || el.id || el.textContent)"
        )
        assert overflowing == []
    finally:
        browser.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})


def test_space_pauses_and_resumes_the_engine(page, engine):
    page.find_element(By.ID, "status").click()  # nothing that takes keys has the focus
    ActionChains(page).send_keys(Keys.SPACE).perform()
    try:
        assert wait_for(lambda: engine.value("render.paused") is True)
    finally:
        ActionChains(page).send_keys(Keys.SPACE).perform()
    assert wait_for(lambda: engine.value("render.paused") is False)


def test_the_filter_shows_only_matching_parameters(page):
    page.find_element(By.ID, "filter").send_keys("truncation")
    shown = page.execute_script(
        "return [...document.querySelectorAll('.row')].filter(r => r.offsetParent !== null).map(r => r.dataset.row)"
    )
    assert sorted(shown) == sorted(p.name for p in REGISTRY if "truncation" in f"{p.name} {p.description}".lower())


def test_the_status_line_is_pushed_not_polled(page):
    """The status line changes while nothing asks for it: count its updates as they come (a DOM observer)."""
    page.execute_script(
        "window.statusUpdates = 0;"
        "new MutationObserver(() => window.statusUpdates++)"
        ".observe(document.getElementById('status'), {childList: true, subtree: true, characterData: true});"
    )
    assert wait_for(lambda: page.execute_script("return window.statusUpdates") >= 3)
    assert " fps" in page.find_element(By.ID, "status").text
    requests = page.execute_script("return performance.getEntriesByType('resource').map(e => e.name)")
    assert not [url for url in requests if "status" in url]  # nothing fetched for it


def test_taken_control_ports_are_said_on_the_page_and_in_the_log(browser, tmp_path):
    """Another program holds the OSCQuery port (TCP) and the OSC port (UDP): the page says so, and what to pass."""
    with socket.create_server(("0.0.0.0", 0)) as oscquery, socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as osc:
        osc.bind(("127.0.0.1", 0))
        ports = {"oscquery": oscquery.getsockname()[1], "osc": osc.getsockname()[1]}
        with started(tmp_path, **ports) as engine:
            unavailable = f"controls unavailable: OSCQuery port {ports['oscquery']} is in use"
            osc_off = f"OSC in is off: cannot listen for OSC on 127.0.0.1:{ports['osc']}"
            assert wait_for(lambda: engine.said(unavailable) and engine.said(osc_off)), "".join(engine.log)
            browser.get(f"http://127.0.0.1:{engine.preview}/")
            notice = browser.find_element(By.ID, "notice")
            assert wait_for(lambda: notice.is_displayed() and unavailable in notice.text)
            assert "start with --oscquery-port N" in notice.text and osc_off in notice.text
            assert "--osc-port" in notice.text
            assert browser.find_element(By.ID, "status").text == "no controls"


needs_lan = pytest.mark.skipif(LAN is None, reason="this machine has no network address besides 127.0.0.1")


def get_from_lan(port: int, target: str) -> tuple[int, bytes]:
    """GET `target` from this machine's network address: the server sees a peer that is not loopback."""
    connection = http.client.HTTPConnection(LAN, port, timeout=30, source_address=(LAN, 0))
    try:
        connection.request("GET", target)
        response = connection.getresponse()
        return response.status, response.read(200)
    finally:
        connection.close()


@needs_lan
@pytest.mark.parametrize("target", ["/", "/stream", "/frame.jpg"])
def test_another_host_without_the_token_gets_nothing_from_the_page(engine, target):
    assert get_from_lan(engine.preview, target)[0] == 403
    assert get_from_lan(engine.preview, f"{target}?token=wrong")[0] == 403


@needs_lan
def test_another_host_without_the_token_gets_nothing_from_oscquery(engine):
    assert get_from_lan(engine.oscquery, "/vj/truncation/psi?VALUE")[0] == 403


@needs_lan
def test_another_host_without_the_token_gets_no_websocket(engine):
    from websockets.exceptions import InvalidStatus
    from websockets.sync.client import connect

    sock = socket.create_connection((LAN, engine.oscquery), timeout=30, source_address=(LAN, 0))
    with pytest.raises(InvalidStatus) as refused:
        connect(f"ws://{LAN}:{engine.oscquery}/", sock=sock, open_timeout=30)
    assert refused.value.response.status_code == 403


@needs_lan
def test_a_phone_with_the_token_plays_the_whole_page(browser, engine):
    """The link from the log, opened from the network address: page, picture and websocket all take the token."""
    page = open_page(browser, f"http://{LAN}:{engine.preview}/?token={engine.token}")
    assert wait_for(lambda: page.execute_script("return document.getElementById('picture').naturalWidth > 0"))
    slider = control(page, "transform.x")
    slider.click()
    slider.send_keys(Keys.HOME)
    assert wait_for(lambda: engine.value("transform.x") == -2.0)


@pytest.mark.slow  # an engine process of its own with MIDI, and a browser
def test_midi_learn_from_the_page_binds_the_next_knob(browser, jack_server, tmp_path):
    """Its own engine, with a controller on a real MIDI stack (JACK's dummy server): learn, turn, bound."""
    import mido

    name = f"vjtest-page-{uuid.uuid4().hex[:8]}"
    knob = mido.Backend(jack_server, load=True).open_output(name, virtual=True)
    try:
        with started(tmp_path, "--midi", name) as engine:
            page = open_page(browser, f"http://127.0.0.1:{engine.preview}/")
            learn = page.find_element(By.CSS_SELECTOR, '[data-learn="visual.deadzone"]')
            assert wait_for(lambda: learn.is_enabled())  # once the status says a controller is there
            learn.click()
            assert wait_for(lambda: (engine.status() or {}).get("midi", {}).get("learning") == "visual.deadzone")
            assert wait_for(lambda: "learning" in learn.get_attribute("class"))

            def turned_up() -> bool:
                knob.send(mido.Message("control_change", channel=0, control=85, value=127))  # on no map's knob
                return engine.value("visual.deadzone") == 1.0

            assert wait_for(turned_up)
            assert wait_for(lambda: "learning" not in learn.get_attribute("class"))
            assert wait_for(lambda: control(page, "visual.deadzone").get_attribute("value") == "1")
    finally:
        knob.close()
