// Ward overview: one tile per bed, live from the ward stream (SSE, cookie-authenticated).
// Clinical state is a coloured fill by severity; data-quality state is a grey dashed border
// with a device/signal icon, never red. Open critical/high beds come first and pulse. Below the
// tiles: the follow-ups due this shift (overdue ones first and highlighted), done in one click.

import { api } from "/static/api.js";
import { h, signalIcon, toast } from "/static/dom.js";
import { formatAgo, formatDateTime, formatNumber, formatTime, t, term } from "/static/i18n.js";

const SEVERITY_RANK = { critical: 0, high: 1, medium: 2, low: 3 };
const URGENT = new Set(["critical", "high"]);
// "Due this shift": the follow-ups due within one shift, the same 12 h a login lasts
// (ELDERCARE_API_SESSION_HOURS, docs/dashboard.md).
const SHIFT_HOURS = 12;
const FOLLOW_UPS_PAGE = 20;
const FOLLOW_UPS_REFRESH_MS = 60_000;

function urgency(bed) {
  const alert = bed.clinical;
  if (!alert) return 9;
  // An open alert outranks an acknowledged one of the same severity.
  return SEVERITY_RANK[alert.severity] * 2 + (alert.state === "open" ? 0 : 1);
}

function isUrgent(bed) {
  return bed.clinical && URGENT.has(bed.clinical.severity) && bed.clinical.state === "open";
}

function vital(label, reading, digits = 0) {
  return h(
    "div",
    { class: "vital" },
    h("span", { class: "vital-label" }, label),
    h("span", { class: "vital-value" }, reading ? formatNumber(reading.value, digits) : t("ward.no_value")),
    h("span", { class: "vital-unit" }, reading ? reading.unit : ""),
  );
}

function presence(bed) {
  const key = bed.presence ? `ward.presence.${bed.presence}` : "ward.presence.unknown";
  return h("span", { class: `presence ${bed.presence ?? "unknown"}`, title: bed.presence_at ? formatTime(bed.presence_at) : "" }, h("span", { class: "dot" }), t(key));
}

function tile(bed) {
  const clinical = bed.clinical;
  const dq = bed.data_quality;
  const classes = ["tile"];
  if (clinical) classes.push(`sev-${clinical.severity}`, `state-${clinical.state}`);
  if (isUrgent(bed)) classes.push("pulse");
  if (dq) classes.push("dq");
  const bp = bed.last_bp;
  return h(
    "a",
    {
      class: classes.join(" "),
      href: bed.resident_id ? `#/resident/${encodeURIComponent(bed.resident_id)}` : null,
      "data-testid": "bed-tile",
      "data-bed": bed.bed_id,
      "data-resident": bed.resident_id ?? "",
      "data-severity": clinical?.severity ?? "",
      "data-alert-state": clinical?.state ?? "",
      "data-dq": dq ? dq.kind : "",
    },
    h(
      "div",
      { class: "tile-head" },
      h("span", { class: "bed-label" }, bed.bed_label),
      h("span", { class: "resident-name" }, bed.resident_name ?? t("ward.empty_bed")),
      bed.risk_tier ? h("span", { class: `chip risk-${bed.risk_tier}` }, term("risk", bed.risk_tier)) : null,
    ),
    clinical
      ? h(
          "div",
          { class: "tile-alert", "data-testid": "tile-alert" },
          h("span", { class: "alert-icon", "aria-hidden": "true" }, "▲"),
          h("strong", {}, term("kind", clinical.kind)),
          h("span", {}, ` · ${term("severity", clinical.severity)} · ${term("state", clinical.state)}`),
          h("span", { class: "muted-on-color" }, ` · ${formatAgo(clinical.started_at)}`),
        )
      : h("div", { class: "tile-ok" }, t("ward.ok")),
    h("div", { class: "tile-presence" }, presence(bed)),
    h(
      "div",
      { class: "vitals" },
      vital(t("ward.hr"), bed.heart_rate),
      vital(t("ward.rr"), bed.respiration_rate),
      bed.spo2 ? vital(t("ward.spo2"), bed.spo2) : null,
      h(
        "div",
        { class: "vital" },
        h("span", { class: "vital-label" }, t("ward.bp")),
        h("span", { class: "vital-value" }, bp ? `${formatNumber(bp.systolic)}/${formatNumber(bp.diastolic)}` : t("ward.no_value")),
        h("span", { class: "vital-unit" }, bp ? `${bp.unit} · ${formatTime(bp.at)}` : ""),
      ),
    ),
    dq
      ? h(
          "div",
          { class: "tile-dq", "data-testid": "tile-dq" },
          signalIcon(),
          h("span", {}, `${t("ward.dq")}: ${term("kind", dq.kind)}`),
          dq.since ? h("span", { class: "muted" }, ` · ${formatAgo(dq.since)}`) : null,
        )
      : null,
    h(
      "div",
      { class: "tile-devices" },
      (bed.devices ?? []).map((d) =>
        h("span", { class: "device-chip", title: d.device_id }, d.model.replaceAll("_", " "), d.battery_pct != null ? ` · ${t("ward.battery", { pct: formatNumber(d.battery_pct) })}` : ""),
      ),
    ),
  );
}

