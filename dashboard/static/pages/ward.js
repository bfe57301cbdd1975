// Ward overview: one tile per bed, live from the ward stream (SSE, cookie-authenticated).
// Clinical state is a coloured fill by severity; data-quality state is a grey dashed border
// with a device/signal icon, never red. Open critical/high beds come first and pulse.

import { api } from "/static/api.js";
import { h, signalIcon } from "/static/dom.js";
import { formatAgo, formatNumber, formatTime, t, term } from "/static/i18n.js";

const SEVERITY_RANK = { critical: 0, high: 1, medium: 2, low: 3 };
const URGENT = new Set(["critical", "high"]);

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

export async function render(ctx) {
  if (!ctx.site) return h("div", { class: "panel" }, t("ward.no_site"));
  const container = h("section", { class: "ward", "data-testid": "ward" });
  const path = `/api/sites/${encodeURIComponent(ctx.site)}/ward`;
  renderOverview(container, await api(path), ctx);
  const banner = h("div", { class: "offline", hidden: true }, t("common.offline"));
  const source = new EventSource(`${path}/stream`);
  source.addEventListener("ward", (event) => {
    banner.hidden = true;
    renderOverview(container, JSON.parse(event.data), ctx);
    container.prepend(banner);
    ctx.refreshBadge();
  });
  source.addEventListener("error", () => {
    banner.hidden = false;
    // A stream refused because the session ended: find out, and go back to the login screen.
    api("/api/auth/me").catch(() => source.close());
  });
  ctx.onLeave(() => source.close());
  return container;
}
