"""The public board as plain HTML for villagers' phones: server-rendered, inline CSS, no script, no
external asset. Every value goes through :func:`e` (HTML escaping, quotes included)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from decimal import Decimal, InvalidOperation
from html import escape
from typing import Any
from urllib.parse import urlencode

from services.funds.notices.glossary import FIELD_LABELS, VALUE_LABELS
from services.funds.notices.schemas import NoticePublic, NoticeSummary

BEIJING = timezone(timedelta(hours=8), "CST")
FIXED_COLUMNS = ("name", "id_number", "phone", "amount")
HIDDEN = frozenset({"ref", "category", "risk_types"})     # codes shown through their *_label columns

# No script may run and nothing may be loaded from elsewhere; the form posts back to us only.
HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; img-src data:; "
                               "form-action 'self'; base-uri 'none'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}

CSS = """
*{box-sizing:border-box}
body{margin:0;font:16px/1.6 -apple-system,"PingFang SC","Microsoft YaHei","Noto Sans CJK SC","WenQuanYi Micro Hei",sans-serif;color:#1f2328;background:#f6f3ee}
header.top{background:#b71c1c;color:#fff;padding:.6rem 1rem}
header.top a{color:#fff;text-decoration:none;font-weight:600}
main{max-width:980px;margin:0 auto;padding:1rem}
h1{font-size:1.35rem;margin:.2rem 0 .6rem;line-height:1.4}
h2{font-size:1.1rem;margin:1.4rem 0 .5rem}
.card{background:#fff;border:1px solid #e3ddd3;border-radius:8px;padding:1rem;margin:0 0 1rem}
.meta{display:grid;grid-template-columns:max-content 1fr;gap:.2rem .8rem;margin:0}
.meta dt{color:#6b6b6b}.meta dd{margin:0}
.tag{display:inline-block;padding:0 .5rem;border-radius:4px;font-size:.85rem;background:#eee;color:#333;margin-right:.3rem}
.tag.open{background:#e8f5e9;color:#1b5e20}.tag.closed{background:#eceff1;color:#37474f}
.tag.withdrawn{background:#fff3e0;color:#e65100}.tag.kind{background:#fdecea;color:#b71c1c}
.scroll{overflow-x:auto;-webkit-overflow-scrolling:touch;margin:0 0 1rem}
table{border-collapse:collapse;width:100%;background:#fff;font-size:.95rem}
th,td{border:1px solid #e3ddd3;padding:.45rem .55rem;text-align:left;vertical-align:top;white-space:nowrap}
td.wrap{white-space:normal;min-width:8rem}
th{background:#faf7f2;font-weight:600}
td.num,th.num{text-align:right;font-variant-numeric:tabular-nums}
tr.struck td{text-decoration:line-through;color:#9e9e9e}
tr.struck td.note{text-decoration:none;color:#b71c1c}
tfoot td{font-weight:600;background:#faf7f2}
code.hash{display:block;word-break:break-all;font:.9rem/1.5 ui-monospace,Menlo,Consolas,monospace;background:#faf7f2;padding:.5rem;border-radius:4px}
.notice{padding:.7rem 1rem;border-radius:6px;margin:0 0 1rem}
.notice.ok{background:#e8f5e9;border:1px solid #a5d6a7}
.notice.err{background:#fdecea;border:1px solid #f5b7b1}
.notice.info{background:#fff8e1;border:1px solid #ffe082}
form label{display:block;margin:.6rem 0 .2rem;font-weight:600}
input,textarea{width:100%;font:inherit;padding:.55rem;border:1px solid #c9c2b8;border-radius:6px;background:#fff}
button{margin-top:.8rem;font:inherit;font-weight:600;color:#fff;background:#b71c1c;border:0;border-radius:6px;padding:.65rem 1.6rem}
.hint{color:#6b6b6b;font-size:.9rem}
ul.board{list-style:none;padding:0;margin:0}
ul.board li{background:#fff;border:1px solid #e3ddd3;border-radius:8px;padding:.8rem 1rem;margin:0 0 .7rem}
ul.board a.title{font-weight:600;font-size:1.05rem;color:#0d47a1;text-decoration:none}
footer{color:#8a8a8a;font-size:.85rem;text-align:center;padding:1.5rem 1rem}
@media (max-width:640px){
main{padding:.7rem}
.scroll{overflow:visible}
#items,#items tbody,#items tfoot,#items tr,#items td{display:block;width:100%}
#items{background:transparent}
#items thead{display:none}
#items tbody tr{background:#fff;border:1px solid #e3ddd3;border-radius:8px;margin:0 0 .6rem;padding:.4rem .8rem}
#items td{border:0;padding:.12rem 0;white-space:normal;display:flex;gap:.8rem;text-align:left;min-width:0}
#items td::before{content:attr(data-label);flex:0 0 6.5rem;color:#6b6b6b;font-size:.95rem;font-weight:400;text-decoration:none}
#items td.seq{font-size:.85rem;color:#8a8a8a}
#items td.name{font-weight:600;font-size:1.05rem}
#items tfoot tr{display:flex;justify-content:space-between;background:#faf7f2;border-radius:8px;padding:.5rem .8rem}
#items tfoot td{display:block;width:auto;background:transparent}
#items tfoot td::before{content:none}
#items td.note:empty{display:none}
}
"""


def e(value: Any) -> str:
    """Escape for HTML text and attribute values."""
    return escape("" if value is None else str(value), quote=True)


@dataclass
class Banner:
    kind: str           # ok | err | info
    text: str
    details: tuple[str, ...] = ()


def _layout(title: str, body: str) -> str:
    return ("<!doctype html>\n<html lang=\"zh-CN\"><head><meta charset=\"utf-8\">"
            "<meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">"
            f"<title>{e(title)}</title><style>{CSS}</style></head><body>"
            "<header class=\"top\"><a href=\"/public\">公示公告栏</a></header>"
            f"<main>{body}</main><footer>精准扶贫 · 阳光公示 · 接受群众监督</footer></body></html>")


def local_time(rfc3339: str | None) -> str:
    if not rfc3339:
        return ""
    return datetime.fromisoformat(rfc3339).astimezone(BEIJING).strftime("%Y-%m-%d %H:%M")


def _label(key: str) -> str:
    return FIELD_LABELS.get(key, key)


def _money(value: Any) -> str:
    try:
        return f"{Decimal(str(value)):,.2f}"
    except (InvalidOperation, ValueError):
        return str(value)


def _fmt(key: str, value: Any) -> str:
    """Plain text for one value (escaped by the caller)."""
    if value is None or value == "":
        return "—"
    if isinstance(value, bool):
        return "是" if value else "否"
    if key in ("members", "member_count") and isinstance(value, int):
        return f"{value}人"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return VALUE_LABELS.get(key, {}).get(value, value)
    if isinstance(value, list):
        parts = [_fmt_member(v) if isinstance(v, dict) else _fmt(key, v) for v in value]
        joined = "、".join(parts)
        return f"{joined}（{len(value)}人）" if key == "members" and value else joined
    if isinstance(value, dict):
        return "；".join(f"{_label(k)}：{_fmt(k, v)}" for k, v in value.items())
    return str(value)


def _fmt_member(member: dict) -> str:
    name = member.get("name")
    if name is not None:
        return str(name)
    return "；".join(f"{_label(k)}：{_fmt(k, v)}" for k, v in member.items())


def _columns(items: list[dict[str, Any]]) -> list[str]:
    present = {k for item in items for k in item}
    cols = [c for c in FIXED_COLUMNS if c in present]
    for item in items:
        for k in item:
            if k not in cols and k not in HIDDEN:
                cols.append(k)
    return cols


def _table(notice: NoticePublic, first_seq: int = 1) -> str:
    items = notice.items
    cols = _columns(items)
    struck = set(notice.struck_refs or []) if notice.status == "closed" else set()
    num = ' class="num"'
    head = "".join(f'<th{num if c == "amount" else ""}>{e(_label(c))}</th>' for c in cols)
    note_col = bool(struck)
    rows = []
    total = Decimal(0)
    has_amount = "amount" in cols
    whole = notice.items_next_cursor is None and first_seq == 1
    for i, item in enumerate(items, first_seq):
        cells = [f'<td class="num seq" data-label="序号">{i}</td>']
        for c in cols:
            value = item.get(c)
            label = f' data-label="{e(_label(c))}"'
            if c == "amount":
                cells.append(f'<td class="num"{label}>{e(_money(value)) if value is not None else "—"}</td>')
                try:
                    total += Decimal(str(value)) if value is not None else 0
                except (InvalidOperation, ValueError):
                    pass
            else:
                css = ' class="name"' if c == "name" else ' class="wrap"' if c not in FIXED_COLUMNS else ""
                cells.append(f"<td{css}{label}>{e(_fmt(c, value))}</td>")
        is_struck = item.get("ref") in struck
        if note_col:
            cells.append(f'<td class="note" data-label="结果">{"异议成立，不予通过" if is_struck else ""}</td>')
        row_class = ' class="struck"' if is_struck else ""
        rows.append(f"<tr{row_class}>{''.join(cells)}</tr>")
    foot = ""
    if has_amount:
        span = 1 + cols.index("amount")
        after = len(cols) - cols.index("amount") - 1 + (1 if note_col else 0)
        count, shown = (len(items), total) if whole else (notice.item_count, notice.amount_total or total)
        foot = (f'<tfoot><tr><td colspan="{span}">合计（{count}项）</td><td class="num">{e(_money(shown))}</td>'
                + (f'<td colspan="{after}" class="note"></td>' if after else "") + "</tr></tfoot>")
    note_head = "<th>结果</th>" if note_col else ""
    return (f'<div class="scroll"><table id="items"><thead><tr><th class="num">序号</th>{head}{note_head}</tr></thead>'
            f'<tbody>{"".join(rows)}</tbody>{foot}</table></div>')


def _status_tag(notice: NoticeSummary) -> str:
    return f'<span class="tag {e(notice.status)}">{e(notice.status_label)}</span>'


def _period_line(notice: NoticePublic) -> str:
    if notice.status == "withdrawn":
        return (f'<div class="notice info">本公示已于 {e(local_time(notice.closed_at))} 撤回。'
                f'撤回原因：{e(notice.withdraw_reason)}</div>')
    if notice.status == "closed":
        n = len(notice.struck_refs or [])
        result = f"，其中 {n} 项因异议成立不予通过" if n else "，无异议成立事项"
        return f'<div class="notice info">公示已于 {e(local_time(notice.closed_at))} 结束{e(result)}。</div>'
    if not notice.accepting_objections:
        return '<div class="notice info">公示期已满，正在处理，不再受理新的异议。</div>'
    left = datetime.fromisoformat(notice.ends_at) - datetime.now(BEIJING)
    days = max(left.days + (1 if left.seconds else 0), 0)
    return (f'<div class="notice ok">公示期内，欢迎监督。距公示结束约 {days} 天'
            f'（{e(local_time(notice.ends_at))} 截止）。</div>')


def _banner(banner: Banner | None) -> str:
    if banner is None:
        return ""
    details = "".join(f"<li>{e(d)}</li>" for d in banner.details)
    return (f'<div class="notice {e(banner.kind)}" id="banner" role="status">{e(banner.text)}'
            + (f"<ul>{details}</ul>" if details else "") + "</div>")


def _form(notice: NoticePublic, values: dict[str, str] | None) -> str:
    if not notice.accepting_objections:
        return ""
    v = values or {}
    return (f'<section class="card" id="objection"><h2>提出异议</h2>'
            f'<p class="hint">对公示内容有不同意见，请如实填写。异议将由乡镇、村组织核实，并通过短信答复您。</p>'
            f'<form method="post" action="/public/notices/{notice.id}/objections" accept-charset="utf-8">'
            f'<label for="contact_name">您的姓名</label>'
            f'<input id="contact_name" name="contact_name" maxlength="32" required autocomplete="name" '
            f'value="{e(v.get("contact_name", ""))}">'
            f'<label for="contact_phone">手机号码</label>'
            f'<input id="contact_phone" name="contact_phone" type="tel" inputmode="numeric" maxlength="11" '
            f'pattern="1[3-9][0-9]{{9}}" required autocomplete="tel" value="{e(v.get("contact_phone", ""))}">'
            f'<label for="content">异议内容</label>'
            f'<textarea id="content" name="content" rows="5" minlength="5" maxlength="1000" required>'
            f'{e(v.get("content", ""))}</textarea>'
            f'<p class="hint">您的手机号只用于答复，不会公开。</p>'
            f'<button type="submit">提交异议</button></form></section>')


def _pager(notice: NoticePublic, first_seq: int) -> str:
    """Where this page of items lies in the list, and the links to the first and the next page."""
    if notice.items_next_cursor is None and first_seq == 1:
        return ""
    last = first_seq + len(notice.items) - 1
    links = [f'第 {first_seq}–{last} 项，共 {notice.item_count} 项']
    if first_seq > 1:
        links.append(f'<a href="/public/notices/{notice.id}.html#items">第一页</a>')
    if notice.items_next_cursor:
        query = urlencode({"cursor": notice.items_next_cursor})
        links.append(f'<a href="/public/notices/{notice.id}.html?{e(query)}#items">下一页</a>')
    return f'<p class="hint" id="pager">{" · ".join(links)}</p>'


def notice_page(notice: NoticePublic, *, banner: Banner | None = None, values: dict[str, str] | None = None,
                first_seq: int = 1) -> str:
    region = f"{notice.region_name}（{notice.region_code}）" if notice.region_name else notice.region_code
    counts = notice.objections
    objections = f"已收到 {counts.received} 条，待处理 {counts.pending} 条，成立 {counts.upheld} 条"
    json_url = f"/public/notices/{notice.id}"
    body = (
        _banner(banner)
        + f'<article class="card"><span class="tag kind">{e(notice.kind_label)}</span>{_status_tag(notice)}'
        f'<h1>{e(notice.title)}</h1><dl class="meta">'
        f"<dt>地区</dt><dd>{e(region)}</dd>"
        f"<dt>公示期</dt><dd>{e(local_time(notice.starts_at))} 至 {e(local_time(notice.ends_at))}</dd>"
        f"<dt>公示事项</dt><dd>{notice.item_count} 项</dd>"
        f"<dt>异议</dt><dd>{e(objections)}</dd></dl></article>"
        + _period_line(notice)
        + "<h2>公示名单</h2>" + _table(notice, first_seq) + _pager(notice, first_seq)
        + _form(notice, values)
        + '<section class="card" id="hash"><h2>内容校验码（SHA-256）</h2>'
        f'<code class="hash">{e(notice.content_hash)}</code>'
        '<p class="hint">任何人都可核对公示内容是否被改动：取 <a href="' + e(json_url) + '">JSON 数据</a>中的 '
        "kind、region_code、title、starts_at、ends_at、items 六项组成对象，按 RFC 8785 规范化为 JSON 文本，"
        "计算其 SHA-256，应与上面的校验码一致。</p></section>"
    )
    return _layout(f"{notice.title} - 公示", body)


def board_page(notices: list[NoticeSummary], *, region: str | None, next_cursor: str | None) -> str:
    if notices:
        entries = "".join(
            f'<li><a class="title" href="/public/notices/{n.id}.html">{e(n.title)}</a><br>'
            f'<span class="tag kind">{e(n.kind_label)}</span>{_status_tag(n)}'
            f'<span class="hint">{e(n.region_name or n.region_code)} · {e(local_time(n.starts_at))} 至 '
            f"{e(local_time(n.ends_at))} · {n.item_count} 项</span></li>" for n in notices)
        listing = f'<ul class="board">{entries}</ul>'
    else:
        listing = '<div class="notice info">目前没有正在公示的事项。</div>'
    more = ""
    if next_cursor:
        query = urlencode({k: v for k, v in (("region", region), ("cursor", next_cursor)) if v})
        more = f'<p><a href="/public?{e(query)}">下一页</a></p>'
    scope = f"（地区 {e(region)}）" if region else ""
    body = (f"<h1>正在公示{scope}</h1>"
            '<form method="get" action="/public" class="card"><label for="region">按地区代码查看</label>'
            f'<input id="region" name="region" inputmode="numeric" maxlength="12" pattern="[0-9]{{12}}" '
            f'value="{e(region or "")}"><button type="submit">查看</button></form>'
            + listing + more)
    return _layout("公示公告栏", body)


def missing_page(detail: str = "没有找到这条公示，它可能不存在或链接有误。") -> str:
    return _layout("未找到", f'<div class="notice err">{e(detail)}</div><p><a href="/public">返回公示公告栏</a></p>')

