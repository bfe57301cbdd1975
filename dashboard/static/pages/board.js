// The consult and referral board, for both sides: what our site sent, and what was addressed to
// it. The site a referral is addressed to accepts, rejects, starts and completes it: the hospital
// for referrals up (and refers the resident back down with a rehabilitation plan), the care home
// for back-referrals down. Each referral shows its direction (↑ up, ↓ back down). Deadlines at
// risk are highlighted; the green channel stands out.

import { backRefer } from "/static/actions.js";
import { api, apiAll } from "/static/api.js";
import { dialog, field, h, toast } from "/static/dom.js";
import { formatAgo, formatDateTime, formatNumber, t, term } from "/static/i18n.js";

const REFRESH_MS = 15_000;
const OPEN = new Set(["draft", "requested", "accepted", "in-progress"]);
const ADVICE_ACTIONS = ["keep_monitoring", "change_thresholds", "start_referral"];

function deadlineCell(deadline, status, risks, key) {
  if (!deadline) return h("td", {}, "—");
  const risk = OPEN.has(status) ? risks.get(key) ?? (new Date(deadline) < new Date() ? "overdue" : "ok") : "ok";
  return h(
    "td",
    { class: `deadline ${risk}`, "data-risk": risk },
    formatDateTime(deadline),
    risk !== "ok" ? h("span", { class: `risk-flag ${risk}` }, risk === "overdue" ? t("board.overdue") : t("board.at_risk")) : null,
    OPEN.has(status) ? h("span", { class: "muted" }, ` · ${formatAgo(deadline)}`) : null,
  );
}

async function act(promise, what, reload) {
  try {
    await promise;
    toast(t("inbox.done", { what }), "ok");
    reload();
  } catch (error) {
    if (error.status !== 401) toast(t("common.error", { detail: error.message }), "error");
  }
}

async function askReason(title) {
  const values = await dialog({
    title,
    fields: [field(t("common.reason"), h("textarea", { name: "reason", rows: 3, required: true, "data-testid": "input-reason" }))],
    submit: t("common.send"),
    cancel: t("common.cancel"),
    testid: "reason-dialog",
  });
  return values?.reason ?? null;
}

function referralActions(r, incoming, ctx, reload) {
  const status = (to, reason = null) => api(`/api/referrals/${r.referral_id}/status`, { method: "POST", body: reason ? { status: to, reason } : { status: to } });
  const button = (testid, label, onclick, kind = "btn") => h("button", { class: kind, "data-testid": testid, onclick }, label);
  const buttons = [];
  if (incoming && ctx.can("answer_cases")) {
    if (r.status === "requested") {
      buttons.push(button("referral-accept", t("board.accept"), () => act(status("accepted"), t("board.accept"), reload), "btn primary"));
      buttons.push(button("referral-reject", t("board.reject"), async () => { const reason = await askReason(t("board.reject.title")); if (reason) act(status("rejected", reason), t("board.reject"), reload); }));
    }
    if (r.status === "accepted") buttons.push(button("referral-start", t("board.start"), () => act(status("in-progress"), t("board.start"), reload)));
    // A referral up ends with the resident referred back down (which completes it); a
    // back-referral is completed once the care home has taken the resident back.
    if (r.direction === "up" && (r.status === "accepted" || r.status === "in-progress")) {
      buttons.push(button("referral-back", t("board.back_refer"), async () => (await backRefer(r.referral_id)) && reload(), "btn primary"));
    } else if (r.status === "in-progress") {
      buttons.push(button("referral-complete", t("board.complete"), () => act(status("completed"), t("board.complete"), reload)));
    }
  }
  if (incoming && !ctx.can("answer_cases") && r.status === "requested") {
    buttons.push(h("span", { class: "muted", "data-testid": "needs-answerer" }, t("board.needs_answerer")));
  }
  // The referring side withdraws: the home site for a referral up, the hospital for one down.
  const withdraws = r.direction === "up" ? "request_referral" : "answer_cases";
  if (!incoming && ctx.can(withdraws) && (r.status === "requested" || r.status === "draft")) {
    buttons.push(button("referral-cancel", t("board.cancel"), async () => { const reason = await askReason(t("board.cancel")); if (reason) act(status("cancelled", reason), t("board.cancel"), reload); }, "btn ghost"));
  }
  return h("div", { class: "actions" }, buttons);
}

