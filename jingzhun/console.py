"""What ``jingzhun`` says to the person at the terminal: one-line messages, failures explained, a progress bar."""

from __future__ import annotations

import json
import sys
import time
from datetime import UTC, datetime


class CliError(Exception):
    """A failure explained to the user in one message (no traceback)."""


# `jingzhun up` with its output not on a terminal: what it says is one JSON object per line, like its services' logs
JSON_LINES = False


def _json_line(message: str, level: str) -> str:
    return json.dumps({"ts": datetime.now(UTC).isoformat(timespec="milliseconds"), "service": "jingzhun",
                       "level": level, "logger": "jingzhun", "msg": message}, ensure_ascii=False)


def say(message: str, *, level: str = "info") -> None:
    """A message on stderr: ``jingzhun: …`` (a JSON line under :data:`JSON_LINES`)."""
    print(_json_line(message, level) if JSON_LINES else f"jingzhun: {message}", file=sys.stderr, flush=True)


def announce(message: str) -> None:
    """What a person must see on stdout (the ready line, a password shown once); a JSON line under
    :data:`JSON_LINES`."""
    print(_json_line(message, "info") if JSON_LINES else message, flush=True)


class ProgressBar:
    """``[#######.......]  12,345 / 350,000 rows  3.5%`` on stderr, redrawn at most 10 times a second."""

    def __init__(self, label: str, stream=None, width: int = 30) -> None:
        self.label, self.stream, self.width = label, stream or sys.stderr, width
        self._last = 0.0
        self.started = time.monotonic()

    async def __call__(self, total: int, done: int) -> None:
        now = time.monotonic()
        if now - self._last < 0.1 and done < total:
            return
        self._last = now
        share = done / total if total else 1.0
        filled = int(share * self.width)
        self.stream.write(f"\r{self.label} [{'#' * filled}{'.' * (self.width - filled)}] {done:,} / {total:,} rows "
                          f"{share:6.1%}")
        self.stream.flush()

    def close(self) -> None:
        self.stream.write("\n")
        self.stream.flush()
