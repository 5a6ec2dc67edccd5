/* 脱贫攻坚作战图: signs in at the gateway and draws the statistics the API gives the user's own token (so the user
   sees their region only, exactly as the API scopes it). No data is held here; nothing is loaded from elsewhere. */
"use strict";
(function () {
  const TOKEN_KEY = "jingzhun.dashboard.token";
  const FIRST_YEAR = 2014;
  const THIS_YEAR = new Date().getFullYear();
  const COLORS = ["#c62828", "#ef6c00", "#f9a825", "#2e7d32", "#1565c0", "#6a1b9a", "#00838f", "#8d6e63",
                  "#ad1457", "#558b2f", "#4e342e"];
  const FLOWS = [["new", "纳入"], ["exits", "脱贫"], ["returns", "返贫"], ["removals", "清退"]];
  const FUND_SERIES = [["allocated", "下达", "#1565c0"], ["committed", "已安排", "#ef6c00"],
                       ["spent", "已支出", "#2e7d32"], ["idle", "滞留滞拨", "#c62828"]];
  const LEVELS = {province: "省", city: "市", county: "县", township: "乡镇", village: "村"};
  const CHILD_OF = {province: "市", city: "县区", county: "乡镇"};
  // 防返贫监测 codes (CONTRACT §11) → labels, for answers that carry codes without their labels
  const MONITORING_LABELS = {
    unstable: "脱贫不稳定户", marginal: "边缘易致贫户", sudden: "突发严重困难户",
    reported: "申报", verified: "入户核实", publicized: "评议公示", approved: "县级审批", eliminated: "风险消除",
    rejected: "不予纳入", illness: "因病", disability: "因残", education: "因学", disaster: "因自然灾害",
    accident: "因意外事故", industry_failure: "因产业项目失败", unstable_job: "因务工就业不稳", lack_labor: "缺劳动力",
    other: "其他",
    monitored: "当前监测户", monitored_households: "当前监测户", households_monitored: "当前监测户",
    monitored_now: "当前监测户", eliminated_in_year: "本年风险消除", eliminated_households: "本年风险消除",
    without_measure: "无帮扶措施监测户", no_measure: "无帮扶措施监测户", monitored_without_measure: "无帮扶措施监测户",
    overdue_reports: "逾期未处理申报", median_days_to_approval: "申报至审批天数（中位数）",
    median_days_report_to_approval: "申报至审批天数（中位数）", cases: "监测案例",
  };
  const SKIP = new Set(["code", "name", "level", "year", "children", "region_code"]);

  const charts = {};
  const state = {token: sessionStorage.getItem(TOKEN_KEY), me: null, root: null, code: null, year: THIS_YEAR};
  const $ = (id) => document.getElementById(id);

  class HttpError extends Error {
    constructor(status) { super("HTTP " + status); this.status = status; }
  }

  async function api(path) {
    const r = await fetch(path, {headers: {Authorization: "Bearer " + state.token, Accept: "application/json"}});
    if (r.status === 401) { signedOut(); throw new HttpError(401); }
    if (!r.ok) throw new HttpError(r.status);
    return r.json();
  }

  /* A panel the user's role or the deployment may not have: null (the panel hidden) instead of an error. */
  async function optional(path) {
    try { return await api(path); } catch (e) { if (e.status === 401) throw e; return null; }
  }

  const num = (v) => (v === null || v === undefined ? null : Number(v));
  const fmt = (v) => (v === null || v === undefined ? "—" : Number(v).toLocaleString("zh-CN"));
  const money = (v) => (v === null || v === undefined ? "—" : Number(v).toLocaleString("zh-CN",
    {minimumFractionDigits: 2, maximumFractionDigits: 2}));
  const pct = (v, d = 2) => (v === null || v === undefined ? "—" : (v * 100).toFixed(d) + "%");
  const ratio = (a, b) => (b ? Math.round((a / b) * 1e4) / 1e4 : null);

  function el(tag, text, cls) {
    const e = document.createElement(tag);
    if (text !== undefined && text !== null) e.textContent = text;
    if (cls) e.className = cls;
    return e;
  }

  function row(cells) {
    const tr = document.createElement("tr");
    for (const [text, cls] of cells) tr.appendChild(el("td", text, cls));
    return tr;
  }

  function chart(id, option) {
    const node = $(id);
    const c = window.echarts.getInstanceByDom(node) || window.echarts.init(node, null, {renderer: "svg"});
    c.setOption(Object.assign({animation: false, color: COLORS, textStyle: {fontFamily: "inherit"}}, option), true);
    charts[id] = c;
    return c;
  }

  function tiles(node, items) {
    node.replaceChildren(...items.map(([label, value]) => {
      const t = el("div", null, "tile");
      t.append(el("div", label, "label"), el("div", value, "value"));
      return t;
    }));
  }

  // --- panels -------------------------------------------------------------------------------------------------

  function incidence(stats) {
    // 贫困发生率 per township: a county's (or city's) children; a township or village shows itself only.
    const rows = CHILD_OF[stats.level] ? stats.children : [stats];
    document.querySelectorAll(".child-level").forEach((n) => { n.textContent = CHILD_OF[stats.level] || LEVELS[stats.level]; });
    const c = chart("chart-incidence", {
      grid: {left: 8, right: 16, top: 28, bottom: 8, containLabel: true},
      tooltip: {trigger: "axis", valueFormatter: (v) => pct(v)},
      xAxis: {type: "category", data: rows.map((r) => r.name), axisLabel: {interval: 0, rotate: rows.length > 6 ? 30 : 0}},
      yAxis: {type: "value", name: "贫困发生率", axisLabel: {formatter: (v) => pct(v, 1)}},
      series: [{name: "贫困发生率", type: "bar", barMaxWidth: 48, data: rows.map((r) => r.poverty_incidence),
                label: {show: true, position: "top", formatter: (p) => pct(p.value)}}],
    });
    c.off("click");
    if (CHILD_OF[stats.level]) c.on("click", (p) => load(rows[p.dataIndex].code));
    const body = $("table-incidence").querySelector("tbody");
    body.replaceChildren(...rows.map((r) => row([[r.name], [fmt(r.rural_population), "num"],
      [fmt(r.register_households), "num"], [fmt(r.poor_households), "num"], [fmt(r.poor_persons), "num"],
      [pct(r.poverty_incidence), "num"]])));
  }

  function byStatus(stats) {
    const items = stats.by_status;
    chart("chart-status", {
      grid: {left: 8, right: 8, top: 36, bottom: 8, containLabel: true},
      legend: {top: 0}, tooltip: {trigger: "axis"},
      xAxis: {type: "category", data: items.map((s) => s.label)},
      yAxis: {type: "value"},
      series: [{name: "户数", type: "bar", data: items.map((s) => s.households), label: {show: true, position: "top"}},
               {name: "人数", type: "bar", data: items.map((s) => s.persons), label: {show: true, position: "top"}}],
    });
  }

  function yearLines(series) {
    if (!series) { $("panel-years").hidden = true; return; }
    $("panel-years").hidden = false;
    chart("chart-years", {
      grid: {left: 8, right: 16, top: 36, bottom: 8, containLabel: true},
      legend: {top: 0}, tooltip: {trigger: "axis"},
      xAxis: {type: "category", data: series.years.map((y) => String(y.year)), boundaryGap: false},
      yAxis: {type: "value", minInterval: 1},
      series: FLOWS.map(([code, label]) => ({name: label, type: "line", data: series.years.map((y) => y[code].households)})),
    });
  }

  function shares(id, items, field) {
    const data = items.filter((i) => i[field] > 0).map((i) => ({name: i.label, value: i[field]}));
    chart(id, {
      tooltip: {trigger: "item", formatter: "{b}：{c}（{d}%）"},
      legend: {type: "scroll", bottom: 0},
      series: [{type: "pie", radius: ["30%", "62%"], center: ["50%", "45%"], data,
                label: {formatter: "{b}\n{d}%"}}],
    });
  }

  function batches(stats) {
    const items = stats.by_batch;
    chart("chart-batches", {
      grid: {left: 8, right: 16, top: 16, bottom: 8, containLabel: true},
      tooltip: {trigger: "axis"},
      xAxis: {type: "value", minInterval: 1},
      yAxis: {type: "category", data: items.map((b) => b.label), inverse: true},
      series: [{name: "受益户", type: "bar", data: items.map((b) => b.households), label: {show: true, position: "right"}}],
    });
  }

  function funds(figures, alerts) {
    $("panel-funds").hidden = !figures;
    if (!figures) return;
    const used = figures.purposes.filter((p) => num(p.allocated) > 0);
    chart("chart-funds", {
      grid: {left: 8, right: 24, top: 36, bottom: 8, containLabel: true},
      legend: {top: 0}, tooltip: {trigger: "axis", valueFormatter: money},
      xAxis: {type: "value", axisLabel: {formatter: (v) => (v >= 1e4 ? v / 1e4 + "万" : v)}},
      yAxis: {type: "category", data: used.map((p) => p.purpose_label), inverse: true},
      series: FUND_SERIES.map(([code, label, color]) => ({name: label, type: "bar", itemStyle: {color},
        data: used.map((p) => num(p[code]))})),
    });
    const body = $("table-funds").querySelector("tbody");
    const line = (label, f, cls) => {
      const tr = row([[label], [money(f.allocated), "num"], [money(f.committed), "num"], [money(f.spent), "num"],
                      [money(f.available), "num"], [money(f.idle), num(f.idle) > 0 ? "num idle" : "num"]]);
      if (cls) tr.className = cls;
      return tr;
    };
    body.replaceChildren(...used.map((p) => line(p.purpose_label, p)), line("合计", figures.total, "total"));
    const list = $("alerts");
    list.replaceChildren(...((alerts && alerts.items) || []).map((a) => el("li", (a.kind_label ? a.kind_label + "：" : "") + a.detail)));
  }

  function loans(figures, stats) {
    $("panel-loans").hidden = !figures;
    if (!figures) return;
    const base = stats.register_households;
    const rates = [["授信率", ratio(figures.households_rated, base)], ["获贷率", ratio(figures.loans_issued, base)],
                   ["逾期率", figures.overdue_rate], ["回收率", figures.recovery_rate]];
    chart("chart-loans", {
      grid: {left: 8, right: 16, top: 28, bottom: 8, containLabel: true},
      tooltip: {trigger: "axis", valueFormatter: (v) => pct(v)},
      xAxis: {type: "category", data: rates.map((r) => r[0])},
      yAxis: {type: "value", max: 1, axisLabel: {formatter: (v) => pct(v, 0)}},
      series: [{name: "比率", type: "bar", barMaxWidth: 48, data: rates.map((r) => r[1]),
                label: {show: true, position: "top", formatter: (p) => pct(p.value)}}],
    });
    const dl = $("loan-figures");
    const pairs = [["评级授信户", fmt(figures.households_rated)], ["授信总额（元）", money(figures.credit_granted)],
                   ["放款笔数", fmt(figures.loans_issued)], ["放款金额（元）", money(figures.amount_issued)],
                   ["贷款余额（元）", money(figures.outstanding)], ["逾期余额（元）", money(figures.overdue_outstanding)],
                   ["已还本金（元）", money(figures.repaid)], ["风险补偿代偿（元）", money(figures.compensated)]];
    dl.replaceChildren(...pairs.flatMap(([k, v]) => [el("dt", k), el("dd", v)]));
  }

  /* [[label, value]] from [{code, label, <count>}] or {code: count}. */
  function pairsOf(x) {
    if (Array.isArray(x)) {
      return x.filter((i) => i && typeof i === "object").map((i) => {
        const value = ["cases", "count", "households", "n", "total"].map((k) => i[k]).find((v) => typeof v === "number");
        return [i.label || MONITORING_LABELS[i.code] || i.code, value === undefined ? null : value];
      });
    }
    if (x && typeof x === "object") {
      return Object.entries(x).filter(([, v]) => typeof v === "number").map(([k, v]) => [MONITORING_LABELS[k] || k, v]);
    }
    return [];
  }

  function monitoring(figures) {
    $("panel-monitoring").hidden = !figures;
    if (!figures) return;
    const numbers = Object.entries(figures).filter(([k, v]) => !SKIP.has(k) && typeof v === "number");
    tiles($("monitoring-tiles"), numbers.map(([k, v]) => [MONITORING_LABELS[k] || k, fmt(v)]));
    const key = ["by_category", "cases_by_category", "by_risk_type", "by_status"].find((k) => figures[k]);
    const pairs = key ? pairsOf(figures[key]) : [];
    $("chart-monitoring").hidden = pairs.length === 0;
    if (!pairs.length) return;
    chart("chart-monitoring", {
      grid: {left: 8, right: 16, top: 16, bottom: 8, containLabel: true}, tooltip: {trigger: "axis"},
      xAxis: {type: "value", minInterval: 1},
      yAxis: {type: "category", data: pairs.map((p) => p[0]), inverse: true},
      series: [{name: "监测户", type: "bar", data: pairs.map((p) => p[1]), label: {show: true, position: "right"}}],
    });
  }

  function summary(stats, series) {
    const flows = (series && series.years.find((y) => y.year === state.year)) || stats.in_year;
    tiles($("tiles"), [
      ["建档立卡户", fmt(stats.register_households)], ["建档立卡人口", fmt(stats.register_persons)],
      ["未脱贫户", fmt(stats.poor_households)], ["未脱贫人口", fmt(stats.poor_persons)],
      ["贫困发生率", pct(stats.poverty_incidence)],
      [state.year + "年脱贫户", fmt(flows.exits.households)], [state.year + "年返贫户", fmt(flows.returns.households)],
      ["帮扶责任人覆盖率", pct(stats.helper_coverage.share, 1)],
    ]);
  }

  // --- flow ---------------------------------------------------------------------------------------------------

  async function load(code) {
    state.code = code;
    document.body.dataset.state = "loading";
    const y = state.year;
    history.replaceState(null, "", `/dashboard?region=${code}&year=${y}`);
    try {
      const [stats, series, fundFigures, alerts, loanFigures, monitoringFigures] = await Promise.all([
        api(`/api/v1/stats/regions/${code}?year=${y}`),
        optional(`/api/v1/stats/regions/${code}/years?from=${FIRST_YEAR}&to=${Math.max(THIS_YEAR, y)}`),
        optional(`/api/v1/stats/funds/${code}`),
        optional(`/api/v1/alerts?region=${code}&limit=20`),
        optional(`/api/v1/stats/loans?region=${code}`),
        optional(`/api/v1/stats/monitoring/${code}?year=${y}`),
      ]);
      $("title").textContent = `${stats.name}脱贫攻坚作战图`;
      $("subtitle").textContent = `${LEVELS[stats.level] || ""}级 · ${y}年 · 区域代码 ${stats.code}`;
      document.title = `${stats.name}脱贫攻坚作战图 - 精准扶贫`;
      document.querySelectorAll(".year-label").forEach((n) => { n.textContent = y; });
      $("up").hidden = code === state.root;
      $("as-of").textContent = new Date().toLocaleString("zh-CN", {hour12: false});
      summary(stats, series);
      incidence(stats);
      byStatus(stats);
      yearLines(series);
      shares("chart-causes", stats.by_main_cause, "households");
      batches(stats);
      funds(fundFigures, alerts);
      loans(loanFigures, stats);
      monitoring(monitoringFigures);
      $("panel-loans").classList.toggle("wide", !monitoringFigures);    // alone in its row without §11's panel
      resizeAll();
      document.body.dataset.state = "ready";
    } catch (e) {
      if (e.status !== 401) {
        document.body.dataset.state = "error";
        $("subtitle").textContent = e.status === 404 ? "没有这个区域，或不在您的管辖范围内" : "数据加载失败，请稍后重试";
      }
    }
  }

  async function start() {
    try {
      state.me = await api("/api/v1/auth/me");
    } catch (e) {
      if (e.status !== 401) {          // signed in, but the gateway cannot say who: back to the form, saying so
        signedOut();
        $("login-error").textContent = "暂时无法登录，请稍后重试";
        $("login-error").hidden = false;
      }
      return;
    }
    const me = state.me;
    state.root = me.region_code;
    $("who-name").textContent = `${me.display_name || me.username || me.sub} · ${me.role_label || me.role}`;
    $("who").hidden = false;
    $("login").hidden = true;
    $("board").hidden = false;
    const params = new URLSearchParams(location.search);
    const year = Number(params.get("year"));
    state.year = year >= FIRST_YEAR && year <= THIS_YEAR ? year : THIS_YEAR;
    const select = $("year");
    select.replaceChildren();
    for (let y = THIS_YEAR; y >= FIRST_YEAR; y--) {
      const o = el("option", `${y}年`);
      o.value = String(y);
      select.appendChild(o);
    }
    select.value = String(state.year);
    const asked = params.get("region");
    const prefix = significant(state.root);
    await load(asked && /^\d{12}$/.test(asked) && asked.startsWith(prefix) ? asked : state.root);
  }

  function significant(code) {
    for (const n of [2, 4, 6, 9]) if (/^0+$/.test(code.slice(n))) return code.slice(0, n);
    return code;
  }

  function signedOut() {
    sessionStorage.removeItem(TOKEN_KEY);
    state.token = null;
    $("board").hidden = true;
    $("who").hidden = true;
    $("login").hidden = false;
    document.body.dataset.state = "login";
  }

  async function login(ev) {
    ev.preventDefault();
    const error = $("login-error");
    error.hidden = true;
    const body = new URLSearchParams({grant_type: "password", username: $("username").value, password: $("password").value});
    let r;
    try {
      r = await fetch("/api/v1/auth/token", {method: "POST", body, headers: {Accept: "application/json"}});
    } catch (e) {
      r = null;
    }
    if (!r || !r.ok) {
      error.textContent = !r ? "无法连接服务器" : r.status === 429 ? "登录失败次数过多，请稍后再试"
        : r.status === 400 || r.status === 401 ? "用户名或密码错误" : `登录失败（${r.status}）`;
      error.hidden = false;
      return;
    }
    state.token = (await r.json()).access_token;
    sessionStorage.setItem(TOKEN_KEY, state.token);
    $("password").value = "";
    await start();
  }

  async function logout() {
    try {
      await fetch("/api/v1/auth/logout", {method: "POST", headers: {Authorization: "Bearer " + state.token}});
    } finally {
      signedOut();
    }
  }

  function resizeAll() {
    for (const c of Object.values(charts)) if (!c.isDisposed()) c.resize();
  }

  let pending = null;
  window.addEventListener("resize", () => { clearTimeout(pending); pending = setTimeout(resizeAll, 100); });
  // Printing lays the page out at the paper's width: the charts follow it, and come back after.
  window.addEventListener("beforeprint", resizeAll);
  window.addEventListener("afterprint", resizeAll);
  window.matchMedia("print").addEventListener("change", resizeAll);

  document.addEventListener("DOMContentLoaded", () => {
    $("login-form").addEventListener("submit", login);
    $("logout").addEventListener("click", logout);
    $("print").addEventListener("click", () => window.print());
    $("up").addEventListener("click", () => load(state.root));
    $("year").addEventListener("change", (e) => { state.year = Number(e.target.value); load(state.code); });
    if (state.token) start(); else signedOut();
  });
  window.dashboard = {charts, state, resizeAll};
})();
