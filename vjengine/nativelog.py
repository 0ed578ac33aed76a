"""Keep MediaPipe's and TFLite's C++ log lines off the terminal, so a run prints only our own lines.

Those libraries log from C++ (absl: `W0000 00:00:... file.cc:121] ...`, `WARNING: All log messages before
absl::InitializeLog() ...`; TFLite: `INFO: Created TensorFlow Lite XNNPACK delegate for CPU.`) straight to
file descriptor 2, whatever Python's logging says; TF_CPP_MIN_LOG_LEVEL and GLOG_minloglevel do not reach them
(mediapipe 0.10). The only switch left is the descriptor itself: `quiet_native_logs` points fd 2 at a pipe
whose reader drops those lines and passes every other one on. Python's own `sys.stderr` moves to a duplicate
of the real stderr first, so our lines, warnings and tracebacks never go through the filter and can be
neither delayed nor lost at exit. Process-wide, so it is for the application (`vjengine` without
`--verbose`) to call, never a library.
"""

from __future__ import annotations

import os
import re
import sys
import threading

# absl/glog's prefix (severity I, W or E; a fatal F line still gets through), and TFLite's minimal logger,
# which is also how absl's "before InitializeLog" notice starts.
NATIVE_LINE = re.compile(
    rb"^(?:[IWE]\d{4} \d\d:\d\d:\d+\.\d+ +\d+ \S+:\d+\] |(?:INFO|WARNING|ERROR|VERBOSE): )",
)

_real_stderr: int | None = None


def is_native_log_line(line: bytes) -> bool:
    """Whether `line` is one of the C++ libraries' log lines that `quiet_native_logs` drops."""
    return NATIVE_LINE.match(line) is not None


def quiet_native_logs() -> None:
    """Filter the C++ libraries' log lines out of stderr from now on; once per process, POSIX only."""
    global _real_stderr
    if _real_stderr is not None or sys.platform == "win32":
        return
    try:
        sys.stderr.flush()
        real = os.dup(2)
        read, write = os.pipe()
        os.dup2(write, 2)
        os.close(write)
    except (OSError, ValueError):  # no usable stderr (a detached process): nothing to keep clean
        return
    _real_stderr = real
    encoding = getattr(sys.stderr, "encoding", None) or "utf-8"
    sys.stderr = open(real, "w", encoding=encoding, errors="backslashreplace", buffering=1, closefd=False)  # noqa: SIM115 - lives as long as the process
    threading.Thread(target=_filter, args=(read, real), name="native log filter", daemon=True).start()


def _filter(read: int, real: int) -> None:
    try:
        with os.fdopen(read, "rb") as pipe:
            for line in pipe:
                if not is_native_log_line(line):
                    os.write(real, line)
    except Exception:
        # Never leave the C++ libraries writing into a pipe nobody reads: they would block once it is full.
        os.dup2(real, 2)
