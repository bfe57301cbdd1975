// A resident's record: vital-sign charts (24 h / 7 days, from the per-minute rollups) with alerts
// shaded and findings marked, NEWS2 (a partial score says which parameters are missing), last
// night's sleep beside recent nights, notes, the risk tier (changed here, with the detector
// thresholds it puts in force) and consult/referral requests.

import { alertButtons, changeRiskTier, requestConsult, requestReferral } from "/static/actions.js";
import { api } from "/static/api.js";
import { h, toast } from "/static/dom.js";
import { formatAgo, formatDate, formatDateTime, formatDuration, formatNumber, lang, t, term } from "/static/i18n.js";

// Severity colours (same palette as the ward tiles), as fills over the chart.
const SEVERITY_FILL = {
  critical: "rgba(190, 18, 60, 0.22)",
  high: "rgba(234, 88, 12, 0.20)",
  medium: "rgba(202, 138, 4, 0.18)",
  low: "rgba(37, 99, 235, 0.12)",
};
const DATA_QUALITY_FILL = "rgba(100, 116, 139, 0.16)";
const LINE = { heart_rate: "#be123c", respiration_rate: "#0369a1", spo2: "#7c3aed", systolic_bp: "#0f766e", diastolic_bp: "#15803d" };
// Points further apart than this many buckets are a gap in the data, drawn as a break.
const GAP_BUCKETS = 1.5;

function toSeconds(iso) {
  return new Date(iso).getTime() / 1000;
}

/** uPlot columns [x, mean, min, max] with nulls where the rollup has no bucket. */
function columns(points, bucketSeconds) {
  const x = [], mean = [], min = [], max = [];
  let previous = null;
  for (const [ts, avg, lo, hi] of points) {
    const at = toSeconds(ts);
    if (previous != null && at - previous > GAP_BUCKETS * bucketSeconds) {
      x.push(previous + bucketSeconds);
      mean.push(null), min.push(null), max.push(null);
    }
    x.push(at), mean.push(avg), min.push(lo), max.push(hi);
    previous = at;
  }
  return [x, mean, min, max];
}

function overlayPlugin(chart) {
  return {
    hooks: {
      drawClear: [
        (u) => {
          const { ctx, bbox } = u;
          ctx.save();
          for (const alert of chart.alerts) {
            const x0 = u.valToPos(Math.max(toSeconds(alert.started_at), u.scales.x.min), "x", true);
            const end = alert.resolved_at ? toSeconds(alert.resolved_at) : u.scales.x.max;
            const x1 = u.valToPos(Math.min(end, u.scales.x.max), "x", true);
            if (x1 <= bbox.left || x0 >= bbox.left + bbox.width) continue;
            ctx.fillStyle = alert.channel === "data_quality" ? DATA_QUALITY_FILL : SEVERITY_FILL[alert.severity] ?? SEVERITY_FILL.low;
            ctx.fillRect(x0, bbox.top, Math.max(x1 - x0, 2 * devicePixelRatio), bbox.height);
          }
          ctx.restore();
        },
      ],
      draw: [
        (u) => {
          const { ctx, bbox } = u;
          ctx.save();
          for (const finding of chart.findings) {
            const at = toSeconds(finding.start);
            if (at < u.scales.x.min || at > u.scales.x.max) continue;
            const x = u.valToPos(at, "x", true);
            const size = 6 * devicePixelRatio;
            ctx.fillStyle = finding.severity === "critical" || finding.severity === "high" ? "#be123c" : "#a16207";
            ctx.beginPath();
            ctx.moveTo(x - size, bbox.top);
            ctx.lineTo(x + size, bbox.top);
            ctx.lineTo(x, bbox.top + size * 1.6);
            ctx.closePath();
            ctx.fill();
          }
          ctx.restore();
        },
      ],
    },
  };
}

