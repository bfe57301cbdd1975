// Actions shared by the alert inbox and the resident page: acknowledge, resolve with a note,
// escalate, request a consult, refer (incl. the green channel). The server takes the acting
// person from the login: no body names the actor.

import { api } from "/static/api.js";
import { dialog, field, h, toast } from "/static/dom.js";
import { t, term } from "/static/i18n.js";

const URGENCIES = ["routine", "urgent", "emergency"];
const PRIORITIES = ["routine", "urgent", "green_channel"];

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
