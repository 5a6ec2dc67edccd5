"""Where a person finds an operation in ``/docs``: one tag per domain, in Chinese and English, by path prefix.

The one table for every operation of the merged document: an operation gets the tag of the longest prefix
(whole path segments) of its path; the tags' order here is their order in ``/docs``. A new router needs one
line here for its prefix (``tests/gateway/test_docs.py`` fails on any operation without a tag).
"""

from __future__ import annotations

from typing import Any

# (prefix, tag, description)
TAGS: tuple[tuple[str, str, str], ...] = (
    ("/api/v1/auth/token", "身份认证 sign-in",
     "登录换取令牌（用户名密码；合作银行用 client_credentials）、刷新、退出，签名公钥。"
     " Tokens: staff sign in with username and password, partner banks with client_credentials."),
    ("/api/v1/auth/me", "身份认证 sign-in", ""),
    ("/api/v1/auth/logout", "身份认证 sign-in", ""),
    ("/.well-known", "身份认证 sign-in", ""),
    ("/api/v1/auth/users", "用户 users", "工作人员账号：新建、查看、停用（只管本辖区、较低角色）。 Staff accounts."),
    ("/api/v1/auth/clients", "合作银行接入 bank clients", "合作银行的接入凭据（县级管理员）。 Partner bank API clients."),
    ("/api/v1/regions", "行政区划 regions", "县、乡镇、村。 The county's divisions."),
    ("/api/v1/poverty-lines", "贫困线 poverty lines", "每年的贫困线标准。 The poverty line of each year."),
    ("/api/v1/households", "建档立卡 households", "贫困户和家庭成员：登记、查看、修改。 Registered households and members."),
    ("/api/v1/persons", "建档立卡 households", ""),
    ("/api/v1/households/{household_id}/transitions", "识别与退出 lifecycle",
     "拟纳入、拟退出（经公示生效）、返贫、清退。 Identification, exit, return, removal."),
    ("/api/v1/households/{household_id}/incomes", "帮扶 assistance",
     "收入、两不愁三保障、帮扶责任人、五个一批措施、走访记录。 Income, assurances, helper, measures, visits."),
    ("/api/v1/households/{household_id}/assurances", "帮扶 assistance", ""),
    ("/api/v1/households/{household_id}/helper", "帮扶 assistance", ""),
    ("/api/v1/households/{household_id}/measures", "帮扶 assistance", ""),
    ("/api/v1/households/{household_id}/visits", "帮扶 assistance", ""),
    ("/api/v1/monitoring", "防返贫监测 monitoring",
     "监测标准、监测对象（申报、核实、公示、审批、风险消除）、一码申报、部门筛查预警。"
     " Thresholds, monitored cases from report to 风险消除, self-reports, department screening warnings."),
    ("/public/monitoring", "防返贫监测 monitoring", ""),
    ("/api/v1/stats", "统计 statistics", "贫困发生率、户数人数、致贫原因、小额信贷指标。 Figures of a region."),
    ("/api/v1/imports", "导入导出 imports and exports", "建档立卡表格批量导入、村有册导出、后台任务进度。"
     " Spreadsheet import and export, background jobs."),
    ("/api/v1/jobs", "导入导出 imports and exports", ""),
    ("/api/v1/exports", "导入导出 imports and exports", ""),
    ("/api/v1/exports/ledger.xlsx", "资金 funds", ""),
    ("/api/v1/fund-sources", "资金 funds", "资金来源、资金下达（指标）、调项、台账（复式记账）。"
     " Fund sources, allocations, adjustments, the ledger."),
    ("/api/v1/allocations", "资金 funds", ""),
    ("/api/v1/adjustments", "资金 funds", ""),
    ("/api/v1/disbursements", "到户补贴 household payments",
     "发放批次：公示、审批、交银行、对账。 Payment batches: notice, approval, bank, reconciliation."),
    ("/api/v1/bank", "合作银行 partner banks",
     "合作银行调用：取批次、报送发放结果、报送对账单、报送贷款事件。"
     " What a partner bank calls: batches to pay, results, statements, loan events."),
    ("/api/v1/projects", "扶贫项目 projects", "项目申报、审批、实施、验收、报账与拨付。 Projects from proposal to 报账."),
    ("/api/v1/loans", "小额信贷 micro-loans", "扶贫小额信贷与贴息。 Micro-loans and their interest subsidy."),
    ("/api/v1/risk-claims", "风险补偿 risk compensation", "不良贷款的风险补偿申请、审核、审批。 Risk compensation claims."),
    ("/api/v1/notices", "公示 notices", "公示与异议的处理（工作人员）。 Notices and objections, for officers."),
    ("/api/v1/objections", "公示 notices", ""),
    ("/public", "公示公告栏 public board", "公开的公示栏，无需登录；群众在此提出异议。 The public board, no sign-in."),
    ("/api/v1/alerts", "预警 alerts", "滞留滞拨：资金闲置、项目停滞。 Idle money and stalled projects."),
    ("/api/v1/audit", "审计 audit", "审计日志与哈希链校验。 The audit log and its hash chains."),
    ("/api/v1/me/notifications", "消息 inbox", "我的消息。 My app inbox."),
    ("/api/v1/notifications", "短信 SMS", "短信发送记录。 SMS and their delivery."),
    ("/api/v1/dead-letters", "死信 dead letters", "未能处理的事件，查看与重新投递。 Events a service could not apply."),
)
METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
_BY_PREFIX = {prefix: tag for prefix, tag, _ in TAGS}


def tag_for(path: str) -> str | None:
    """The tag of the longest prefix of ``path`` (on segment boundaries) in :data:`TAGS`, else None."""
    candidate = path
    while candidate:
        if (tag := _BY_PREFIX.get(candidate)) is not None:
            return tag
        candidate = candidate[:candidate.rfind("/")]
    return None


def apply_tags(spec: dict[str, Any]) -> dict[str, Any]:
    """Tag every operation of ``spec`` from :data:`TAGS` (replacing any tag it had: one place decides) and list
    the tags used, with their descriptions, in ``spec["tags"]``. An operation no prefix covers is left untagged."""
    used: set[str] = set()
    for path, item in (spec.get("paths") or {}).items():
        tag = tag_for(path)
        for method in METHODS:
            op = item.get(method) if isinstance(item, dict) else None
            if not isinstance(op, dict):
                continue
            if tag is None:
                op.pop("tags", None)
            else:
                op["tags"] = [tag]
                used.add(tag)
    described: dict[str, str] = {}
    for _, tag, description in TAGS:       # in the table's order; the first description given
        if not described.get(tag):
            described[tag] = description
    spec["tags"] = [{"name": t, "description": d} for t, d in described.items() if t in used]
    return spec
