"""The real `vjengine` command given the wrong thing: one line naming the mistake, status 2, and said
before any work (a model that does not exist would otherwise be the first complaint)."""

from __future__ import annotations

import subprocess

import cv2
import numpy as np
import pytest

from tests.conftest import one_line_error, run_cli


def vjengine(*args: str, cwd=None) -> subprocess.CompletedProcess:
    """The command run in this process: a mistake is said before any work, so a second Python is not needed."""
    return run_cli(*args, cwd=cwd)


def test_render_of_the_latents_project_writes_is_one_line(tmp_path):
    latents = tmp_path / "latents.npy"
    np.save(latents, np.zeros((8, 512), np.float32))
    error = one_line_error(vjengine("render", str(latents), "--output", "none"))
    assert "not a vjengine recording" in error and "vjengine run --record" in error


def test_render_of_a_text_file_never_suggests_unpickling_it(tmp_path):
    fake = tmp_path / "set.npz"
    fake.write_text("not numpy at all")
    error = one_line_error(vjengine("render", str(fake), "--output", "none"))
    assert "not a vjengine recording" in error and "pickle" not in error


@pytest.fixture
def photo(tmp_path):
    path = tmp_path / "photo.png"
    cv2.imwrite(str(path), np.full((40, 40, 3), 128, np.uint8))
    return path


def project(photo, *args: str) -> subprocess.CompletedProcess:
    """`vjengine project` with a model that does not exist: a check made after loading would say that instead."""
    return vjengine("project", str(photo), "--model", "missing.pkl", "--vgg-weights", "none", *args, cwd=photo.parent)


def test_project_out_where_nothing_can_be_written_is_said_before_the_optimisation(photo):
    (photo.parent / "a-file").write_text("")
    error = one_line_error(project(photo, "--out", "a-file/face"))
    assert "project --out a-file/face" in error and "not a folder" in error


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--lr", "-1"], "--lr -1.0: give a positive learning rate"),
        (["--steps", "0"], "--steps 0: give at least 1 step"),
        (["--noise-reg", "-5"], "--noise-reg -5.0"),
        (["--preset", "0"], "preset slot 0: use a whole number from 1 to 127"),
    ],
    ids=["lr", "steps", "noise-reg", "preset"],
)
def test_project_option_out_of_range_is_said_before_any_work(photo, args, message):
    assert message in one_line_error(project(photo, *args))
    assert sorted(p.name for p in photo.parent.iterdir()) == ["photo.png"]  # nothing written
