"""Recording to disk: a video file through PyAV, or a numbered PNG sequence through OpenCV."""

from __future__ import annotations

import logging
import re
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from vjengine.errors import VJError
from vjengine.files import make_folder
from vjengine.outputs.base import Sink, missing_module

log = logging.getLogger(__name__)

VIDEO_EXTENSIONS = (".mp4", ".mov", ".mkv")
# Video timestamps count milliseconds: fine enough for any frame rate, and within the 1/65535 that MPEG-4
# part 2 (the fallback codec) allows.
TIME_BASE = Fraction(1, 1000)
_NUMBER_FIELD = re.compile(r"%0?\d*d")


class FileSink(Sink):
    """`file:PATH`: the recording sinks. `from_spec` picks video or PNG sequence from the path."""

    kind = "file"
    usage = "file:PATH"
    description = (
        "file:PATH - record to PATH: .mp4, .mov or .mkv video (H.264), or a PNG sequence when PATH holds %d "
        "(file:frames/%05d.png)"
    )
    live = False

    def __init__(self, name: str, path: Path, *, buffer: int = 120) -> None:
        self.path = path
        super().__init__(name, buffer=buffer)

    @classmethod
    def from_spec(cls, arg: str | None, name: str, fps: float) -> Sink:
        if not arg:
            raise VJError("the file output needs a path: file:out.mp4 or file:frames/%05d.png")
        if _NUMBER_FIELD.search(arg):
            return PngSequenceSink(name, arg)
        return VideoFileSink(name, Path(arg).expanduser(), fps)

    @staticmethod
    def target(arg: str) -> str:
        """The file `file:ARG` writes, as an absolute path with links resolved, to tell whether two outputs
        write the same one. A PNG sequence's number field reads %d, whatever its width: f%03d.png and
        f%05d.png name the same files from frame 10000 on."""
        return str(Path(_NUMBER_FIELD.sub("%d", arg, count=1)).expanduser().resolve())

    @classmethod
    def availability(cls) -> str:
        missing = [why for why in (_missing_av(), _missing_cv2()) if why]
        return "; ".join(missing) if missing else "available"


class VideoFileSink(FileSink):
    """An H.264 (or MPEG-4 where FFmpeg lacks libx264) yuv420p video; the container comes from the extension.

    Frames are stamped with the time they were sent at (`send(frame, at=seconds)`), so the video plays in
    real time at whatever rate the loop managed: variable frame timing, the nominal `fps` being only the
    encoder's hint. A frame sent without a time follows the one before by 1/fps.
    """

    def __init__(self, name: str, path: Path, fps: float, *, buffer: int = 120) -> None:
        if path.suffix.lower() not in VIDEO_EXTENSIONS:
            raise VJError(
                f"cannot record video to {str(path)!r}: use a path ending in {', '.join(VIDEO_EXTENSIONS)} "
                "(or %05d.png for a PNG sequence)"
            )
        if why := _missing_av():
            raise VJError(f"cannot record {str(path)!r}: {why}")
        if not fps > 0:
            raise VJError(f"cannot record at {fps} fps: the frame rate must be positive")
        _make_parent(path)
        self.fps = fps
        self._container: Any = None
        self._stream: Any = None
        self._pad: tuple[int, int] = (0, 0)
        self._origin: float | None = None  # the time that is 0 in the video
        self._last_seconds: float | None = None
        self._last_pts = -1
        self._frames = 0
        super().__init__(name, path, buffer=buffer)

    def _open(self, first_frame: np.ndarray) -> None:
        import av

        height, width = first_frame.shape[:2]
        self._pad = (height % 2, width % 2)  # yuv420p subsamples chroma 2x2, so both sides must be even
        if any(self._pad):
            log.info("%s: odd frame size %dx%d; repeating the edge to encode it", self.name, width, height)
        codec = _video_codec()
        self._container = av.open(str(self.path), "w")
        self._stream = self._container.add_stream(
            codec,
            rate=Fraction(self.fps).limit_denominator(1001),
            width=width + self._pad[1],
            height=height + self._pad[0],
            pix_fmt="yuv420p",
            options=_codec_options(codec),
        )
        self._stream.codec_context.time_base = TIME_BASE
        self._stream.time_base = TIME_BASE
        if codec == "mpeg4":
            self._stream.bit_rate = max(2_000_000, int(width * height * self.fps * 0.3))  # its default is 200 kbit/s
        log.info(
            "%s: recording %dx%d with %s in real time (variable frame timing; %g fps nominal)",
            self.name,
            width,
            height,
            codec,
            self.fps,
        )

    def _write(self, frame: np.ndarray) -> None:
        import av

        if any(self._pad):
            frame = np.pad(frame, ((0, self._pad[0]), (0, self._pad[1]), (0, 0)), mode="edge")
        video = av.VideoFrame.from_ndarray(frame, format="rgb24")
        video.pts = max(
            round(self._seconds(self.frame_time) / TIME_BASE), self._last_pts + 1
        )  # encoders need pts rising
        video.time_base = TIME_BASE
        self._last_pts = video.pts
        self._frames += 1
        self._mux(self._stream.encode(video))

    def _seconds(self, at: float | None) -> float:
        """Where a frame sent at `at` goes in the video: seconds since the first frame."""
        expected = 0.0 if self._last_seconds is None else self._last_seconds + 1.0 / self.fps
        if at is None:
            seconds = expected
        else:
            if self._origin is None:
                self._origin = at - expected
            seconds = at - self._origin
        self._last_seconds = seconds
        return seconds

    def _close(self) -> None:
        if self._container is None:
            return
        try:
            if self._stream is not None:
                self._mux(self._stream.encode(None))  # flush the frames the encoder still holds back
        finally:
            self._container.close()
            self._container = None

    def _mux(self, packets: list[Any]) -> None:
        # Only the last frame's duration counts (the others last until the next one): make it the mean
        # interval, so that the video lasts as long as the take did, not one nominal frame short of it.
        mean = self._last_pts / (self._frames - 1) if self._frames > 1 else 1.0 / self.fps / TIME_BASE
        for packet in packets:
            packet.duration = max(1, round(mean))
            self._container.mux(packet)


