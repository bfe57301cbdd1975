// A tiny element builder: text always goes in as text (never HTML), so record contents cannot
// inject markup.

/** h("div", {class: "x", onclick: fn}, child, "text", [more]) */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs ?? {})) {
    if (value == null || value === false) continue;
    if (name.startsWith("on") && typeof value === "function") {
      el.addEventListener(name.slice(2), value);
    } else if (name === "dataset") {
      Object.assign(el.dataset, value);
    } else if (value === true) {
      el.setAttribute(name, "");
    } else {
      el.setAttribute(name, String(value));
    }
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children) {
    if (child == null || child === false) continue;
    if (Array.isArray(child)) append(el, child);
    else el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

/** A modal form: resolves with the form's values, or null when cancelled. */
export function dialog({ title, fields, submit, cancel, hint, testid }) {
  return new Promise((resolve) => {
    const form = h(
      "form",
      { method: "dialog", class: "dialog-form" },
      h("h2", {}, title),
      hint ? h("p", { class: "hint" }, hint) : null,
      fields,
      h(
        "div",
        { class: "dialog-actions" },
        h("button", { type: "button", class: "btn ghost", value: "cancel", onclick: () => close(null) }, cancel),
        h("button", { type: "submit", class: "btn primary", "data-testid": "dialog-submit" }, submit),
      ),
    );
    const box = h("dialog", { class: "modal", "data-testid": testid ?? "dialog" }, form);
    function close(value) {
      box.close();
      box.remove();
      resolve(value);
    }
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      if (!form.reportValidity()) return;
      close(Object.fromEntries(new FormData(form).entries()));
    });
    box.addEventListener("cancel", () => close(null));
    document.body.append(box);
    box.showModal();
  });
}

export function field(label, control) {
  return h("label", { class: "field" }, h("span", {}, label), control);
}

export function toast(message, kind = "info") {
  const el = h("div", { class: `toast ${kind}`, role: "status" }, message);
  document.getElementById("toasts").append(el);
  setTimeout(() => el.remove(), 4000);
}

/** The device/signal icon (an antenna with waves), drawn as SVG so it needs no emoji font. */
export function signalIcon() {
  const ns = "http://www.w3.org/2000/svg";
  const svg = document.createElementNS(ns, "svg");
  svg.setAttribute("viewBox", "0 0 24 24");
  svg.setAttribute("class", "signal-icon");
  svg.setAttribute("aria-hidden", "true");
  for (const d of ["M12 13v8", "M8.5 9.5a5 5 0 0 1 7 0", "M5.5 6.5a9 9 0 0 1 13 0", "M10.8 12.2a1.7 1.7 0 0 1 2.4 0"]) {
    const path = document.createElementNS(ns, "path");
    path.setAttribute("d", d);
    svg.append(path);
  }
  return svg;
}
