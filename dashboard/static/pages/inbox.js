// The alert inbox: unresolved alerts of the user's site, clinical first and most severe first;
// device/signal problems in their own grey section. One click acknowledges.

import { alertButtons } from "/static/actions.js";
import { apiAll } from "/static/api.js";
import { h, signalIcon } from "/static/dom.js";
import { formatAgo, formatDateTime, t, term } from "/static/i18n.js";

const SEVERITY_RANK = { critical: 0, high: 1, medium: 2, low: 3 };
const REFRESH_MS = 10_000;

function row(alert, names, ctx, reload) {
  const name = names.get(alert.resident_id) ?? alert.resident_id;
  return h(
    "tr",
    { class: alert.channel === "data_quality" ? "dq-row" : `sev-row sev-${alert.severity} state-${alert.state}`, "data-testid": "alert-row", "data-alert": alert.alert_id, "data-state": alert.state },
    h("td", {}, h("span", { class: `sev-chip sev-${alert.severity}` }, term("severity", alert.severity))),
    h("td", {}, h("a", { href: `#/resident/${encodeURIComponent(alert.resident_id)}` }, name)),
    h("td", {}, term("kind", alert.kind)),
    h("td", { "data-testid": "alert-state" }, term("state", alert.state)),
    h("td", { title: formatDateTime(alert.started_at) }, formatAgo(alert.started_at)),
    h("td", {}, alertButtons(alert, ctx, reload)),
  );
}

function table(alerts, names, ctx, reload, testid) {
  if (!alerts.length) return h("p", { class: "muted pad", "data-testid": `${testid}-empty` }, t("inbox.none"));
  return h(
    "table",
    { class: "table", "data-testid": testid },
    h("thead", {}, h("tr", {}, [t("inbox.severity"), t("inbox.resident"), t("inbox.kind"), t("inbox.state"), t("inbox.started"), t("inbox.actions")].map((c) => h("th", {}, c)))),
    h("tbody", {}, alerts.map((a) => row(a, names, ctx, reload))),
  );
}

export async function render(ctx) {
  const container = h("section", { class: "inbox", "data-testid": "inbox" });
  const residents = ctx.can("view_ward") && ctx.site ? await apiAll("/api/residents", { site_id: ctx.site }).catch(() => []) : [];
  const names = new Map(residents.map((r) => [r.resident_id, r.bed_label ? `${r.display_name} · ${r.bed_label}` : r.display_name]));
  async function load() {
    const [open, acknowledged] = await Promise.all(
      ["open", "acknowledged"].map((state) => apiAll("/api/alerts", { site_id: ctx.site, state })),
    );
    const alerts = [...open, ...acknowledged].sort(
      (a, b) => (a.state === "open" ? 0 : 1) - (b.state === "open" ? 0 : 1) || SEVERITY_RANK[a.severity] - SEVERITY_RANK[b.severity] || b.started_at.localeCompare(a.started_at),
    );
    const clinical = alerts.filter((a) => a.channel !== "data_quality");
    const quality = alerts.filter((a) => a.channel === "data_quality");
    const reload = () => {
      load();
      ctx.refreshBadge();
    };
    container.replaceChildren(
      h("div", { class: "page-head" }, h("h1", {}, t("inbox.title")), h("span", { class: "muted" }, ctx.siteName(ctx.site))),
      h("section", { class: "panel wide" }, h("h2", {}, t("inbox.clinical"), h("span", { class: "count" }, String(clinical.length))), table(clinical, names, ctx, reload, "clinical-alerts")),
      h("section", { class: "panel wide dq-panel" }, h("h2", {}, signalIcon(), t("inbox.dq"), h("span", { class: "count" }, String(quality.length))), table(quality, names, ctx, reload, "dq-alerts")),
    );
  }
  await load();
  const timer = setInterval(() => {
    if (!document.querySelector("dialog[open]")) load().catch(() => null);
  }, REFRESH_MS);
  ctx.onLeave(() => clearInterval(timer));
  return container;
}
