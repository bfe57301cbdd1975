// The login screen: POST /api/auth/login sets the HttpOnly session cookie; the token in the
// answer is not kept by the page.

import { api } from "/static/api.js";
import { h } from "/static/dom.js";
import { t } from "/static/i18n.js";

export function render({ expired, onLoggedIn, onLang }) {
  const message = h("p", { class: "login-error", role: "alert", "data-testid": "login-error" }, expired ? t("login.expired") : "");
  const username = h("input", { name: "username", autocomplete: "username", required: true, autofocus: true, "data-testid": "login-username" });
  const password = h("input", { name: "password", type: "password", autocomplete: "current-password", required: true, "data-testid": "login-password" });
  const form = h(
    "form",
    { class: "login-card", "data-testid": "login-form" },
    h("div", { class: "login-brand" }, h("span", { class: "logo big" }, "✚"), h("h1", {}, t("app.title"))),
    h("p", { class: "muted" }, t("login.subtitle")),
    h("label", { class: "field" }, h("span", {}, t("login.username")), username),
    h("label", { class: "field" }, h("span", {}, t("login.password")), password),
    message,
    h("button", { type: "submit", class: "btn primary wide", "data-testid": "login-submit" }, t("login.submit")),
    h("button", { type: "button", class: "btn ghost wide", onclick: onLang, "data-testid": "login-lang-switch" }, t("lang.switch")),
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    message.textContent = "";
    try {
      await api("/api/auth/login", {
        method: "POST",
        body: { username: username.value, password: password.value },
      });
      await onLoggedIn();
    } catch (error) {
      message.textContent = t("login.failed", { detail: error.message });
    }
  });
  return h("div", { class: "login-page" }, form);
}