function renderOverview(container, overview, ctx) {
  const beds = [...overview.beds].sort((a, b) => urgency(a) - urgency(b) || a.bed_label.localeCompare(b.bed_label, undefined, { numeric: true }));
  const attention = beds.filter(isUrgent).length;
  container.replaceChildren(
    h(
      "div",
      { class: "page-head" },
      h("h1", {}, overview.site_name ?? ctx.siteName(overview.site_id)),
      h("span", { class: "muted" }, t("ward.beds", { n: overview.beds.length })),
      attention ? h("span", { class: "attention", "data-testid": "attention" }, `▲ ${t("ward.attention")}: ${attention}`) : null,
      h("div", { class: "spacer" }),
      h("span", { class: "live", "data-testid": "live" }, h("span", { class: "dot" }), t("common.live"), " · ", t("common.updated", { time: formatTime(overview.generated_at) })),
    ),
    h(
      "div",
      { class: "legend" },
      h("span", { class: "legend-clinical" }, t("ward.legend.clinical")),
      h("span", { class: "legend-dq" }, signalIcon(), t("ward.legend.dq")),
    ),
    h("div", { class: "tiles", "data-testid": "ward-tiles" }, beds.map(tile)),
  );
}

/** Open follow-ups of the ward's site, due this shift or all, paged; one click completes one. */
function followUpsPanel(ctx, residents) {
  let scope = "due";
  let shown = FOLLOW_UPS_PAGE;
  const body = h("div", { "data-testid": "follow-up-list" });
  const toggles = ["due", "all"].map((s) => h("button", { class: `seg ${s === scope ? "on" : ""}`, "data-testid": `follow-ups-${s}`, onclick: () => { scope = s; shown = FOLLOW_UPS_PAGE; load(); } }, t(`follow.${s}`)));
  const count = h("span", { class: "count", "data-testid": "follow-up-count" }, "0");
  async function complete(task, note, button) {
    button.disabled = true;
    try {
      await api(`/api/network/follow-ups/${task.task_id}/complete`, { method: "POST", body: note ? { note } : {} });
      toast(t("inbox.done", { what: t("follow.what") }), "ok");
    } catch (error) {
      if (error.status !== 401) toast(t("common.error", { detail: error.message }), "error");
    }
    await load();
  }
  function row(task, now) {
    const overdue = new Date(task.due_at).getTime() < now;
    const who = residents().get(task.resident_id);
    const note = h("input", { type: "text", maxlength: 4000, placeholder: t("follow.note"), "data-testid": "follow-up-note" });
    const done = h("button", { class: "btn primary", "data-testid": "follow-up-done" }, t("follow.done"));
    done.addEventListener("click", () => complete(task, note.value.trim(), done));
    return h(
      "tr",
      { class: overdue ? "overdue" : null, "data-testid": "follow-up-row", "data-task": task.task_id, "data-resident": task.resident_id, "data-overdue": overdue ? "true" : "false" },
      h("td", {}, h("a", { href: `#/resident/${encodeURIComponent(task.resident_id)}` }, who?.resident_name ?? task.resident_id), who ? h("div", { class: "muted" }, who.bed_label) : null),
      h("td", {}, h("span", { class: `chip risk-${task.risk_tier}` }, term("risk", task.risk_tier))),
      h("td", { class: "due" }, formatDateTime(task.due_at), overdue ? h("span", { class: "risk-flag overdue" }, t("follow.overdue")) : null, h("span", { class: "muted" }, ` · ${formatAgo(task.due_at)}`)),
      h("td", {}, ctx.can("complete_follow_ups") ? h("div", { class: "follow-up-done" }, note, done) : null),
    );
  }
  async function load() {
    toggles.forEach((b, i) => b.classList.toggle("on", ["due", "all"][i] === scope));
    const page = await api("/api/network/follow-ups", { query: { due_within_hours: scope === "due" ? SHIFT_HOURS : null, offset: 0, limit: shown } });
    const now = Date.now();
    count.textContent = String(page.count);
    const more =
      page.count > page.data.length
        ? h("button", { class: "btn ghost", "data-testid": "follow-ups-more", onclick: () => { shown += FOLLOW_UPS_PAGE; load(); } }, t("follow.more"), ` (${t("common.count", { n: page.count })})`)
        : [];
    body.replaceChildren(
      page.data.length
        ? h(
            "table",
            { class: "table follow-ups" },
            h("thead", {}, h("tr", {}, [t("follow.resident"), t("follow.tier"), t("follow.due_at"), ""].map((c) => h("th", {}, c)))),
            h("tbody", {}, page.data.map((task) => row(task, now))),
          )
        : h("p", { class: "muted" }, t("follow.none")),
      ...[more].flat(),
    );
  }
  const panel = h(
    "section",
    { class: "panel follow-ups-panel", "data-testid": "follow-ups" },
    h("div", { class: "panel-head" }, h("h2", {}, t("follow.title")), count, h("div", { class: "segmented" }, toggles)),
    body,
  );
  return { panel, load };
}