function seriesChart(series, chart, width) {
  const color = LINE[series.metric] ?? "#334155";
  const data = columns(series.points, chart.bucket_seconds);
  const locale = lang();
  const opts = {
    width,
    height: 170,
    scales: { x: { time: true, min: toSeconds(chart.start), max: toSeconds(chart.end) } },
    legend: { show: false },
    cursor: { drag: { x: false, y: false } },
    axes: [
      { stroke: "#475569", grid: { stroke: "#e2e8f0" }, values: (u, ticks) => ticks.map((v) => new Intl.DateTimeFormat(locale, chart.window === "24h" ? { hour: "2-digit", minute: "2-digit" } : { month: "numeric", day: "numeric" }).format(new Date(v * 1000))) },
      { stroke: "#475569", grid: { stroke: "#e2e8f0" }, size: 48 },
    ],
    series: [
      {},
      { label: "mean", stroke: color, width: 1.6, spanGaps: false },
      { label: "min", stroke: "transparent", points: { show: false } },
      { label: "max", stroke: "transparent", points: { show: false } },
    ],
    bands: [{ series: [3, 2], fill: color + "26" }],
    plugins: [overlayPlugin(chart)],
  };
  const holder = h("div", { class: "chart-canvas" });
  new window.uPlot(opts, data, holder);
  return holder;
}

function chartsPanel(residentId) {
  let window_ = "24h";
  const body = h("div", { class: "charts", "data-testid": "charts" });
  const toggles = ["24h", "7d"].map((w) =>
    h("button", { class: `seg ${w === window_ ? "on" : ""}`, "data-testid": `window-${w}`, onclick: () => load(w) }, t(`resident.window.${w}`)),
  );
  async function load(w) {
    window_ = w;
    toggles.forEach((b, i) => b.classList.toggle("on", ["24h", "7d"][i] === w));
    const chart = await api(`/api/residents/${encodeURIComponent(residentId)}/chart`, { query: { window: w } });
    draw(chart);
  }
  function draw(chart) {
    const width = Math.max(body.clientWidth - 8, 320);
    const withData = chart.series.filter((s) => s.points.length);
    if (!withData.length) {
      body.replaceChildren(h("p", { class: "muted" }, t("resident.chart.no_data")));
      return;
    }
    body.replaceChildren(
      ...withData.map((s) =>
        h("div", { class: "chart", "data-metric": s.metric }, h("div", { class: "chart-title" }, term("metric", s.metric), h("span", { class: "muted" }, ` (${s.unit})`)), seriesChart(s, chart, width)),
      ),
      h(
        "div",
        { class: "chart-legend" },
        h("span", {}, t("resident.chart.range")),
        h("span", { class: "swatch alert" }), h("span", {}, t("resident.chart.alerts")),
        h("span", { class: "swatch finding" }, "▼"), h("span", {}, t("resident.chart.findings")),
      ),
    );
  }
  const panel = h("section", { class: "panel wide" }, h("div", { class: "panel-head" }, h("h2", {}, t("resident.charts")), h("div", { class: "segmented" }, toggles)), body);
  return { panel, load: () => load(window_) };
}

function news2Panel(news2) {
  const head = h("h2", {}, t("resident.news2"));
  if (!news2) return h("section", { class: "panel" }, head, h("p", { class: "muted" }, t("resident.news2.none")));
  const missing = (news2.missing ?? []).map((p) => term("news2", p)).join(lang() === "zh-CN" ? "、" : ", ");
  return h(
    "section",
    { class: "panel", "data-testid": "news2" },
    head,
    h(
      "div",
      { class: `news2 ${news2.complete ? "complete" : "partial"}` },
      h("span", { class: "news2-score" }, news2.complete ? formatNumber(news2.score) : `≥${formatNumber(news2.score)}`),
      h("span", { class: "news2-state", "data-testid": "news2-state" }, news2.complete ? t("resident.news2.complete") : t("resident.news2.partial", { missing })),
    ),
    h("p", { class: "muted" }, t("resident.news2.at", { time: formatDateTime(news2.at) })),
  );
}

function pct(value) {
  return value == null ? t("ward.no_value") : `${formatNumber(value * 100)}%`;
}

function delta(summary, name, format) {
  const c = summary.compared_with?.[name];
  if (!c) return null;
  const sign = c.delta > 0 ? "+" : c.delta < 0 ? "−" : "±";
  return h("span", { class: "delta" }, ` (${sign}${format(Math.abs(c.delta))})`);
}

