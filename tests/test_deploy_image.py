"""Static checks of what deploy/ names in the code and the image: modules, commands, the Dockerfile, the probe.

No Docker engine runs here: the files are parsed and cross-checked against the code (see tests/test_deploy.py).
"""

from __future__ import annotations

import fnmatch
import importlib
import importlib.util
import re
import shlex
import subprocess
import sys
import threading
import tomllib
from functools import cache
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import yaml

from tests.deploy_files import (DEPLOY, HTTP_SERVICES, MODULE_REF, ROOT, WORKER_SERVICES, app_services, command_text,
                                compose, interpolate, pod_specs)


# ---------------------------------------------------------------------------------------------------------
# the commands and modules the deploy files name


def all_commands() -> list[str]:
    commands = [command_text(svc["command"]) for svc in app_services().values()]
    commands += [command_text(c["command"]) for _, spec in pod_specs() for c in spec["containers"]]
    cmd = re.search(r"^CMD (\[.*\])$", (DEPLOY / "Dockerfile").read_text(), re.M)
    assert cmd, "the Dockerfile has no CMD"
    commands.append(command_text(yaml.safe_load(cmd.group(1))))
    return commands


def test_every_app_module_named_by_a_command_exists():
    refs = {ref for command in all_commands() for ref in MODULE_REF.findall(command)}
    assert {f"services.{svc}.app" for svc in HTTP_SERVICES} <= {module for module, _ in refs}
    for module, attr in sorted(refs):
        assert (ROOT / (module.replace(".", "/") + ".py")).is_file(), f"{module} is not in the repository"
        factory = getattr(importlib.import_module(module), attr, None)
        assert callable(factory), f"{module}:{attr} is not a factory"


def test_every_jingzhun_command_exists():
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts.get("jingzhun") == "jingzhun.cli:main"
    jingzhun = {tuple(shlex.split(c)[1:]) for c in all_commands() if shlex.split(c)[0] == "jingzhun"}
    assert ("migrate",) in jingzhun and {("worker", s) for s in WORKER_SERVICES} <= jingzhun
    run = "import sys; from jingzhun.cli import main; sys.argv[0] = 'jingzhun'; sys.exit(main())"
    for args in sorted(jingzhun):
        if args[0] == "worker":
            module = importlib.import_module(f"services.{args[1]}.worker")
            assert callable(getattr(module, "settings", None)), f"services.{args[1]}.worker has no settings()"
        # argparse answers --help with 0 only when the command (and a service's name) is known
        done = subprocess.run([sys.executable, "-c", run, *args, "--help"], cwd=ROOT, capture_output=True,
                              timeout=120)
        assert done.returncode == 0, f"`jingzhun {' '.join(args)}` is not a command: {done.stderr.decode()[-500:]}"


def test_the_image_ships_the_probe_the_healthchecks_call():
    dockerfile = (DEPLOY / "Dockerfile").read_text()
    assert re.search(r"^COPY .*deploy/probe\.py /usr/local/bin/jingzhun-probe$", dockerfile, re.M)
    uses = [c for c in all_commands() if "jingzhun-probe" in c]
    uses += [command_text(svc["healthcheck"]["test"]) for svc in app_services().values() if "healthcheck" in svc]
    uses += [command_text(c[p]["exec"]["command"]) for _, spec in pod_specs() for c in spec["containers"]
             for p in ("readinessProbe", "livenessProbe") if "exec" in c.get(p, {})]
    modes = {shlex.split(u)[shlex.split(u).index("jingzhun-probe") + 1] for u in uses if "jingzhun-probe" in u}
    assert modes and modes <= {"http", "deps", "alive"}


# ---------------------------------------------------------------------------------------------------------
# the Dockerfile


def dockerfile_instructions() -> list[tuple[str, str]]:
    text = re.sub(r"\\\n", " ", (DEPLOY / "Dockerfile").read_text())
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1] if " " in line.strip() else "")
            for line in map(str.strip, text.splitlines()) if line and not line.startswith("#")]


