// Devices of the user's site: list (state, last seen, battery, quarantine counts) and detail.

import { api, apiAll } from "/static/api.js";
import { h, signalIcon } from "/static/dom.js";
import { formatAgo, formatDateTime, formatNumber, t, term } from "/static/i18n.js";

function stateChip(state) {
  return h("span", { class: `dev-state ${state}`, "data-testid": "device-state" }, term("devices.state", state));
}

function battery(pct) {
  if (pct == null) return "—";
  return h("span", { class: "battery" }, h("span", { class: "battery-bar" }, h("span", { style: `width:${Math.max(0, Math.min(100, pct))}%` })), `${formatNumber(pct)}%`);
}

function lastSeen(at) {
  return at ? h("span", { title: formatDateTime(at) }, formatAgo(at)) : t("devices.never");
}

async function list(ctx) {
  const rows = await apiAll("/api/devices", { site_id: ctx.site });
  return h(
    "section",
    { class: "devices", "data-testid": "devices" },
    h("div", { class: "page-head" }, h("h1", {}, t("devices.title")), h("span", { class: "muted" }, ctx.siteName(ctx.site), " · ", t("common.count", { n: rows.length }))),
    h(
      "section",
      { class: "panel wide" },
      h(
        "table",
        { class: "table" },
        h("thead", {}, h("tr", {}, [t("devices.device"), t("devices.model"), t("devices.bed"), t("devices.state"), t("devices.last_seen"), t("devices.battery"), t("devices.quarantine_24h"), t("devices.quarantine_total"), t("devices.open_dq")].map((c) => h("th", {}, c)))),
        h("tbody", {}, rows.map((d) =>
          h(
            "tr",
            { "data-testid": "device-row", class: d.state !== "online" ? "dim" : null },
            h("td", {}, h("a", { href: `#/device/${encodeURIComponent(d.device_id)}` }, d.device_id)),
            h("td", {}, d.model.replaceAll("_", " ")),
            h("td", {}, d.bed_label ?? "—"),
            h("td", {}, stateChip(d.state)),
            h("td", {}, lastSeen(d.last_seen_at)),
            h("td", {}, battery(d.battery_pct)),
            h("td", { class: d.quarantined_24h ? "warn num" : "num" }, formatNumber(d.quarantined_24h)),
            h("td", { class: "num" }, formatNumber(d.quarantined_total)),
            h("td", {}, (d.open_data_quality ?? []).map((k) => h("span", { class: "dq-chip" }, signalIcon(), term("kind", k)))),
          ),
        )),
      ),
    ),
  );
}

async function detail(ctx, deviceId) {
  const d = await api(`/api/devices/${encodeURIComponent(deviceId)}`);
  const fact = (label, value) => h("div", { class: "stat" }, h("span", { class: "stat-label" }, label), h("span", { class: "stat-value" }, value));
  const reasons = Object.entries(d.quarantine_by_reason ?? {});
  return h(
    "section",
    { class: "device", "data-testid": "device-detail" },
    h("div", { class: "page-head" }, h("a", { href: "#/devices", class: "btn ghost" }, "← ", t("common.back")), h("h1", {}, d.device_id), stateChip(d.state)),
    h(
      "div",
      { class: "grid" },
      h(
        "section",
        { class: "panel" },
        h(
          "div",
          { class: "stats" },
          fact(t("devices.model"), d.model.replaceAll("_", " ")),
          fact(t("devices.bed"), d.bed_label ?? "—"),
          fact(t("devices.resident"), d.resident_id ? h("a", { href: `#/resident/${encodeURIComponent(d.resident_id)}` }, d.resident_id) : "—"),
          fact(t("devices.last_seen"), d.last_seen_at ? formatDateTime(d.last_seen_at) : t("devices.never")),
          fact(t("devices.battery"), battery(d.battery_pct)),
          fact(t("devices.quarantine_24h"), formatNumber(d.quarantined_24h)),
          fact(t("devices.quarantine_total"), formatNumber(d.quarantined_total)),
        ),
        (d.open_data_quality ?? []).length ? h("p", {}, t("devices.open_dq"), ": ", d.open_data_quality.map((k) => h("span", { class: "dq-chip" }, signalIcon(), term("kind", k)))) : null,
      ),
      h(
        "section",
        { class: "panel" },
        h("h2", {}, t("devices.quarantine_by_reason")),
        reasons.length
          ? h("table", { class: "table compact" }, h("tbody", {}, reasons.map(([reason, n]) => h("tr", {}, h("td", {}, reason.replaceAll("_", " ")), h("td", { class: "num" }, formatNumber(n))))))
          : h("p", { class: "muted" }, t("common.none")),
      ),
      h(
        "section",
        { class: "panel wide" },
        h("h2", {}, t("devices.recent_status")),
        (d.recent_status ?? []).length
          ? h("table", { class: "table compact" }, h("tbody", {}, d.recent_status.map((s) => h("tr", {}, Object.values(s).map((v) => h("td", {}, typeof v === "string" && /^\d{4}-\d\d-\d\dT/.test(v) ? formatDateTime(v) : v == null ? "—" : typeof v === "object" ? JSON.stringify(v) : String(v)))))))
          : h("p", { class: "muted" }, t("common.none")),
      ),
    ),
  );
}

export async function render(ctx) {
  return ctx.arg ? detail(ctx, ctx.arg) : list(ctx);
}