function sleepPanel(nights) {
  const head = h("h2", {}, t("resident.sleep"));
  if (!nights.length) return h("section", { class: "panel" }, head, h("p", { class: "muted" }, t("resident.sleep.none")));
  const [last, ...recent] = nights;
  const stat = (label, value, extra) => h("div", { class: "stat" }, h("span", { class: "stat-label" }, label), h("span", { class: "stat-value" }, value, extra));
  return h(
    "section",
    { class: "panel", "data-testid": "sleep" },
    head,
    h("h3", {}, t("resident.sleep.last"), " · ", formatDate(last.night)),
    h(
      "div",
      { class: "stats" },
      stat(t("resident.sleep.total"), formatDuration(last.total_sleep_s), delta(last, "total_sleep_s", formatDuration)),
      stat(t("resident.sleep.efficiency"), pct(last.sleep_efficiency), delta(last, "sleep_efficiency", pct)),
      stat(t("resident.sleep.latency"), formatDuration(last.sleep_latency_s)),
      stat(t("resident.sleep.awakenings"), formatNumber(last.awakenings), delta(last, "awakenings", formatNumber)),
      stat(t("resident.sleep.exits"), formatNumber(last.bed_exits), delta(last, "bed_exits", formatNumber)),
      stat(t("resident.sleep.hr"), formatNumber(last.hr_asleep_mean)),
    ),
    recent.length
      ? [
          h("h3", {}, t("resident.sleep.recent")),
          h(
            "table",
            { class: "table compact" },
            h("thead", {}, h("tr", {}, [t("resident.sleep.night"), t("resident.sleep.total"), t("resident.sleep.efficiency"), t("resident.sleep.awakenings"), t("resident.sleep.exits"), t("resident.sleep.coverage")].map((c) => h("th", {}, c)))),
            h("tbody", {}, recent.map((n) => h("tr", {}, h("td", {}, formatDate(n.night)), h("td", {}, formatDuration(n.total_sleep_s)), h("td", {}, pct(n.sleep_efficiency)), h("td", {}, formatNumber(n.awakenings)), h("td", {}, formatNumber(n.bed_exits)), h("td", {}, pct(n.coverage))))),
          ),
        ]
      : null,
  );
}

function notesPanel(residentId, ctx) {
  const list = h("ol", { class: "notes", "data-testid": "notes" });
  async function load() {
    const page = await api(`/api/residents/${encodeURIComponent(residentId)}/notes`, { query: { limit: 50 } });
    list.replaceChildren(
      ...(page.data.length
        ? page.data.map((n) => h("li", {}, h("p", {}, n.body), h("span", { class: "muted" }, t("resident.notes.by", { author: n.author, time: formatDateTime(n.created_at) }))))
        : [h("li", { class: "muted" }, t("common.empty"))]),
    );
  }
  const input = h("textarea", { rows: 3, maxlength: 4000, placeholder: t("resident.notes.placeholder"), "data-testid": "note-input" });
  const form = ctx.can("write_notes")
    ? h(
        "form",
        {
          class: "note-form",
          onsubmit: async (event) => {
            event.preventDefault();
            if (!input.value.trim()) return;
            try {
              await api(`/api/residents/${encodeURIComponent(residentId)}/notes`, { method: "POST", body: { body: input.value.trim() } });
              input.value = "";
              await load();
            } catch (error) {
              toast(t("common.error", { detail: error.message }), "error");
            }
          },
        },
        input,
        h("button", { type: "submit", class: "btn primary", "data-testid": "note-submit" }, t("resident.notes.add")),
      )
    : null;
  return { panel: h("section", { class: "panel" }, h("h2", {}, t("resident.notes")), form, list), load };
}

function alertsPanel(record, ctx) {
  const alerts = record.open_alerts ?? [];
  return h(
    "section",
    { class: "panel", "data-testid": "resident-alerts" },
    h("h2", {}, t("resident.alerts")),
    alerts.length
      ? h("ul", { class: "alert-list" }, alerts.map((a) =>
          h(
            "li",
            { class: a.channel === "data_quality" ? "dq-row" : `sev-row sev-${a.severity}` },
            h("div", {}, h("strong", {}, term("kind", a.kind)), ` · ${term("severity", a.severity)} · ${term("state", a.state)}`, h("span", { class: "muted" }, ` · ${formatAgo(a.started_at)}`)),
            alertButtons(a, ctx, () => ctx.rerender()),
          ),
        ))
      : h("p", { class: "muted" }, t("inbox.none")),
  );
}

