"""The 一码申报 page for villagers' phones: server-rendered, inline CSS, no script, no external asset (the house
style of the public 公示 board). A village's QR code points at ``/public/monitoring/report?village=<code>``; the
form posts back to us only. Every value goes through :func:`e`."""

from __future__ import annotations

from html import escape
from typing import Any

HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; img-src data:; "
                               "form-action 'self'; base-uri 'none'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}

CSS = """
*{box-sizing:border-box}
body{margin:0;font:16px/1.6 -apple-system,"PingFang SC","Microsoft YaHei","Noto Sans CJK SC","WenQuanYi Micro Hei",sans-serif;color:#1f2328;background:#f6f3ee}
header.top{background:#b71c1c;color:#fff;padding:.6rem 1rem;font-weight:600}
main{max-width:640px;margin:0 auto;padding:1rem}
h1{font-size:1.35rem;margin:.2rem 0 .6rem;line-height:1.4}
.card{background:#fff;border:1px solid #e3ddd3;border-radius:8px;padding:1rem;margin:0 0 1rem}
.notice{padding:.7rem 1rem;border-radius:6px;margin:0 0 1rem}
.notice.ok{background:#e8f5e9;border:1px solid #a5d6a7}
.notice.err{background:#fdecea;border:1px solid #f5b7b1}
form label{display:block;margin:.6rem 0 .2rem;font-weight:600}
input,textarea{width:100%;font:inherit;padding:.55rem;border:1px solid #c9c2b8;border-radius:6px;background:#fff}
button{margin-top:.8rem;width:100%;font:inherit;font-weight:600;color:#fff;background:#b71c1c;border:0;border-radius:6px;padding:.75rem 1.6rem}
.hint{color:#6b6b6b;font-size:.9rem}
code{font:1.05rem ui-monospace,Menlo,Consolas,monospace;background:#faf7f2;padding:.1rem .3rem;border-radius:4px}
footer{color:#8a8a8a;font-size:.85rem;text-align:center;padding:1.5rem 1rem}
"""

FIELD_HINTS = {"name": "姓名：请填写 1–64 个字。", "id_number": "身份证号：请填写 18 位居民身份证号码。",
               "phone": "手机号码：请填写 11 位手机号。", "village_code": "所在村：村代码有误，请扫描本村的申报二维码。",
               "description": "困难情况：请简要说明（不超过 2000 字）。"}


def e(value: Any) -> str:
    return escape("" if value is None else str(value), quote=True)


def _layout(body: str) -> str:
    return ("<!doctype html>\n<html lang=\"zh-CN\"><head><meta charset=\"utf-8\">"
            "<meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">"
            "<title>防返贫监测 一码申报</title>"
            f"<style>{CSS}</style></head><body><header class=\"top\">防返贫监测 · 一码申报</header>"
            f"<main>{body}</main><footer>如遇生活困难，可随时申报；村、乡镇将在 2 个工作日内核实。</footer></body></html>")


def _field(name: str, label: str, value: str, attrs: str) -> str:
    return (f'<label for="{name}">{label}</label>'
            f'<input id="{name}" name="{name}" {attrs} value="{e(value)}">')


def report_page(*, village_code: str | None, village_name: str | None, values: dict[str, str] | None = None,
                errors: tuple[str, ...] = (), received: str | None = None) -> str:
    if received is not None:
        return _layout('<div class="notice ok" id="banner" role="status">您的申报已收到。</div>'
                       '<section class="card"><p>回执编号：<code>' + e(received) + '</code></p>'
                       '<p class="hint">请保存回执编号。村、乡镇干部将在 2 个工作日内与您联系核实情况。'
                       '您填写的个人信息只用于核实，不会公开。</p></section>')
    v = values or {}        # only the village and the description are filled in again: never personal data
    banner = ""
    if errors:
        items = "".join(f"<li>{e(x)}</li>" for x in errors)
        banner = f'<div class="notice err" id="banner" role="alert">提交未成功，请修改后重新提交：<ul>{items}</ul></div>'
    village = v.get("village_code") or village_code or ""
    if village_name and village:
        where = (f'<p>申报村：<strong>{e(village_name)}</strong></p>'
                 f'<input type="hidden" name="village_code" value="{e(village)}">')
    else:
        where = _field("village_code", "村代码（12 位，见本村二维码）", village,
                       'inputmode="numeric" maxlength="12" pattern="[0-9]{12}" required')
    return _layout(
        '<h1>因病、因灾、因意外等生活遇到困难？</h1>'
        '<p class="hint">请如实填写以下信息。提交后，村、乡镇干部会入户核实，符合条件的纳入防返贫监测并落实帮扶。</p>'
        + banner +
        '<section class="card"><form method="post" action="/public/monitoring/reports" accept-charset="utf-8">'
        + where
        + _field("name", "姓名", "", 'maxlength="64" required autocomplete="name"')
        + _field("id_number", "身份证号", "", 'maxlength="18" required autocomplete="off"')
        + _field("phone", "手机号码", "",
                 'type="tel" inputmode="numeric" maxlength="11" pattern="1[3-9][0-9]{9}" required autocomplete="tel"')
        + '<label for="description">困难情况</label>'
        f'<textarea id="description" name="description" rows="5" maxlength="2000" required>'
        f'{e(v.get("description", ""))}</textarea>'
        '<p class="hint">您的身份证号和手机号只用于核实，不会公开。</p>'
        '<button type="submit">提交申报</button></form></section>')
