"""Static checks of deploy/: the compose file and the Kubernetes manifests (the image: test_deploy_image.py).

No Docker engine or cluster runs here, so nothing is started: the files are parsed, cross-checked against the
code (every JINGZHUN_* setting, every module and command they name) and the manifests are validated against
the Kubernetes API schemas (kubernetes-validate, strict: unknown fields fail).
"""

from __future__ import annotations

import fnmatch
import re
import shutil
import subprocess
from pathlib import Path
from urllib.parse import urlsplit

import kubernetes_validate
import pytest
import yaml

from tests.deploy_files import (DEPLOY, ENV_VARS, HTTP_SERVICES, K8S, K8S_EXAMPLES, ROOT, WORKER_SERVICES,
                                app_services, command_text, compose, interpolate, k8s, k8s_docs, listen_port, pod_specs)


# ---------------------------------------------------------------------------------------------------------
# compose


def test_compose_runs_every_process_of_jingzhun_up():
    services = compose()["services"]
    for name in ("postgres", "redis", "migrate", *HTTP_SERVICES, *(f"{s}-worker" for s in WORKER_SERVICES)):
        assert name in services, f"compose.yaml has no service {name!r}"
    for svc in HTTP_SERVICES:
        assert f"services.{svc}.app:create" in command_text(services[svc]["command"]), svc
        assert "uvicorn --factory" in command_text(services[svc]["command"]), svc
    for svc in WORKER_SERVICES:
        assert services[f"{svc}-worker"]["command"] == ["jingzhun", "worker", svc]
    assert services["migrate"]["command"] == ["jingzhun", "migrate"]
    assert services["migrate"].get("restart") == "no", "migrate is a one-shot service"
    pg_major = int(re.search(r":(\d+)", services["postgres"]["image"]).group(1))
    assert pg_major >= 16
    assert services["redis"]["image"].startswith("redis:")


def test_compose_sets_every_setting_the_code_reads_in_every_app_container():
    assert app_services(), "no service builds the project's image"
    for name, svc in app_services().items():
        env = svc["environment"]
        assert isinstance(env, dict), name
        missing = [var for var in ENV_VARS if var not in env]
        assert not missing, f"{name} does not set or document {missing}"
        # Optional secrets are passed through (null), never set to "" (an empty admin password, an empty SMS URL).
        for var in ("JINGZHUN_ADMIN_PASSWORD", "JINGZHUN_SMS_URL"):
            assert env[var] is None, f"{name}: {var} must be passed through only when set"


def test_compose_service_urls_point_at_the_services_listening_there():
    env = compose()["x-jingzhun-env"]
    services = compose()["services"]
    for svc in HTTP_SERVICES:
        url = urlsplit(env[f"JINGZHUN_{svc.upper()}_URL"])
        assert url.hostname == svc, f"JINGZHUN_{svc.upper()}_URL does not name the {svc} service"
        assert url.port == listen_port(services[svc]["command"]), f"{svc} listens elsewhere than its URL says"
    assert urlsplit(interpolate(env["JINGZHUN_DATABASE_URL"])).hostname == "postgres"
    assert urlsplit(interpolate(env["JINGZHUN_REDIS_URL"])).hostname == "redis"
    assert "8000:8000" in [str(p) for p in services["gateway"]["ports"]], "the gateway is published on 8000"
    for name, svc in services.items():
        if name != "gateway":
            assert "ports" not in svc, f"only the gateway is published, not {name}"


def test_compose_healthchecks_probe_health_endpoints_on_the_right_port():
    services = compose()["services"]
    for name in ("postgres", "redis", *HTTP_SERVICES, *(f"{s}-worker" for s in WORKER_SERVICES)):
        assert "healthcheck" in services[name], f"{name} has no healthcheck"
    for svc in HTTP_SERVICES:
        test = services[svc]["healthcheck"]["test"]
        urls = [urlsplit(word) for word in test if str(word).startswith(("http://", "https://"))]
        assert urls, f"{svc}'s healthcheck fetches no URL"
        assert urls[0].path in ("/readyz", "/healthz"), svc
        assert urls[0].port == listen_port(services[svc]["command"]), f"{svc}'s healthcheck probes another port"
    for svc in WORKER_SERVICES:
        assert services[f"{svc}-worker"]["healthcheck"]["test"][1:] == ["jingzhun-probe", "deps", svc]


