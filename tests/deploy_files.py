"""What the deploy/ tests read: the compose file and Kubernetes manifests parsed, and what they must match."""

from __future__ import annotations

import re
import shlex
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from shared.settings import SERVICES, Settings

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"
K8S = DEPLOY / "k8s"
# Every service with a worker.py runs an arq worker (as `jingzhun up` does).
WORKER_SERVICES = tuple(s for s in SERVICES if (ROOT / "services" / s / "worker.py").is_file())
HTTP_SERVICES = SERVICES          # gateway, registry, funds, notifications
# Every setting the code reads: pydantic-settings maps field `x` to JINGZHUN_X.
ENV_VARS = sorted(f"JINGZHUN_{name.upper()}" for name in Settings.model_fields)
# Manifests that document Secrets for the operator to create; parsed and checked, never applied by kustomize.
K8S_EXAMPLES = {"secrets.example.yaml"}
MODULE_REF = re.compile(r"\b(services\.[A-Za-z_][\w.]*):([A-Za-z_]\w*)")


# ---------------------------------------------------------------------------------------------------------
# loading


@cache
def compose() -> dict[str, Any]:
    return yaml.safe_load((DEPLOY / "compose.yaml").read_text())


@cache
def k8s_docs() -> tuple[tuple[str, dict[str, Any]], ...]:
    docs = []
    for path in sorted(K8S.glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if doc:
                docs.append((path.name, doc))
    return tuple(docs)


def k8s(kind: str) -> list[dict[str, Any]]:
    return [doc for _, doc in k8s_docs() if doc["kind"] == kind]


def pod_specs() -> list[tuple[str, dict[str, Any]]]:
    """(name, pod spec) of every Deployment and Job."""
    return [(d["metadata"]["name"], d["spec"]["template"]["spec"]) for d in k8s("Deployment") + k8s("Job")]


def app_services() -> dict[str, dict[str, Any]]:
    """The compose services that run the project's image (everything but postgres and redis)."""
    return {name: svc for name, svc in compose()["services"].items() if "build" in svc}


def interpolate(value: str) -> str:
    """Compose's ${VAR:-default} and ${VAR:?error} as compose would expand them with VAR unset or set to 'x'."""
    return re.sub(r"\$\{(\w+)(?::-([^}]*)|:\?[^}]*)?\}", lambda m: m.group(2) if m.group(2) is not None else "x",
                  value)


def command_text(command: Any) -> str:
    return command if isinstance(command, str) else shlex.join(command)


def argv(command: Any) -> list[str]:
    """The words of a command, looking inside `sh -c '...'`."""
    words = shlex.split(command_text(command))
    return shlex.split(words[2]) if words[:2] == ["sh", "-c"] else words


def listen_port(command: Any) -> int | None:
    """The port a uvicorn command listens on (literal, or resolved from the environment it is given)."""
    words = argv(command)
    if "--port" not in words:
        return None
    value = words[words.index("--port") + 1]
    if value.isdigit():
        return int(value)
    var = re.fullmatch(r"\$\(?\{?(\w+)[^\w]*", value.replace("$$", "$"))
    assert var, f"cannot read the port of {command!r}"
    return int(compose()["x-jingzhun-env"][var.group(1)])

