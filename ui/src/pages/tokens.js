// A tenant's proxy tokens: the list (never a secret), mint (the token shown once,
// with a copy button) and revoke.
import { api, tenantPath } from "../api.js";
import { clear, formatTime, h, status } from "../dom.js";

const TTLS = [["1 hour", 3600], ["1 day", 86400], ["7 days", 7 * 86400], ["30 days", 30 * 86400]];

export function tokensSection(id) {
  const list = h("div", { class: "table-wrap" }, status("Loading tokens…"));
  const minted = h("div", { id: "minted", "aria-live": "polite" });
  const name = h("input", { id: "token-name", type: "text", maxlength: 100, autocomplete: "off" });
  const ttl = h("select", { id: "token-ttl" }, TTLS.map(([label, s]) => h("option", { value: s, selected: s === 86400 }, label)));
  const form = h("form", { class: "mint", on: { submit: mint } },
    h("label", { for: "token-name" }, "Name"), name,
    h("label", { for: "token-ttl" }, "Valid for"), ttl,
    h("button", { type: "submit", id: "mint-token" }, "Mint token"));

  async function refresh() {
    try {
      const page = await api("GET", tenantPath(id, "/tokens?limit=1000"));
      clear(list, table(page.data));
    } catch (e) {
      clear(list, status(`Could not load the tokens: ${e.message}`, "error"));
    }
  }

  async function mint(event) {
    event.preventDefault();
    try {
      const body = { ttl_s: Number(ttl.value), ...(name.value.trim() ? { name: name.value.trim() } : {}) };
      const token = await api("POST", tenantPath(id, "/tokens"), body);
      clear(minted, shownOnce(token));
      name.value = "";
      minted.querySelector("input").focus();
      await refresh();
    } catch (e) {
      clear(minted, status(`Could not mint a token: ${e.message}`, "error"));
    }
  }

  function table(tokens) {
    if (tokens.length === 0) return status("No tokens.");
    return h("table", { id: "tokens-table" },
      h("thead", {}, h("tr", {}, ["Name", "Token id", "Expires", "Revoked", ""].map((c) => h("th", { scope: "col" }, c)))),
      h("tbody", {}, tokens.map((t) => h("tr", { "data-token": t.token_id },
        h("td", {}, t.name || "—"),
        h("td", {}, h("code", {}, t.token_id)),
        h("td", {}, formatTime(t.expires_at)),
        h("td", {}, t.revoked_at ? formatTime(t.revoked_at) : "—"),
        h("td", {}, t.revoked_at ? "" : h("button", { type: "button", class: "danger", "aria-label": `Revoke ${t.name || t.token_id}`,
          on: { click: (e) => revoke(t, e.currentTarget) } }, "Revoke"))))));
  }

  async function revoke(token, button) {
    if (!window.confirm(`Revoke the token ${token.name || token.token_id}? Requests with it are refused at once.`)) return;
    button.disabled = true;
    try {
      await api("DELETE", tenantPath(id, `/tokens/${encodeURIComponent(token.token_id)}`));
      clear(minted, status(`Revoked ${token.name || token.token_id}.`, "ok"));
      await refresh();
    } catch (e) {
      button.disabled = false;
      clear(minted, status(`Could not revoke: ${e.message}`, "error"));
    }
  }

  refresh();
  return h("section", { class: "card", "aria-labelledby": "tokens-title" },
    h("h2", { id: "tokens-title" }, "Proxy tokens"), form, minted, list);
}

function shownOnce(token) {
  const field = h("input", { id: "minted-token", type: "text", readonly: true, value: token.token, "aria-label": "The new token", spellcheck: false });
  const note = h("span", { class: "copy-note", role: "status" });
  const copy = h("button", { type: "button", id: "copy-token", on: { click: async () => {
    field.select();
    try {
      await navigator.clipboard.writeText(token.token);
      note.textContent = "Copied.";
    } catch {
      note.textContent = "Selected: press Ctrl+C to copy.";
    }
  } } }, "Copy");
  return h("div", { class: "once" },
    h("p", {}, h("strong", {}, "Copy this token now: it is shown only once. "), `Expires ${formatTime(token.expires_at)}.`),
    h("div", { class: "copy-row" }, field, copy), note);
}
