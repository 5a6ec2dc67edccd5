"""Secret key files: created (mode 0600) in the data dir on first use, or provided by the deployment."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path


def read_or_create(path: Path, make: Callable[[], bytes], *, create: bool = True) -> bytes:
    """The file's bytes; when missing and ``create``, ``make()`` is written first (a concurrent starter
    reads the winner's). A deployment that names its key files passes ``create=False``: a missing mount
    must stop the process rather than let each replica invent its own key."""
    path = Path(path)
    if not path.exists():
        if not create:
            raise RuntimeError(f"key file {path} is missing (it is configured explicitly, so it is not created)")
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(make())
        try:
            os.link(tmp, path)
        except FileExistsError:
            pass
        finally:
            tmp.unlink()
    return path.read_bytes()
