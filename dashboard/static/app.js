// The staff web app: session, header, hash routing. Pages are modules under pages/; each exports
// `render(ctx)` returning an element and may return a cleanup function through ctx.onLeave.

import { api, whenLoggedOut } from "/static/api.js";
import { h } from "/static/dom.js";
import { lang, setLang, t, term } from "/static/i18n.js";
import * as board from "/static/pages/board.js";
import * as devices from "/static/pages/devices.js";
import * as inbox from "/static/pages/inbox.js";
import * as login from "/static/pages/login.js";
import * as resident from "/static/pages/resident.js";
import * as ward from "/static/pages/ward.js";

// Route name -> [page, permission needed to see it in the navigation, nav label key].
const ROUTES = {
  ward: [ward, "view_ward", "nav.ward"],
  inbox: [inbox, "act_on_alerts", "nav.inbox"],
  board: [board, "view_cases", "nav.board"],
  devices: [devices, "view_devices", "nav.devices"],
  device: [devices, "view_devices", null],
  resident: [resident, null, null],
};
const BADGE_REFRESH_MS = 15_000;

const state = { staff: null, sites: [], site: null, leave: [], badgeTimer: null, expired: false };

function can(permission) {
  return permission == null || state.staff?.permissions.includes(permission);
}

function defaultRoute() {
  for (const name of ["ward", "board", "devices"]) if (can(ROUTES[name][1])) return name;
  return "board";
}

function parseHash() {
  const [name, ...rest] = location.hash.replace(/^#\/?/, "").split("/");
  return { name: name || defaultRoute(), arg: rest.map(decodeURIComponent).join("/") || null };
}

function leave() {
  for (const cleanup of state.leave.splice(0)) cleanup();
}

async function showLogin() {
  leave();
  clearInterval(state.badgeTimer);
  state.staff = null;
  document.getElementById("topbar").hidden = true;
  document.title = t("app.title");
  const view = document.getElementById("view");
  view.replaceChildren(
    login.render({
      expired: state.expired,
      onLoggedIn: async () => {
        state.expired = false;
        await start();
      },
      onLang: () => {
        setLang(lang() === "zh-CN" ? "en" : "zh-CN");
        showLogin();
      },
    }),
  );
}

whenLoggedOut(() => {
  if (state.staff) {
    state.expired = true;
    showLogin();
  }
});

function siteName(siteId) {
  return state.sites.find((s) => s.site_id === siteId)?.name ?? siteId;
}

function renderHeader() {
  const bar = document.getElementById("topbar");
  bar.hidden = false;
  document.getElementById("brand").replaceChildren(h("span", { class: "logo" }, "✚"), t("app.brand"));
  const { name } = parseHash();
  document.getElementById("nav").replaceChildren(
    ...Object.entries(ROUTES)
      .filter(([, [, permission, label]]) => label && can(permission))
      .map(([route, [, , label]]) =>
        h("a", { href: `#/${route}`, class: route === name || (route === "devices" && name === "device") ? "active" : null, "data-testid": `nav-${route}` }, t(label)),
      ),
  );
  const picker = document.getElementById("site-picker");
  const homeSites = state.staff.home_site_ids;
  picker.hidden = homeSites.length < 2;
  picker.replaceChildren(...homeSites.map((id) => h("option", { value: id, selected: id === state.site }, siteName(id))));
  picker.onchange = () => {
    state.site = picker.value;
    route();
  };
  const langButton = document.getElementById("lang-switch");
  langButton.textContent = t("lang.switch");
  langButton.onclick = () => {
    setLang(lang() === "zh-CN" ? "en" : "zh-CN");
    route();
  };
  document.getElementById("whoami").replaceChildren(
    h("strong", {}, state.staff.display_name),
    h("span", { class: "muted" }, ` · ${term("role", state.staff.role)}`),
    state.staff.site_id ? h("span", { class: "muted" }, ` · ${siteName(state.staff.site_id)}`) : null,
  );
  const logout = document.getElementById("logout");
  logout.textContent = t("nav.logout");
  logout.onclick = async () => {
    await api("/api/auth/logout", { method: "POST" }).catch(() => null);
    showLogin();
  };
}

/** The count of open clinical alerts in the header: the alert that matters is never out of view. */
async function refreshBadge() {
  const badge = document.getElementById("alert-badge");
  if (!can("act_on_alerts") || !state.site) {
    badge.hidden = true;
    return;
  }
  try {
    const page = await api("/api/alerts", {
      query: { site_id: state.site, state: "open", channel: "clinical", limit: 1 },
    });
    badge.hidden = false;
    badge.classList.toggle("hot", page.count > 0);
    badge.replaceChildren(h("span", { class: "num", "data-testid": "alert-count" }, String(page.count)), t("header.open_alerts"));
  } catch {
    badge.hidden = true;
  }
}

async function route() {
  if (!state.staff) return;
  leave();
  const { name, arg } = parseHash();
  const entry = ROUTES[name];
  renderHeader();
  document.title = t("app.title");
  const view = document.getElementById("view");
  if (!entry || !can(entry[1])) {
    location.hash = `#/${defaultRoute()}`;
    return;
  }
  const ctx = {
    staff: state.staff,
    site: state.site,
    sites: state.sites,
    siteName,
    can,
    arg,
    onLeave: (cleanup) => state.leave.push(cleanup),
    refreshBadge,
    rerender: route,
  };
  view.replaceChildren(h("p", { class: "muted pad" }, t("common.loading")));
  try {
    const page = await entry[0].render(ctx);
    if (parseHash().name === name) view.replaceChildren(page);
  } catch (error) {
    if (error.status === 401) return;
    view.replaceChildren(h("div", { class: "panel error", "data-testid": "page-error" }, error.status === 404 ? t("common.not_found") : t("common.error", { detail: error.message })));
  }
  refreshBadge();
}

async function start() {
  try {
    state.staff = await api("/api/auth/me");
  } catch {
    showLogin();
    return;
  }
  state.sites = await api("/api/sites").catch(() => []);
  state.site = state.staff.home_site_ids[0] ?? null;
  clearInterval(state.badgeTimer);
  state.badgeTimer = setInterval(refreshBadge, BADGE_REFRESH_MS);
  await route();
}

window.addEventListener("hashchange", route);
start();
