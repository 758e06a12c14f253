// Sign in: the admin key is checked against the gateway, then kept in this tab's
// sessionStorage only (it goes when the tab closes) and sent as a Bearer token.
import { ApiError, api, session } from "../api.js";
import { h, status } from "../dom.js";

export function signInPage({ done }) {
  const note = sessionStorage.getItem("tenant-proxy.signin-note");
  sessionStorage.removeItem("tenant-proxy.signin-note");
  const message = h("div", { id: "signin-message" }, note ? status(note, "error") : null);
  const input = h("input", {
    id: "admin-key",
    type: "password",
    name: "admin-key",
    autocomplete: "off",
    required: true,
    autofocus: true,
    "aria-describedby": "signin-message",
  });
  const button = h("button", { type: "submit" }, "Sign in");
  const form = h(
    "form",
    { class: "card signin", on: { submit: (e) => submit(e) } },
    h("h1", {}, "Sign in"),
    h("p", {}, "The dashboard calls the management API with the gateway's admin key "
      + "(PROXY_ADMIN_KEY). It is kept in this tab only."),
    h("label", { for: "admin-key" }, "Admin key"),
    input,
    button,
    message,
  );

  async function submit(event) {
    event.preventDefault();
    const key = input.value.trim();
    if (!key) return;
    button.disabled = true;
    message.replaceChildren(status("Checking the key…"));
    try {
      await api("GET", "tenants?limit=1", undefined, { key });
      session.signIn(key);
      done();
    } catch (e) {
      const text = e instanceof ApiError && e.status === 401
        ? "Wrong admin key: the gateway refused it."
        : `The gateway could not be asked: ${e.message}`;
      message.replaceChildren(status(text, "error"));
      input.select();
    } finally {
      button.disabled = false;
    }
  }
  return form;
}