def test_compose_start_order_uses_conditions():
    services = compose()["services"]
    for name, svc in app_services().items():
        deps = svc.get("depends_on")
        assert isinstance(deps, dict) and deps, f"{name} must depend on its infrastructure with conditions"
        for target, spec in deps.items():
            assert target in services, f"{name} depends on unknown {target}"
            condition = spec["condition"]
            assert condition in ("service_started", "service_healthy", "service_completed_successfully")
            if condition == "service_healthy":
                assert "healthcheck" in services[target], f"{name} waits for {target}'s health, which has no check"
            if condition == "service_completed_successfully":
                assert services[target].get("restart") == "no", f"{target} must be one-shot to complete"
        assert deps.get("postgres", {}).get("condition") == "service_healthy", name
        if name != "migrate":
            assert deps.get("redis", {}).get("condition") == "service_healthy", name
            assert deps.get("migrate", {}).get("condition") == "service_completed_successfully", name


def test_compose_key_files_are_mounted_secrets():
    top = compose()["secrets"]
    for name, svc in app_services().items():
        for var in ("JINGZHUN_JWT_PRIVATE_KEY_FILE", "JINGZHUN_PII_KEY_FILE"):
            path = Path(svc["environment"][var])
            assert path.parent == Path("/run/secrets"), f"{name}: {var} is not a compose secret"
            assert path.name in svc["secrets"], f"{name} does not mount the secret {path.name}"
            assert "file" in top[path.name], path.name
    ignored = (DEPLOY / "secrets" / ".gitignore").read_text().split()
    for secret in top.values():
        file = (DEPLOY / secret["file"]).resolve()
        assert file.parent == DEPLOY / "secrets", file
        assert any(fnmatch.fnmatch(file.name, pattern) for pattern in ignored if not pattern.startswith("!")), \
            f"{file.name} is not git-ignored"


@pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl is not installed")
def test_gen_secrets_makes_keys_the_services_accept(tmp_path):
    from shared.jwt import KeyPair
    from shared.pii import PiiCipher, load_or_create_key

    keys = tmp_path / "keys"
    gen = ["sh", str(DEPLOY / "gen-secrets.sh"), str(keys)]
    subprocess.run(gen, check=True, capture_output=True, timeout=120)
    first = {p.name: p.read_bytes() for p in keys.iterdir()}
    subprocess.run(gen, check=True, capture_output=True, timeout=120)     # a second run keeps the keys
    assert {p.name: p.read_bytes() for p in keys.iterdir()} == first
    assert set(first) == {Path(s["file"]).name for s in compose()["secrets"].values()}
    [k8s_keys] = [s for s in k8s("Secret") if s["metadata"]["name"] == "jingzhun-keys"]
    assert set(first) == set(k8s_keys["stringData"])
    KeyPair.from_file(keys / "jwt_private.pem")     # raises on anything but a PEM private key
    cipher = PiiCipher(load_or_create_key(keys / "pii.key"))
    assert cipher.decrypt(cipher.encrypt("640122199001011234", field="id_number"), field="id_number") \
        == "640122199001011234"


def test_compose_builds_the_dockerfile_from_the_repository_root():
    for name, svc in app_services().items():
        context = (DEPLOY / svc["build"]["context"]).resolve()
        assert context == ROOT, name
        assert (context / svc["build"]["dockerfile"]).is_file(), name
    images = {svc["image"] for svc in app_services().values()}
    assert len(images) == 1, "every process runs the same image"


# ---------------------------------------------------------------------------------------------------------
# Kubernetes


@pytest.mark.parametrize("version", ["1.28.0", kubernetes_validate.latest_version()])
def test_k8s_manifests_match_the_api_schemas(version):
    assert k8s_docs(), "deploy/k8s holds no manifest"
    for filename, doc in k8s_docs():
        if doc["kind"] == "Kustomization":
            continue
        try:
            kubernetes_validate.validate(doc, version, strict=True)
        except kubernetes_validate.ValidationError as exc:
            pytest.fail(f"{filename} {doc['kind']}/{doc['metadata']['name']}: {'.'.join(map(str, exc.path))}: "
                        f"{exc.message}")