/** The detector parameters in force (tier profile plus overrides), folded away by default. */
function thresholdsPanel(residentId) {
  const body = h("div", { class: "thresholds-body" }, h("p", { class: "muted" }, t("common.loading")));
  let loaded = false;
  async function load() {
    const values = await api(`/api/network/residents/${encodeURIComponent(residentId)}/thresholds`);
    const rows = Object.entries(values).sort(([a], [b]) => a.localeCompare(b));
    loaded = true;
    body.replaceChildren(
      rows.length
        ? h(
            "table",
            { class: "table compact", "data-testid": "thresholds-table" },
            h("thead", {}, h("tr", {}, h("th", {}, t("resident.thresholds.parameter")), h("th", { class: "num" }, t("resident.thresholds.value")))),
            h("tbody", {}, rows.map(([name, value]) => h("tr", { "data-parameter": name }, h("td", {}, h("code", {}, name)), h("td", { class: "num" }, formatNumber(value, 2))))),
          )
        : h("p", { class: "muted" }, t("resident.thresholds.none")),
    );
  }
  const details = h(
    "details",
    {
      class: "panel wide thresholds",
      "data-testid": "thresholds",
      ontoggle: () => {
        if (details.open && !loaded) load().catch((error) => body.replaceChildren(h("p", { class: "muted" }, t("common.error", { detail: error.message }))));
      },
    },
    h("summary", {}, h("h2", {}, t("resident.thresholds"))),
    body,
  );
  return details;
}

export async function render(ctx) {
  const residentId = ctx.arg;
  const base = `/api/residents/${encodeURIComponent(residentId)}`;
  const record = await api(base);
  const sleep = await api(`${base}/sleep`, { query: { limit: 7 } }).catch(() => ({ data: [] }));
  const charts = chartsPanel(residentId);
  const notes = notesPanel(residentId, ctx);
  const actions = [];
  if (ctx.can("request_consult")) actions.push(h("button", { class: "btn", "data-testid": "resident-consult", onclick: async () => (await requestConsult({ residentId })) && ctx.rerender() }, t("resident.consult")));
  if (ctx.can("set_risk_tier")) actions.push(h("button", { class: "btn", "data-testid": "resident-risk", onclick: async () => (await changeRiskTier({ residentId, current: record.risk_tier })) && ctx.rerender() }, t("resident.risk.change")));
  if (ctx.can("request_referral")) actions.push(h("button", { class: "btn danger", "data-testid": "resident-refer", onclick: async () => (await requestReferral({ residentId })) && ctx.rerender() }, t("resident.refer")));
  const page = h(
    "div",
    { class: "resident", "data-testid": "resident-page" },
    h(
      "div",
      { class: "page-head" },
      h("h1", { "data-testid": "resident-name" }, record.display_name),
      h("span", { class: "muted" }, t("resident.bed", { bed: record.bed_label ?? "—" }), " · ", record.site_name ?? record.site_id),
      h("span", { class: `chip risk-${record.risk_tier}`, "data-testid": "risk-tier", "data-tier": record.risk_tier, "data-until": record.risk_tier_until ?? "" }, term("risk", record.risk_tier), record.risk_tier_until ? ` · ${t("resident.risk_until", { time: formatDateTime(record.risk_tier_until) })}` : ""),
      h("div", { class: "spacer" }),
      actions,
    ),
    h("div", { class: "grid" }, alertsPanel(record, ctx), news2Panel(record.news2), charts.panel, sleepPanel(sleep.data ?? []), notes.panel, thresholdsPanel(residentId)),
  );
  // Charts need the page's width: draw once the page is in the document.
  requestAnimationFrame(() => {
    charts.load().catch((error) => toast(t("common.error", { detail: error.message }), "error"));
  });
  notes.load().catch(() => null);
  return page;
}
