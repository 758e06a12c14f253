// The tenant document as a form: one input per field, nested sections for objects
// and lists of objects, a field added by name or removed. Save sends a JSON merge
// patch (RFC 7396) of what changed; the server's invalid_config error is shown
// beside the field its `param` names (`models[1].api_base`), or the nearest section
// that holds it. Keys arrive masked and a masked key sent back keeps the stored one.
import { ApiError, api, tenantPath } from "./api.js";
import { clear, h, status } from "./dom.js";

const OUTPUT_FIELDS = new Set(["tenant_id", "created_at", "updated_at"]);
const NEW_MODEL = () => ({ model_name: "", provider: "mock" });

export function documentEditor(tenantId, tenant, { saved }) {
  let original = editable(tenant);
  let doc = structuredClone(original);
  const form = h("form", { id: "document-form", class: "editor", novalidate: true, on: { submit: save } });
  const message = h("div", { class: "editor-message" });
  const saveButton = h("button", { type: "submit", id: "document-save" }, "Save");

  function render() {
    clear(
      form,
      objectFields(doc, ""),
      addField(doc, ""),
      h("div", { class: "actions" }, saveButton,
        h("button", { type: "button", on: { click: () => { doc = structuredClone(original); render(); } } }, "Discard changes")),
      message,
    );
  }

  function objectFields(obj, path) {
    return Object.keys(obj).map((key) => field(obj, key, join(path, key)));
  }

  function field(parent, key, path) {
    const value = parent[key];
    const remove = removeButton(path, () => {
      if (Array.isArray(parent)) parent.splice(key, 1);
      else delete parent[key];
      render();
    });
    if (Array.isArray(value) && value.some((v) => v && typeof v === "object")) {
      return h("fieldset", { "data-path": path, class: "group" },
        h("legend", {}, String(key), remove),
        value.map((item, i) => field(value, i, `${path}[${i}]`)),
        h("button", { type: "button", class: "add", on: { click: () => { value.push(key === "models" ? NEW_MODEL() : {}); render(); } } },
          key === "models" ? "Add model" : "Add item"));
    }
    if (value && typeof value === "object" && !Array.isArray(value)) {
      const title = value.model_name ? `${key} · ${value.model_name}` : String(key);
      return h("fieldset", { "data-path": path, class: "group" },
        h("legend", {}, title, remove), objectFields(value, path), addField(value, path));
    }
    const id = `field-${path.replace(/[^A-Za-z0-9_-]/g, "_")}`;
    return h("div", { class: "field", "data-path": path },
      h("label", { for: id }, String(key)), input(parent, key, id), remove);
  }

  function input(parent, key, id) {
    const value = parent[key];
    if (typeof value === "boolean") {
      return h("input", { id, type: "checkbox", checked: value, on: { change: (e) => { parent[key] = e.target.checked; } } });
    }
    if (typeof value === "number") {
      return h("input", { id, type: "number", step: "any", value: String(value),
        on: { input: (e) => { parent[key] = e.target.value === "" ? null : Number(e.target.value); } } });
    }
    if (Array.isArray(value)) {
      const numbers = value.length > 0 && value.every((v) => typeof v === "number");
      return h("input", { id, type: "text", value: value.join(", "), "aria-description": "comma-separated",
        on: { input: (e) => { parent[key] = splitList(e.target.value, numbers); } } });
    }
    const secret = key === "api_key";
    return h("input", { id, type: "text", value: value ?? "", autocomplete: "off", spellcheck: !secret,
      on: { input: (e) => { parent[key] = e.target.value; } } });
  }

  function addField(obj, path) {
    const name = h("input", { type: "text", placeholder: "field", "aria-label": `New field in ${path || "the document"}` });
    const value = h("input", { type: "text", placeholder: "value (JSON or text)", "aria-label": "Its value" });
    return h("div", { class: "add-field" }, name, value, h("button", { type: "button", on: { click: () => {
      const key = name.value.trim();
      if (!key) { name.focus(); return; }
      obj[key] = parseValue(value.value);
      render();
    } } }, "Add field"));
  }

  async function save(event) {
    event.preventDefault();
    clearErrors();
    saveButton.disabled = true;
    message.replaceChildren(status("Saving…"));
    try {
      const updated = await api("PATCH", tenantPath(tenantId), mergePatch(original, doc));
      original = editable(updated);
      doc = structuredClone(original);
      render();
      message.replaceChildren(status("Saved.", "ok"));
      saved(updated);
    } catch (e) {
      message.replaceChildren();
      showError(e);
    } finally {
      saveButton.disabled = false;
    }
  }

  function showError(e) {
    const where = e instanceof ApiError && e.status === 400 ? placeFor(e.param) : null;
    const note = h("p", { class: "field-error", role: "alert", id: "document-error" }, e.message);
    if (!where) {
      message.replaceChildren(note);
      return;
    }
    const control = where.matches("fieldset") ? null : where.querySelector("input");
    if (control) {
      control.setAttribute("aria-invalid", "true");
      control.setAttribute("aria-describedby", "document-error");
    }
    where.classList.add("invalid");
    where.append(note);
    (control || where.querySelector("input, button"))?.focus();
  }

  function placeFor(param) {
    // The field itself, else the nearest enclosing section shown, else the form's end.
    for (let path = param || ""; path; path = parentPath(path)) {
      const el = form.querySelector(`[data-path="${CSS.escape(path)}"]`);
      if (el) return el;
    }
    return null;
  }

  function clearErrors() {
    for (const el of form.querySelectorAll(".field-error")) el.remove();
    for (const el of form.querySelectorAll(".invalid")) el.classList.remove("invalid");
    for (const el of form.querySelectorAll("[aria-invalid]")) {
      el.removeAttribute("aria-invalid");
      el.removeAttribute("aria-describedby");
    }
  }

  render();
  return h("section", { class: "card", "aria-labelledby": "document-title" },
    h("h2", { id: "document-title" }, "Document"),
    h("p", { class: "hint" }, "Keys are shown masked; a masked key saved back keeps the stored key."),
    form);
}

function editable(tenant) {
  return Object.fromEntries(Object.entries(tenant).filter(([k]) => !OUTPUT_FIELDS.has(k)));
}

function removeButton(path, remove) {
  return h("button", { type: "button", class: "remove", "aria-label": `Remove ${path}`, title: `Remove ${path}`, on: { click: remove } }, "×");
}

function join(path, key) {
  return path ? `${path}.${key}` : String(key);
}

function parentPath(path) {
  const cut = Math.max(path.lastIndexOf("."), path.lastIndexOf("["));
  return cut > 0 ? path.slice(0, cut) : "";
}

function splitList(text, numbers) {
  const items = text.split(",").map((s) => s.trim()).filter(Boolean);
  return numbers ? items.map((s) => (Number.isNaN(Number(s)) ? s : Number(s))) : items;
}

function parseValue(text) {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

// RFC 7396: what changed; removed members as null, lists replaced whole.
export function mergePatch(before, after) {
  const patch = {};
  for (const key of Object.keys(before)) {
    if (!(key in after) || after[key] === null) patch[key] = null;
  }
  for (const [key, value] of Object.entries(after)) {
    if (value === null) continue;
    const old = before[key];
    if (isObject(old) && isObject(value)) {
      const inner = mergePatch(old, value);
      if (Object.keys(inner).length) patch[key] = inner;
    } else if (JSON.stringify(old) !== JSON.stringify(value)) {
      patch[key] = value;
    }
  }
  return patch;
}

function isObject(v) {
  return v !== null && typeof v === "object" && !Array.isArray(v);
}