class PngSequenceSink(FileSink):
    """One lossless PNG per frame, numbered from 0 through the printf-style field in the path."""

    def __init__(self, name: str, pattern: str, *, buffer: int = 120) -> None:
        if not pattern.lower().endswith(".png"):
            raise VJError(f"cannot write {pattern!r}: image sequences are PNG, use a path like frames/%05d.png")
        try:
            first = Path(pattern % 0).expanduser()
        except (TypeError, ValueError):
            raise VJError(f"cannot write {pattern!r}: use exactly one number field like %05d (%% for a %)") from None
        if why := _missing_cv2():
            raise VJError(f"cannot write {pattern!r}: {why}")
        _make_parent(first)
        self.pattern = str(Path(pattern).expanduser())
        self._index = 0
        super().__init__(name, first, buffer=buffer)

    def _write(self, frame: np.ndarray) -> None:
        import cv2

        path = self.pattern % self._index
        bgr = cv2.cvtColor(frame, cv2.COLOR_RGB2BGR)
        if not cv2.imwrite(path, bgr, [cv2.IMWRITE_PNG_COMPRESSION, 1]):  # level 1: several times faster than 3
            raise OSError(f"could not write {path}")
        self._index += 1


def _video_codec() -> str:
    import av

    try:
        av.codec.Codec("libx264", "w")
    except (av.codec.codec.UnknownCodecError, ValueError):
        return "mpeg4"  # some FFmpeg builds leave out the GPL x264
    return "libx264"


def _codec_options(codec: str) -> dict[str, str]:
    # veryfast keeps 1080p60 recording ahead of the renderer on a few cores; crf 18 looks near lossless
    return {"preset": "veryfast", "crf": "18"} if codec == "libx264" else {}


def _make_parent(path: Path) -> None:
    """Create the folder and try writing in it, so a bad path fails at start, not at the first frame."""
    make_folder(path.parent, f"file:{path}")


def _missing_av() -> str | None:
    return missing_module("av", "video recording needs PyAV: pip install av")


def _missing_cv2() -> str | None:
    return missing_module("cv2", "PNG sequences need OpenCV: pip install opencv-python")