def test_kustomization_applies_every_manifest_but_the_examples():
    [kustomization] = k8s("Kustomization")
    listed = set(kustomization["resources"])
    files = {p.name for p in K8S.glob("*.yaml")} - {"kustomization.yaml"}
    assert listed == files - K8S_EXAMPLES, f"not applied: {files - K8S_EXAMPLES - listed}, unknown: {listed - files}"
    docs = [doc for _, doc in k8s_docs() if doc["kind"] != "Kustomization"]
    names = {(doc["kind"], doc["metadata"]["name"]) for doc in docs}
    assert len(names) == len(docs), "two manifests share a kind and name"


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed")
def test_kustomize_renders_every_manifest_into_the_namespace():
    done = subprocess.run(["kubectl", "kustomize", str(K8S)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    rendered = [doc for doc in yaml.safe_load_all(done.stdout) if doc]
    expected = [doc for name, doc in k8s_docs() if name not in K8S_EXAMPLES and doc["kind"] != "Kustomization"]
    assert len(rendered) == len(expected)
    for doc in rendered:
        if doc["kind"] != "Namespace":
            assert doc["metadata"]["namespace"] == "jingzhun", doc["metadata"]["name"]
        for container in doc.get("spec", {}).get("template", {}).get("spec", {}).get("containers", []):
            assert container["image"].startswith("jingzhun:"), container["image"]


def test_k8s_sets_every_setting_the_code_reads():
    provided: set[str] = set()
    for cm in k8s("ConfigMap"):
        provided |= set(cm["data"])
    for secret in k8s("Secret"):
        provided |= set(secret.get("stringData", {})) | set(secret.get("data", {}))
    for _, spec in pod_specs():
        for container in spec["containers"]:
            provided |= {e["name"] for e in container.get("env", [])}
    missing = [var for var in ENV_VARS if var not in provided]
    assert not missing, f"the Kubernetes manifests neither set nor reference {missing}"
    stray = sorted(v for v in provided if v.startswith("JINGZHUN_") and v not in ENV_VARS)
    assert not stray, f"settings the code does not read: {stray}"


def test_k8s_pods_get_the_config_and_secrets():
    configmaps = {cm["metadata"]["name"] for cm in k8s("ConfigMap")}
    secrets = {s["metadata"]["name"]: s for s in k8s("Secret")}
    [config] = k8s("ConfigMap")
    for name, spec in pod_specs():
        for container in spec["containers"]:
            refs = container.get("envFrom", [])
            cms = {r["configMapRef"]["name"] for r in refs if "configMapRef" in r}
            secs = {r["secretRef"]["name"] for r in refs if "secretRef" in r}
            assert cms and cms <= configmaps, f"{name} does not load the ConfigMap"
            assert secs and secs <= set(secrets), f"{name} does not load the connection Secret"
            for env in container.get("env", []):
                ref = env["valueFrom"]["secretKeyRef"]
                assert ref["name"] in secrets or ref.get("optional"), f"{name}: {env['name']} needs an unknown Secret"
            # the key files: their directory is a read-only mount of the keys Secret, and the files are its keys
            mounts = {m["name"]: m for m in container["volumeMounts"]}
            volumes = {v["name"]: v for v in spec["volumes"]}
            for var in ("JINGZHUN_JWT_PRIVATE_KEY_FILE", "JINGZHUN_PII_KEY_FILE"):
                path = Path(config["data"][var])
                [mount] = [m for m in mounts.values() if Path(m["mountPath"]) == path.parent]
                assert mount.get("readOnly"), f"{name}: the keys are mounted writable"
                secret_name = volumes[mount["name"]]["secret"]["secretName"]
                assert path.name in secrets[secret_name]["stringData"], f"{secret_name} has no key {path.name}"
            # the data dir and /tmp stay writable under readOnlyRootFilesystem
            assert container["securityContext"]["readOnlyRootFilesystem"] is True, name
            mounted = {m["mountPath"] for m in mounts.values()}
            assert {config["data"]["JINGZHUN_DATA_DIR"], "/tmp"} <= mounted, name


def test_k8s_deployments_have_probes_resources_and_replicas():
    deployments = k8s("Deployment")
    assert deployments
    for deployment in deployments:
        name = deployment["metadata"]["name"]
        assert deployment["spec"]["replicas"] >= 2, f"{name} is stateless: run more than one replica"
        spec = deployment["spec"]["template"]["spec"]
        assert spec["securityContext"]["runAsNonRoot"] is True, name
        for container in spec["containers"]:
            for probe in ("readinessProbe", "livenessProbe"):
                assert probe in container, f"{name} has no {probe}"
            requests = container.get("resources", {}).get("requests", {})
            assert {"cpu", "memory"} <= set(requests), f"{name} requests no cpu/memory"
            ports = {p["name"]: p["containerPort"] for p in container.get("ports", [])}
            if ports:   # an HTTP service
                ready, live = container["readinessProbe"]["httpGet"], container["livenessProbe"]["httpGet"]
                assert ready["path"] == "/readyz" and live["path"] == "/healthz", name
                assert ready["port"] in ports and live["port"] in ports, name


def test_k8s_scrape_annotations_point_at_the_metrics_each_pod_serves():
    """Prometheus scrapes ``/metrics`` on the HTTP port of every service pod (outbox, queue, jobs, SMS and imports
    included: workers count into Redis and the database, so worker pods serve nothing and are not annotated)."""
    annotated = 0
    for deployment in k8s("Deployment"):
        name = deployment["metadata"]["name"]
        notes = deployment["spec"]["template"]["metadata"].get("annotations", {})
        container = deployment["spec"]["template"]["spec"]["containers"][0]
        ports = [p["containerPort"] for p in container.get("ports", [])]
        if not ports:
            assert "prometheus.io/scrape" not in notes, f"{name} serves no HTTP: nothing to scrape"
            continue
        annotated += 1
        assert notes.get("prometheus.io/scrape") == "true" and notes.get("prometheus.io/path") == "/metrics", name
        assert int(notes["prometheus.io/port"]) in ports, name
    assert annotated == len(HTTP_SERVICES)


def test_k8s_runs_every_process():
    commands = {d["metadata"]["name"]: command_text(d["spec"]["template"]["spec"]["containers"][0]["command"])
                for d in k8s("Deployment")}
    for svc in HTTP_SERVICES:
        assert f"services.{svc}.app:create" in commands.get(svc, ""), f"no Deployment {svc} runs its app"
    for svc in WORKER_SERVICES:
        assert commands.get(f"{svc}-worker") == f"jingzhun worker {svc}", f"no Deployment runs the {svc} worker"
    jobs = [j["spec"]["template"]["spec"]["containers"][0]["command"] for j in k8s("Job")]
    assert ["jingzhun", "migrate"] in jobs, "no Job runs the migrations"


def test_k8s_services_select_their_deployments_and_match_the_urls():
    deployments = {d["metadata"]["name"]: d for d in k8s("Deployment")}
    services = {s["metadata"]["name"]: s for s in k8s("Service")}
    for name, service in services.items():
        selector = service["spec"]["selector"]
        matched = [d for d in deployments.values()
                   if selector.items() <= d["spec"]["template"]["metadata"]["labels"].items()]
        assert len(matched) == 1, f"Service {name} selects {len(matched)} Deployments"
        container_ports = {p["name"] for c in matched[0]["spec"]["template"]["spec"]["containers"]
                           for p in c.get("ports", [])}
        for port in service["spec"]["ports"]:
            assert port["targetPort"] in container_ports, f"Service {name} targets an unknown port"
    [config] = k8s("ConfigMap")
    for svc in HTTP_SERVICES:
        url = urlsplit(config["data"][f"JINGZHUN_{svc.upper()}_URL"])
        assert url.hostname in services, f"JINGZHUN_{svc.upper()}_URL names no Service"
        assert url.port in [p["port"] for p in services[url.hostname]["spec"]["ports"]], svc
        selected = services[url.hostname]["spec"]["selector"]["app.kubernetes.io/component"]
        assert selected == svc, f"JINGZHUN_{svc.upper()}_URL reaches {selected}"
    gateway = deployments["gateway"]["spec"]["template"]["spec"]["containers"][0]
    assert [p["containerPort"] for p in gateway["ports"]] == [int(config["data"]["JINGZHUN_PORT"])]


def test_only_the_gateway_is_exposed():
    backends = [path["backend"]["service"]["name"] for ing in k8s("Ingress") for rule in ing["spec"]["rules"]
                for path in rule["http"]["paths"]]
    assert backends and set(backends) == {"gateway"}
    for service in k8s("Service"):
        if service["metadata"]["name"] != "gateway":
            assert service["spec"].get("type", "ClusterIP") == "ClusterIP", service["metadata"]["name"]


