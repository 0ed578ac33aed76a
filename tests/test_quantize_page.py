"""`preset.quantize = bar` in a real running engine, asked from the browser page in a real Chromium (a pad
clicked, a number key pressed) and over OSC on real UDP: the recall lands on the first frame of the next
bar, not before.

The engine's tempo runs on its own clock, so the test reads where in the bar each frame was from the engine
itself: its OSC out sends every frame's `tempo.count` and every change of `preset.a`, in order. A recall
held for the bar arrives with (or in the bundle just before) the first count that reached the bar; one that
did not wait arrives about two beats early, since the test asks early in a bar (60 bpm, four beats a bar).
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Iterator

import numpy as np
import pytest

from tests.conftest import wait_for
from tests.test_web_page import CHROMEDRIVER, CHROMIUM, browser, open_page, started  # noqa: F401 (a fixture)
from vjengine.control.osc import decode
from vjengine.latent.presets import Preset, PresetBank

pytest.importorskip("selenium.webdriver", reason="the browser tests need selenium (pip install -e .[test])")
from selenium.webdriver.common.action_chains import ActionChains  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402

pytestmark = pytest.mark.skipif(
    not (CHROMIUM and CHROMEDRIVER), reason="needs Debian's chromium and chromium-driver (.ci/run installs them)"
)
SLOT, QUANTUM = 5, 4
COUNT, PRESET_A = "/vj/signal/tempo/count", "/vj/preset/a"
TIMEOUT_S = 60  # only runs out when a test fails


class OSCOut:
    """Listens where the engine sends OSC out; keeps each bundle's (address, arguments) in arrival order."""

    def __init__(self) -> None:
        self.socket = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.socket.bind(("127.0.0.1", 0))
        self.socket.settimeout(0.2)
        self.port = self.socket.getsockname()[1]
        self.bundles: list[list[tuple[str, list]]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._read, name="osc out listener", daemon=True)
        self._thread.start()

    def _read(self) -> None:
        while not self._stop.is_set():
            try:
                data = self.socket.recv(65536)
            except OSError:
                continue
            self.bundles.append(decode(data))

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self.socket.close()

    def counts(self, bundles) -> list[float]:
        return [args[0] for bundle in bundles for address, args in bundle if address == COUNT]

    def latest_count(self) -> float | None:
        counts = self.counts(self.bundles[-20:])
        return counts[-1] if counts else None

    def first(self, holds: Callable[[str, list], bool], since: int = 0) -> int | None:
        """The index of the first bundle from `since` with a message for which `holds(address, args)`."""
        for index in range(since, len(self.bundles)):
            if any(holds(address, args) for address, args in self.bundles[index]):
                return index
        return None


@pytest.fixture(scope="module")
def out():
    listener = OSCOut()
    yield listener
    listener.close()


@pytest.fixture(scope="module")
def engine(tmp_path_factory, out) -> Iterator:
    tmp = tmp_path_factory.mktemp("quantize")
    PresetBank(tmp / "presets").store(Preset(SLOT, np.zeros((8, 512), np.float32), {}, "drop"))
    flags = ["--osc-out", f"127.0.0.1:{out.port}", "--osc-signals", "tempo.count"]
    for name, value in {"tempo.bpm": 60, "tempo.quantum": QUANTUM, "preset.quantize": "bar", "preset.time": 0}.items():
        flags += ["--set", f"{name}={value}"]
    with started(tmp, *flags) as running:
        yield running


@pytest.fixture
def page(browser, engine):  # noqa: F811 (the fixture imported above)
    return open_page(browser, f"http://127.0.0.1:{engine.preview}/")


def recall_lands_on_the_bar(engine, out: OSCOut, ask: Callable[[], None]) -> None:
    """Early in a bar, `ask` for a recall of SLOT; it must arrive with the first frame of the next bar."""
    shown = [args for bundle in out.bundles for address, args in bundle if address == PRESET_A]
    if shown and shown[-1] != [0]:  # a recall of an earlier test: back to the live seed, at once (a parameter)
        since = len(out.bundles)
        engine.send_osc("preset.a", 0)
        assert wait_for(lambda: out.first(lambda a, v: a == PRESET_A and v == [0], since) is not None, TIMEOUT_S)

    def early_in_a_bar() -> bool:
        count = out.latest_count()
        return count is not None and 0.05 < (count % QUANTUM) / QUANTUM < 0.45

    assert wait_for(early_in_a_bar, TIMEOUT_S), f"no tempo.count from the engine: {out.bundles[-3:]}"
    since, asked_at = len(out.bundles), out.latest_count()
    ask()
    bar = (asked_at // QUANTUM + 1) * QUANTUM  # the next downbeat
    assert wait_for(lambda: out.first(lambda a, v: a == PRESET_A and v == [SLOT], since) is not None, TIMEOUT_S)
    landed = out.first(lambda a, v: a == PRESET_A and v == [SLOT], since)
    assert wait_for(lambda: out.first(lambda a, v: a == COUNT and v[0] >= bar, since) is not None, TIMEOUT_S)
    reached = out.first(lambda a, v: a == COUNT and v[0] >= bar, since)
    before = out.counts(out.bundles[since:landed])
    assert reached in (landed, landed + 1), (
        f"asked at beat {asked_at:.2f}: the recall arrived after the counts {before[-3:]}, "
        f"not with the first frame of the bar at beat {bar:g}"
    )


def test_a_pad_clicked_on_the_page(page, engine, out):
    pad = page.find_element(By.CSS_SELECTOR, f'#pads [data-preset="{SLOT}"]')
    recall_lands_on_the_bar(engine, out, pad.click)


def test_a_number_key_on_the_page(page, engine, out):
    page.find_element(By.ID, "status").click()  # nothing that takes keys has the focus
    recall_lands_on_the_bar(engine, out, lambda: ActionChains(page).send_keys(str(SLOT)).perform())


def test_osc_over_udp_to_the_running_engine(engine, out):
    recall_lands_on_the_bar(engine, out, lambda: engine.send_osc("preset.recall", SLOT))
