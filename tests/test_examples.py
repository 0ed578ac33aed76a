"""The shipped example configs: they load against the registry, and the gestures example plays the face."""

from __future__ import annotations

import itertools
import time
from pathlib import Path

import cv2
import pytest

from tests.conftest import FIXTURES, wait_for
from vjengine.analysis.landmarks import LandmarkAnalyser
from vjengine.analysis.signals import check_signal
from vjengine.params import default_store
from vjengine.params.modulation import Modulation
from vjengine.params.triggers import Trigger
from vjengine.settings.config import load_config
from vjengine.sources import Frame

EXAMPLES = Path(__file__).parent.parent / "examples"


@pytest.mark.parametrize("path", sorted(EXAMPLES.glob("*.toml")), ids=lambda p: p.name)
def test_an_example_config_loads_against_the_registry(path: Path) -> None:
    store = default_store()
    config = load_config(path, store)
    Modulation(store, config.modulation, check_signal)  # every binding and trigger parses


def test_the_gestures_example_binds_expressions_to_directions_and_gestures_to_presets() -> None:
    store = default_store()
    config = load_config(EXAMPLES / "gestures.toml", store)
    modulation = Modulation(store, config.modulation, check_signal)
    assert {(b.param, b.signal) for b in modulation.bindings} == {
        ("direction.0", "face.smile"),
        ("direction.1", "face.brows"),
        ("direction.2", "face.jaw"),
    }
    assert {(t.signal, t.param, t.value) for t in modulation.triggers} == {
        ("hand.fist", "preset.recall", 1),
        ("hand.open", "preset.recall", 2),
    }
    assert all(isinstance(t, Trigger) and t.rearm < t.on for t in modulation.triggers)
    assert config.params["landmarks.face"] is True


def test_the_portraits_smile_moves_the_picture_along_the_first_direction() -> None:
    """The real face landmarker on the fixture portrait, through the example's modulation."""
    store = default_store()
    config = load_config(EXAMPLES / "gestures.toml", store)
    modulation = Modulation(store, config.modulation, check_signal)
    face = str(FIXTURES / "mediapipe" / "face_landmarker.task")
    analyser = LandmarkAnalyser({"face": face}, hands=False, face=True, rate=0, release=0.0)
    image = cv2.cvtColor(cv2.imread(str(FIXTURES / "mediapipe" / "face_256.png")), cv2.COLOR_BGR2RGB)
    try:
        frames = itertools.count()

        def detected() -> bool:
            if analyser.detections.get("face", 0):
                return True
            analyser.analyse(Frame(image, next(frames), time.monotonic()))
            return False

        assert wait_for(detected, 60, interval=0.01), "no face detection within 60 s"
        signals = analyser.analyse(Frame(image, next(frames), time.monotonic()))
    finally:
        analyser.close()
    snapshot = modulation.apply(store.snapshot(), signals)
    assert snapshot["direction.0"] == pytest.approx(3 * signals["face.smile"]) and snapshot["direction.0"] > 1.5
    assert snapshot["direction.2"] < 1.0  # the mouth is closed: the jaw's direction barely moves
