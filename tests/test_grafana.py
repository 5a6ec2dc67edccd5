"""The Grafana dashboard in deploy/grafana: valid JSON on a Prometheus datasource variable, and every metric it
queries is one the services' /metrics serve (scraped here, in-process)."""

from __future__ import annotations

import json
import re
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from services.funds.app import create as create_funds
from services.gateway.app import create as create_gateway
from services.notifications.app import create as create_notifications
from services.registry.app import create as create_registry
from shared.testing import app_client

DASHBOARD = Path(__file__).resolve().parents[1] / "deploy" / "grafana" / "jingzhun.json"
SUFFIXES = {"counter": ("_total",), "histogram": ("_bucket", "_sum", "_count"), "summary": ("_sum", "_count")}
# what the dashboard must show (issue 15): HTTP, outbox, queue, jobs, SMS funnel and latency, imports, audit lag
REQUIRED = {"jingzhun_http_requests_total", "jingzhun_http_request_seconds_bucket", "jingzhun_outbox_unsent",
            "jingzhun_queue_jobs", "jingzhun_jobs_run_total", "jingzhun_jobs_failed_total",
            "jingzhun_sms_queued_total", "jingzhun_sms_sent_total", "jingzhun_sms_failed_total",
            "jingzhun_sms_retries_total", "jingzhun_sms_delivery_seconds_bucket", "jingzhun_import_rows_total",
            "jingzhun_import_seconds_total", "jingzhun_audit_pending"}


def queried(node) -> list[str]:
    """Every PromQL expression in the dashboard (panel targets and templating queries)."""
    if isinstance(node, dict):
        found = [v for k, v in node.items() if k in ("expr", "definition") and isinstance(v, str)]
        return found + [q for v in node.values() for q in queried(v)]
    if isinstance(node, list):
        return [q for v in node for q in queried(v)]
    return []


async def served(settings) -> set[str]:
    names: set[str] = set()
    for create in (create_gateway, create_registry, create_funds, create_notifications):
        async with app_client(create(settings)) as client:
            assert (await client.get("/healthz")).status_code == 200       # so the HTTP histograms have samples
            r = await client.get("/metrics")
            assert r.status_code == 200
        for family in text_string_to_metric_families(r.text):
            names.add(family.name)
            names.update(family.name + s for s in SUFFIXES.get(family.type, ()))
            names.update(s.name for s in family.samples)
    return names


async def test_the_dashboard_queries_only_metrics_the_services_serve(settings):
    dashboard = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    datasource = [v for v in variables.values() if v["type"] == "datasource"]
    assert len(datasource) == 1 and datasource[0]["query"] == "prometheus"
    uid = "${%s}" % datasource[0]["name"]
    panels = [p for p in dashboard["panels"] if p["type"] != "row"]
    assert len(panels) >= 10 and len({p["id"] for p in dashboard["panels"]}) == len(dashboard["panels"])
    for p in panels:
        assert p["datasource"] == {"type": "prometheus", "uid": uid}, p["title"]
        assert p["targets"] and all(t["expr"] and t["datasource"]["uid"] == uid for t in p["targets"]), p["title"]

    used = {m for q in queried(dashboard) for m in re.findall(r"\bjingzhun_[a-z0-9_]+", q)}
    assert REQUIRED <= used, REQUIRED - used
    missing = used - await served(settings)
    assert not missing, f"the dashboard queries metrics no service serves: {sorted(missing)}"