def test_dockerfile_is_multi_stage_uv_built_and_non_root():
    instructions = dockerfile_instructions()
    args = {a.split("=", 1)[0]: a.split("=", 1)[1] for kind, a in instructions if kind == "ARG" and "=" in a}
    stages = [re.sub(r"\$\{(\w+)\}", lambda m: args[m.group(1)], a).split() for kind, a in instructions
              if kind == "FROM"]
    assert len(stages) >= 2, "builder and runtime stages"
    assert stages[-1][0].startswith("python:3.11-slim"), "the runtime is python:3.11-slim"
    runs = " ".join(a for kind, a in instructions if kind == "RUN")
    assert re.search(r"uv sync[^&]*--no-dev", runs), "the venv is made by `uv sync --no-dev`"
    assert not re.search(r"--locked|--frozen", runs), "uv.lock is not committed, so it cannot be required"
    final = instructions[max(i for i, (kind, _) in enumerate(instructions) if kind == "FROM"):]
    assert any(kind == "COPY" and a.startswith("--from=") and "venv" in a for kind, a in final)
    users = [a for kind, a in final if kind == "USER"]
    assert users and users[-1].split(":")[0] not in ("root", "0"), "the runtime runs as a non-root user"
    assert any(kind in ("CMD", "ENTRYPOINT") for kind, _ in final)


def test_dockerfile_copies_only_what_exists_and_is_not_ignored():
    ignore = [line for line in (DEPLOY / "Dockerfile.dockerignore").read_text().splitlines()
              if line and not line.startswith("#")]

    def ignored(path: str) -> bool:
        result = False
        for pattern in ignore:
            negate = pattern.startswith("!")
            pat = pattern.lstrip("!").rstrip("/")
            if fnmatch.fnmatch(path, pat) or path.startswith(pat + "/"):
                result = not negate
        return result

    for kind, arg in dockerfile_instructions():
        if kind != "COPY" or "--from=" in arg:
            continue
        sources = [w for w in arg.split() if not w.startswith("--")][:-1]
        for source in sources:
            matches = list(ROOT.glob(source))
            assert matches or "*" in source, f"COPY {source}: not in the repository"
            for match in matches:
                assert not ignored(str(match.relative_to(ROOT))), f"COPY {source}: excluded by the .dockerignore"


def test_images_name_no_registry_host():
    """Images are given by name only; where they come from is the operator's choice (kustomize, .env)."""
    images = [svc["image"] for svc in compose()["services"].values()]
    images += [c["image"] for _, spec in pod_specs() for c in spec["containers"]]
    instructions = dockerfile_instructions()
    args = {a.split("=", 1)[0]: a.split("=", 1)[1] for kind, a in instructions if kind == "ARG" and "=" in a}
    images += [re.sub(r"\$\{(\w+)\}", lambda m: args[m.group(1)], a).split()[0]
               for kind, a in instructions if kind == "FROM"]
    for image in images:
        image = interpolate(image)
        first = image.split("/")[0]
        assert "/" not in image or not ("." in first or ":" in first or first == "localhost"), image
    text = (DEPLOY / "Dockerfile").read_text()
    assert not re.search(r"--(extra-)?index-url|UV_INDEX|PIP_INDEX", text), "the Dockerfile names a package index"


# ---------------------------------------------------------------------------------------------------------
# the probe script


@cache
def probe():
    spec = importlib.util.spec_from_file_location("jingzhun_probe", DEPLOY / "probe.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self):   # noqa: N802
        self.send_response(200 if self.path == "/readyz" else 503)
        self.end_headers()

    def log_message(self, *args):
        pass


def test_probe_http_accepts_only_2xx():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        base = f"http://127.0.0.1:{server.server_address[1]}"
        assert probe().check_http(f"{base}/readyz") is None
        assert "503" in probe().check_http(f"{base}/other")
        assert probe().main(["http", f"{base}/readyz"]) == 0
        assert probe().main(["http", f"{base}/other"]) == 1
    finally:
        server.shutdown()
        server.server_close()
    assert probe().check_http(f"{base}/readyz", timeout=1) is not None   # nobody listens any more


def test_probe_alive_reads_the_process_state(tmp_path):
    stat = tmp_path / "stat"
    stat.write_text("1 (uvicorn (x) ) S 0 1 1 0 -1")
    assert probe().check_alive(stat) is None
    stat.write_text("1 (jingzhun) Z 0 1 1 0 -1")
    assert "state Z" in probe().check_alive(stat)
    assert probe().check_alive(tmp_path / "missing") is not None
    assert probe().main(["nonsense"]) == 2


def test_probe_deps_fails_when_the_servers_do_not_answer(monkeypatch):
    monkeypatch.setenv("JINGZHUN_DATABASE_URL", "postgresql://nobody@127.0.0.1:1/postgres")
    monkeypatch.setenv("JINGZHUN_REDIS_URL", "redis://127.0.0.1:1/0")
    assert probe().check_deps("registry", timeout=2).startswith("database:")
    assert "unknown service" in probe().check_deps("nosuch")
    monkeypatch.delenv("JINGZHUN_REDIS_URL")
    assert "must both be set" in probe().check_deps("registry")
