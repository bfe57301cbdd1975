// Actions shared by the alert inbox, the resident page and the board: acknowledge, resolve with
// a note, escalate, request a consult, refer (incl. the green channel), change a risk tier, refer
// back down with a rehabilitation plan. The server takes the acting person from the login: no
// body names the actor.

import { api } from "/static/api.js";
import { dialog, field, h, toast } from "/static/dom.js";
import { t, term } from "/static/i18n.js";

const URGENCIES = ["routine", "urgent", "emergency"];
const PRIORITIES = ["routine", "urgent", "green_channel"];
const RISK_TIERS = ["low", "medium", "high"];
// The server's limit for a temporary tier or threshold period (RiskTierChange, BackReferralCreate).
const MAX_DAYS = 365;
// A back-referral's default periods, as the server's BackReferralCreate defaults them.
const BACK_REFERRAL_DAYS = 14;

function choice(name, prefix, values, selected) {
  return h("select", { name, "data-testid": `select-${name}` }, values.map((v) => h("option", { value: v, selected: v === selected }, term(prefix, v))));
}

function text(name, { required = false, placeholder = "" } = {}) {
  return h("textarea", { name, rows: 3, required, placeholder, maxlength: 2000, "data-testid": `input-${name}` });
}

async function done(promise, what) {
  try {
    const result = await promise;
    toast(t("inbox.done", { what }), "ok");
    return result;
  } catch (error) {
    if (error.status !== 401) toast(t("common.error", { detail: error.message }), "error");
    return null;
  }
}

export function acknowledge(alertId) {
  return done(api(`/api/alerts/${alertId}/acknowledge`, { method: "POST", body: {} }), t("inbox.ack"));
}

export async function resolve(alertId) {
  const values = await dialog({
    title: t("inbox.resolve.title"),
    fields: [field(t("inbox.resolve.note"), text("note", { required: true }))],
    submit: t("inbox.resolve"),
    cancel: t("common.cancel"),
    testid: "resolve-dialog",
  });
  if (!values) return null;
  return done(api(`/api/alerts/${alertId}/resolve`, { method: "POST", body: { note: values.note } }), t("inbox.resolve"));
}

export async function escalate(alertId) {
  const values = await dialog({
    title: t("inbox.escalate.title"),
    fields: [field(t("inbox.escalate.reason"), text("note"))],
    submit: t("inbox.escalate"),
    cancel: t("common.cancel"),
    testid: "escalate-dialog",
  });
  if (!values) return null;
  return done(api(`/api/alerts/${alertId}/escalate`, { method: "POST", body: values.note ? { note: values.note } : {} }), t("inbox.escalate"));
}

export async function requestConsult({ residentId, alertId = null }) {
  const values = await dialog({
    title: t("consult.title"),
    fields: [
      field(t("consult.urgency"), choice("urgency", "urgency", URGENCIES, alertId ? "urgent" : "routine")),
      field(t("consult.question"), text("question", { required: true })),
    ],
    submit: t("common.send"),
    cancel: t("common.cancel"),
    testid: "consult-dialog",
  });
  if (!values) return null;
  const body = { question: values.question, urgency: values.urgency };
  if (alertId) body.alert_id = alertId;
  else body.resident_id = residentId;
  return done(api("/api/consults", { method: "POST", body }), t("resident.consult"));
}

export async function requestReferral({ residentId, alertId = null, priority = "urgent" }) {
  const values = await dialog({
    title: t("referral.title"),
    hint: t("referral.green_hint"),
    fields: [
      field(t("referral.priority"), choice("priority", "priority", PRIORITIES, priority)),
      field(t("referral.reason"), text("reason", { required: true })),
    ],
    submit: t("common.send"),
    cancel: t("common.cancel"),
    testid: "referral-dialog",
  });
  if (!values) return null;
  const body = { resident_id: residentId, priority: values.priority, reason: values.reason };
  if (alertId) body.alert_ids = [alertId];
  return done(api("/api/referrals", { method: "POST", body }), t("resident.refer"));
}

function days(name, value = "") {
  return h("input", { name, type: "number", min: 1, max: MAX_DAYS, step: 1, value, "data-testid": `input-${name}` });
}

