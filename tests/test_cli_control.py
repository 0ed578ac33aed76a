"""The real `vjengine run` played over OSC on 127.0.0.1: values go in by UDP and come back out."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import urllib.request

import numpy as np
import pytest
from pythonosc.udp_client import SimpleUDPClient

from tests.conftest import FIXTURES, wait_for
from vjengine.control.osc import decode
from vjengine.params import default_store


def free_port(kind: int = socket.SOCK_DGRAM) -> int:
    with socket.socket(socket.AF_INET, kind) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Listener:
    """An OSC target: collects what the engine sends."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.1)
        self.values: dict[str, list] = {}

    @property
    def port(self) -> int:
        return self.sock.getsockname()[1]

    def wait_for(self, address: str, check, timeout: float = 20.0) -> bool:
        """Whether `check` holds for the last arguments sent to `address` within `timeout` seconds."""

        def heard() -> bool:
            if address in self.values and check(self.values[address]):
                return True
            with contextlib.suppress(TimeoutError):  # the socket's own timeout paces the polling
                for addr, args in decode(self.sock.recv(65536)):
                    self.values[addr] = args
            return False

        return wait_for(heard, timeout, interval=0)


@pytest.fixture
def engine(tmp_path):
    """`vjengine run` on the fixture model, OSC in on a free port, OSC out to a listener."""
    listener = Listener()
    osc_port = free_port()
    config = tmp_path / "config.toml"
    query_port = free_port(socket.SOCK_STREAM)
    config.write_text(f'[osc]\ntargets = ["127.0.0.1:{listener.port}"]\nrate = 60\n[oscquery]\nmdns = false\n')
    args = ["--config", str(config), "--model", str(FIXTURES / "sg2_64.pkl"), "--model", "second=random:sg2-8"]
    args += ["--source", "pattern"]
    args += ["--output", "none", "--osc-port", str(osc_port), "--oscquery-port", str(query_port), "--no-status"]
    args += ["--presets", str(tmp_path / "bank"), "--set", "render.fps=30"]
    for name in ("anchor.npy", "direction.npy"):  # the STRINGS files, found from the engine's folder
        np.save(tmp_path / name, np.ones(512, np.float32))  # [w_dim] of the fixture model
    process = subprocess.Popen(
        [sys.executable, "-m", "vjengine", "run", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
        cwd=tmp_path,
    )
    client = SimpleUDPClient("127.0.0.1", osc_port)

    def echoed() -> bool:
        client.send_message("/vj/latent/seed", 1)
        return listener.wait_for("/vj/latent/seed", lambda v: v == [1], timeout=0.5) or process.poll() is not None

    assert wait_for(echoed, 300, interval=0), "no OSC echo within 300 s"  # generous: model load on a busy machine
    assert process.poll() is None, process.stdout.read()
    listener.query_port = query_port
    yield client, listener, process, tmp_path
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(120)
    finally:
        process.kill()
        listener.sock.close()


@pytest.mark.slow  # a real engine process, played over UDP
def test_every_writable_parameter_set_by_osc_comes_back_out(engine):
    client, listener, process, _ = engine
    store = default_store()
    for name, param in settable(store):
        value = _other_value(param)
        client.send_message(param.osc_address, list(value) if isinstance(value, tuple) else value)
        assert listener.wait_for(param.osc_address, lambda got, v=value: _same(got, v)), name
    assert process.poll() is None


def oscquery_value(port: int, address: str):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{address}?VALUE", timeout=30) as response:
        return json.load(response)["VALUE"]


@pytest.mark.slow  # a real engine process, played over UDP
def test_every_writable_parameter_set_by_osc_reads_back_through_oscquery(engine):
    client, listener, process, _ = engine
    store = default_store()
    for _name, param in settable(store):
        value = _other_value(param)
        client.send_message(param.osc_address, list(value) if isinstance(value, tuple) else value)
    for name, param in settable(store):
        value = _other_value(param)
        assert wait_for(lambda p=param, v=value: _same(oscquery_value(listener.query_port, p.osc_address), v), 10), (
            f"{name}: OSCQuery still says {oscquery_value(listener.query_port, param.osc_address)}"
        )


@pytest.mark.slow  # a real engine process, played over UDP
def test_norm_addresses_reach_the_running_engine(engine):
    client, listener, process, _ = engine
    client.send_message("/vj/norm/truncation/psi", 1.0)
    assert listener.wait_for("/vj/truncation/psi", lambda v: v == [2.0])


@pytest.mark.slow  # a real engine process, played over UDP
def test_preset_store_and_recall_by_osc_write_the_bank(engine):
    client, listener, process, tmp_path = engine
    client.send_message("/vj/corruption/gain", 0.5)
    assert listener.wait_for("/vj/corruption/gain", lambda v: v == [0.5])
    bank = tmp_path / "bank" / "presets.json"

    def stored() -> bool:
        client.send_message("/vj/preset/store", 3)  # refused (and logged) until the first frame is out
        return wait_for(bank.exists, 0.25)

    assert wait_for(stored, 120, interval=0)
    client.send_message("/vj/corruption/gain", 0.0)
    assert listener.wait_for("/vj/corruption/gain", lambda v: v == [0.0])
    client.send_message("/vj/preset/recall", 3)
    assert listener.wait_for("/vj/corruption/gain", lambda v: v == [0.5])
    assert listener.wait_for("/vj/preset/b", lambda v: v == [3])


@pytest.mark.slow  # a real engine process, played over UDP
def test_garbage_does_not_stop_the_engine(engine):
    client, listener, process, _ = engine
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    for i in range(2000):
        sock.sendto(os.urandom(1 + i % 60), ("127.0.0.1", client._port))
    sock.close()
    client.send_message("/vj/latent/seed", 77)
    assert listener.wait_for("/vj/latent/seed", lambda v: v == [77])
    assert process.poll() is None


ACTIONS = {param.name for param in default_store().params.values() if param.action}  # write-only, tested alone


def settable(store):
    return [(name, param) for name, param in store.params.items() if name not in ACTIONS]


STRINGS = {  # valid, non-default text values (the engine refuses files that are not there; the fixture writes them)
    "latent.anchor": "anchor.npy",
    "visual.layers": "conv4_1:1",
    "visual.layout": "whole",
    "visual.assign": "0-1",
    "direction.layers": "0-1",
    "direction.file": "direction.npy",
    "preset.style": "fine",
    "model.name": "second",  # the bank's second model (the fixture's is named sg2_64, its file's stem)
    "model.blend.layers": "coarse",
}


# model.slot and model.name are two views of one choice (setting a name sets the slot): values that agree.
NUMBERS = {"model.slot": 1}


def _other_value(param):
    """A valid value different from the default, exactly representable as an OSC float32."""
    if param.name in NUMBERS:
        return NUMBERS[param.name]
    if param.kind == "bool":
        return not param.default
    if param.kind == "enum":
        return param.choices[-1] if param.default != param.choices[-1] else param.choices[0]
    if param.kind == "string":
        return STRINGS[param.name]
    if param.kind == "int":
        return int(param.max if param.default != param.max else param.min)
    if param.kind == "vector":
        return tuple(float(param.max) for _ in range(param.size))
    return float(param.max if param.default != param.max else param.min)


def _same(got, value) -> bool:
    expected = list(value) if isinstance(value, tuple) else [value]
    return len(got) == len(expected) and all(
        abs(g - e) < 1e-6 if isinstance(e, float) and not isinstance(e, bool) else g == e
        for g, e in zip(got, expected, strict=True)
    )


def test_the_docs_table_of_actions_is_the_one_their_declarations_give():
    from pathlib import Path

    from vjengine.control.actions import actions_markdown

    osc_page = (Path(__file__).parent.parent / "docs" / "osc.md").read_text()
    block = osc_page.split("<!-- actions:begin")[1].split("\n", 1)[1].split("<!-- actions:end -->")[0]
    assert block.strip() == actions_markdown()  # regenerate: vjengine params --actions --markdown


def _refusal(caplog, address: str, *args) -> str:
    """The one warning an action asked over OSC gives (it is not done)."""
    from vjengine.control.actions import Actions, Targets
    from vjengine.params.modulation import Modulation

    store = default_store()
    with caplog.at_level(logging.WARNING, logger="vjengine"):
        assert not Actions(Targets(store, modulation=Modulation(store))).invoke(address, args, source="osc")
    [line] = [r.getMessage() for r in caplog.records]
    return line


def test_unbinding_what_is_not_bound_says_so(caplog):
    line = _refusal(caplog, "/vj/unbind", "truncation.psi")
    said = "no modulation drives 'truncation.psi'; nothing to unbind; ignored"
    assert line == f"OSC /vj/unbind ['truncation.psi']: {said}"


def test_resetting_an_unknown_parameter_names_it(caplog):
    assert "unknown parameter 'truncation.psy'" in _refusal(caplog, "/vj/reset", "truncation.psy")