/** A back-referral's rehabilitation plan: goals, instructions, a raised tier, threshold changes. */
function planDetails(plan) {
  if (!plan) return null;
  const lines = [];
  if (plan.goals?.length) lines.push(h("div", {}, `${t("board.plan.goals")}: `, plan.goals.join(" · ")));
  if (plan.instructions) lines.push(h("div", {}, `${t("board.plan.instructions")}: `, plan.instructions));
  if (plan.raise_risk_tier_to) lines.push(h("div", {}, t("board.plan.tier", { tier: term("risk", plan.raise_risk_tier_to), days: formatNumber(plan.risk_period_days) })));
  const thresholds = Object.entries(plan.thresholds ?? {});
  if (thresholds.length) lines.push(h("div", {}, t("board.plan.thresholds", { values: thresholds.map(([k, v]) => `${k} = ${formatNumber(v, 2)}`).join(", "), days: formatNumber(plan.thresholds_period_days) })));
  return lines.length ? h("div", { class: "plan", "data-testid": "rehab-plan" }, h("strong", {}, t("board.plan")), lines) : null;
}

function consultActions(c, incoming, ctx, reload) {
  const buttons = [];
  if (incoming && ctx.can("answer_cases") && OPEN.has(c.status)) {
    if (c.status === "requested") {
      buttons.push(h("button", { class: "btn", "data-testid": "consult-accept", onclick: () => act(api(`/api/consults/${c.consult_id}/status`, { method: "POST", body: { status: "accepted" } }), t("board.accept"), reload) }, t("board.accept")));
    }
    buttons.push(
      h("button", {
        class: "btn primary",
        "data-testid": "consult-reply",
        onclick: async () => {
          const values = await dialog({
            title: t("board.reply.title"),
            fields: [
              field(t("board.reply.action"), h("select", { name: "action" }, ADVICE_ACTIONS.map((a) => h("option", { value: a }, term("action", a))))),
              field(t("board.reply.advice"), h("textarea", { name: "advice", rows: 4, required: true })),
            ],
            submit: t("common.send"),
            cancel: t("common.cancel"),
            testid: "reply-dialog",
          });
          if (values) act(api(`/api/consults/${c.consult_id}/reply`, { method: "POST", body: { advice: values.advice, action: values.action } }), t("board.reply"), reload);
        },
      }, t("board.reply")),
    );
  }
  return h("div", { class: "actions" }, buttons);
}

function who(id, ctx, link) {
  return link ? h("a", { href: `#/resident/${encodeURIComponent(id)}` }, id) : id;
}

function referralTable(rows, incoming, ctx, risks, reload) {
  if (!rows.length) return h("p", { class: "muted pad" }, t("common.empty"));
  return h(
    "table",
    { class: "table" },
    h("thead", {}, h("tr", {}, [t("board.direction"), t("board.priority"), t("board.resident"), incoming ? t("board.from") : t("board.to"), t("board.reason"), t("board.status"), t("board.deadline"), ""].map((c) => h("th", {}, c)))),
    h("tbody", {}, rows.map((r) =>
      h(
        "tr",
        { class: `prio-${r.priority} status-${r.status} dir-${r.direction}`, "data-testid": "referral-row", "data-referral": r.referral_id, "data-priority": r.priority, "data-direction": r.direction, "data-resident": r.resident_id },
        h("td", {}, h("span", { class: `dir-chip ${r.direction}`, "data-testid": "referral-direction" }, term("direction", r.direction))),
        h("td", {}, h("span", { class: `prio-chip ${r.priority}` }, r.priority === "green_channel" ? "⚡ " : "", term("priority", r.priority))),
        h("td", {}, who(r.resident_id, ctx, true)),
        h("td", {}, ctx.siteName(incoming ? r.from_site_id : r.to_site_id)),
        h("td", { class: "clip" }, r.reason, planDetails(r.rehab_plan), h("div", { class: "muted" }, t("board.by", { who: r.requested_by, time: formatDateTime(r.requested_at) }))),
        h("td", { "data-testid": "referral-status" }, h("span", { class: `status-chip ${r.status}` }, term("task", r.status))),
        deadlineCell(r.accept_by, r.status, risks, `referral:${r.referral_id}`),
        h("td", {}, referralActions(r, incoming, ctx, reload)),
      ),
    )),
  );
}