/** Set a resident's risk tier, for good or for N days; the server answers with the thresholds now in force. */
export async function changeRiskTier({ residentId, current }) {
  const values = await dialog({
    title: t("resident.risk.title"),
    hint: t("resident.risk.hint"),
    fields: [
      field(t("resident.risk.tier"), choice("tier", "risk", RISK_TIERS, current)),
      field(t("resident.risk.days"), days("days")),
      field(t("resident.risk.reason"), text("reason")),
    ],
    submit: t("common.save"),
    cancel: t("common.cancel"),
    testid: "risk-dialog",
  });
  if (!values) return null;
  const body = { tier: values.tier };
  if (values.days) body.days = Number(values.days);
  if (values.reason.trim()) body.reason = values.reason.trim();
  return done(api(`/api/network/residents/${encodeURIComponent(residentId)}/risk-tier`, { method: "PUT", body }), t("resident.risk.change"));
}

/** "name = value" lines as {name: number}; throws naming the first line it cannot read. */
function parseThresholds(source) {
  const values = {};
  for (const line of source.split("\n").map((l) => l.trim()).filter(Boolean)) {
    const match = /^([\w.]+)\s*[=:：]\s*(-?\d+(?:\.\d+)?)$/.exec(line);
    if (!match) throw new Error(t("backref.bad_threshold", { line }));
    values[match[1]] = Number(match[2]);
  }
  return values;
}

/** The site holding a referral up refers the resident back down with a rehabilitation plan. */
export async function backRefer(referralId) {
  const values = await dialog({
    title: t("backref.title"),
    hint: t("backref.hint"),
    fields: [
      field(t("backref.summary"), text("summary", { required: true })),
      field(t("backref.goals"), text("goals")),
      field(t("backref.instructions"), text("instructions")),
      h(
        "div",
        { class: "field-row" },
        field(t("backref.raise_tier"), h("select", { name: "raise_risk_tier_to", "data-testid": "select-raise_risk_tier_to" }, h("option", { value: "" }, t("backref.raise_tier.none")), RISK_TIERS.map((v) => h("option", { value: v }, term("risk", v))))),
        field(t("backref.risk_days"), days("risk_days", BACK_REFERRAL_DAYS)),
      ),
      field(t("backref.thresholds"), h("textarea", { name: "thresholds", rows: 2, placeholder: "heart_rate_sustained.high_bpm = 110", "data-testid": "input-thresholds" })),
      field(t("backref.thresholds_days"), days("thresholds_days", BACK_REFERRAL_DAYS)),
    ],
    submit: t("common.send"),
    cancel: t("common.cancel"),
    testid: "back-referral-dialog",
  });
  if (!values) return null;
  let thresholds;
  try {
    thresholds = parseThresholds(values.thresholds);
  } catch (error) {
    toast(error.message, "error");
    return null;
  }
  const body = {
    summary: values.summary.trim(),
    goals: values.goals.split("\n").map((g) => g.trim()).filter(Boolean),
    instructions: values.instructions.trim(),
    thresholds,
  };
  if (values.raise_risk_tier_to) body.raise_risk_tier_to = values.raise_risk_tier_to;
  if (values.risk_days) body.risk_days = Number(values.risk_days);
  if (values.thresholds_days) body.thresholds_days = Number(values.thresholds_days);
  return done(api(`/api/referrals/${referralId}/back-referral`, { method: "POST", body }), t("board.back_refer"));
}

/** The action buttons for one unresolved alert, as the user's permissions allow. */
export function alertButtons(alert, ctx, after) {
  const run = (action) => async (event) => {
    event.preventDefault();
    event.stopPropagation();
    if (await action()) after();
  };
  const buttons = [];
  if (ctx.can("act_on_alerts")) {
    if (alert.state === "open") buttons.push(h("button", { class: "btn primary", "data-testid": "ack", onclick: run(() => acknowledge(alert.alert_id)) }, t("inbox.ack")));
    buttons.push(h("button", { class: "btn", "data-testid": "resolve", onclick: run(() => resolve(alert.alert_id)) }, t("inbox.resolve")));
    if (alert.channel !== "data_quality") buttons.push(h("button", { class: "btn", "data-testid": "escalate", onclick: run(() => escalate(alert.alert_id)) }, t("inbox.escalate")));
  }
  if (alert.channel !== "data_quality") {
    if (ctx.can("request_consult")) buttons.push(h("button", { class: "btn", "data-testid": "consult", onclick: run(() => requestConsult({ residentId: alert.resident_id, alertId: alert.alert_id })) }, t("inbox.consult")));
    if (ctx.can("request_referral")) buttons.push(h("button", { class: "btn", "data-testid": "refer", onclick: run(() => requestReferral({ residentId: alert.resident_id, alertId: alert.alert_id, priority: alert.severity === "critical" ? "green_channel" : "urgent" })) }, t("inbox.refer")));
  }
  return h("div", { class: "actions" }, buttons);
}