export async function render(ctx) {
  if (!ctx.site) return h("div", { class: "panel" }, t("ward.no_site"));
  const container = h("section", { class: "ward", "data-testid": "ward" });
  const overviewEl = h("div", {});
  const path = `/api/sites/${encodeURIComponent(ctx.site)}/ward`;
  let latest = await api(path);
  renderOverview(overviewEl, latest, ctx);
  const residents = () => new Map(latest.beds.filter((b) => b.resident_id).map((b) => [b.resident_id, b]));
  const followUps = followUpsPanel(ctx, residents);
  const banner = h("div", { class: "offline", hidden: true }, t("common.offline"));
  container.append(banner, overviewEl, followUps.panel);
  await followUps.load().catch(() => null);
  const source = new EventSource(`${path}/stream`);
  source.addEventListener("ward", (event) => {
    banner.hidden = true;
    latest = JSON.parse(event.data);
    renderOverview(overviewEl, latest, ctx);
    ctx.refreshBadge();
  });
  source.addEventListener("error", () => {
    banner.hidden = false;
    // A stream refused because the session ended: find out, and go back to the login screen.
    api("/api/auth/me").catch(() => source.close());
  });
  const timer = setInterval(() => {
    if (!document.activeElement?.matches?.("[data-testid=follow-up-note]")) followUps.load().catch(() => null);
  }, FOLLOW_UPS_REFRESH_MS);
  ctx.onLeave(() => {
    source.close();
    clearInterval(timer);
  });
  return container;
}