function consultTable(rows, incoming, ctx, risks, reload) {
  if (!rows.length) return h("p", { class: "muted pad" }, t("common.empty"));
  return h(
    "table",
    { class: "table" },
    h("thead", {}, h("tr", {}, [t("consult.urgency"), t("board.resident"), incoming ? t("board.from") : t("board.to"), t("board.question"), t("board.status"), t("board.deadline"), ""].map((c) => h("th", {}, c)))),
    h("tbody", {}, rows.map((c) =>
      h(
        "tr",
        { class: `urg-${c.urgency} status-${c.status}`, "data-testid": "consult-row", "data-consult": c.consult_id, "data-resident": c.resident_id },
        h("td", {}, h("span", { class: `prio-chip ${c.urgency}` }, term("urgency", c.urgency))),
        h("td", {}, who(c.resident_id, ctx, true)),
        h("td", {}, ctx.siteName(incoming ? c.requesting_site_id : c.target_site_id)),
        h("td", { class: "clip" }, c.question, c.advice ? h("div", { class: "advice" }, `${t("board.advice")}: ${c.advice}`) : null, h("div", { class: "muted" }, t("board.by", { who: c.requested_by, time: formatDateTime(c.requested_at) }))),
        h("td", {}, h("span", { class: `status-chip ${c.status}` }, term("task", c.status))),
        deadlineCell(c.respond_by, c.status, risks, `consult:${c.consult_id}`),
        h("td", {}, consultActions(c, incoming, ctx, reload)),
      ),
    )),
  );
}

/** Referrals and consults first by priority (green channel first), then soonest deadline. */
const PRIORITY_RANK = { green_channel: 0, emergency: 0, urgent: 1, routine: 2 };
function byUrgency(a, b) {
  const pa = PRIORITY_RANK[a.priority ?? a.urgency], pb = PRIORITY_RANK[b.priority ?? b.urgency];
  const da = a.accept_by ?? a.respond_by ?? "", db = b.accept_by ?? b.respond_by ?? "";
  return (OPEN.has(a.status) ? 0 : 1) - (OPEN.has(b.status) ? 0 : 1) || pa - pb || da.localeCompare(db);
}

export async function render(ctx) {
  const container = h("section", { class: "board", "data-testid": "board" });
  const ours = new Set(ctx.staff.site_id ? [ctx.staff.site_id] : ctx.staff.case_site_ids);
  async function load() {
    const [referrals, consults, view] = await Promise.all([
      apiAll("/api/referrals"),
      apiAll("/api/consults"),
      api("/api/network/view").catch(() => null),
    ]);
    const risks = new Map((view?.at_risk ?? []).map((d) => [`${d.kind}:${d.item_id}`, d.risk]));
    const reload = () => load();
    const section = (incoming) => {
      const refs = referrals.filter((r) => ours.has(incoming ? r.to_site_id : r.from_site_id)).sort(byUrgency);
      const cons = consults.filter((c) => ours.has(incoming ? c.target_site_id : c.requesting_site_id)).sort(byUrgency);
      return h(
        "section",
        { class: "panel wide", "data-testid": incoming ? "board-received" : "board-sent" },
        h("h2", {}, incoming ? t("board.received") : t("board.sent")),
        h("h3", {}, t("board.referrals"), h("span", { class: "count" }, String(refs.length))),
        referralTable(refs, incoming, ctx, risks, reload),
        h("h3", {}, t("board.consults"), h("span", { class: "count" }, String(cons.length))),
        consultTable(cons, incoming, ctx, risks, reload),
      );
    };
    // The hospital side reads what came in first; a care home what it sent.
    const receivesFirst = ctx.can("answer_cases") && !ctx.can("view_ward");
    container.replaceChildren(
      h("div", { class: "page-head" }, h("h1", {}, t("board.title")), h("span", { class: "muted" }, [...ours].map(ctx.siteName).join(" · "))),
      ...(receivesFirst ? [section(true), section(false)] : [section(false), section(true)]),
    );
  }
  await load();
  const timer = setInterval(() => {
    if (!document.querySelector("dialog[open]")) load().catch(() => null);
  }, REFRESH_MS);
  ctx.onLeave(() => clearInterval(timer));
  return container;
}
