// The dashboard's router: #/signin, #/tenants, #/tenants/<id>, #/overview.
import { session, whenUnauthorized } from "./api.js";
import { clear } from "./dom.js";
import { overviewPage } from "./pages/overview.js";
import { signInPage } from "./pages/signin.js";
import { tenantPage } from "./pages/tenant.js";
import { tenantsPage } from "./pages/tenants.js";

const main = document.getElementById("main");
const nav = document.getElementById("nav");
let leave = () => {}; // stops the current page's timers

function route() {
  leave();
  leave = () => {};
  const [path, search = ""] = window.location.hash.replace(/^#/, "").split("?");
  const params = new URLSearchParams(search);
  const signedIn = session.key() !== null;
  nav.hidden = !signedIn;
  if (!signedIn || path === "/signin") {
    show("Sign in", signInPage({ done: () => go("#/tenants") }));
    return;
  }
  const tenant = path.match(/^\/tenants\/(.+)$/);
  if (tenant) {
    const id = decodeURIComponent(tenant[1]);
    show(id, tenantPage(id, params));
  } else if (path === "/overview") {
    const page = overviewPage();
    leave = page.stop;
    show("Overview", page.el);
  } else {
    show("Tenants", tenantsPage(params));
  }
  for (const link of nav.querySelectorAll("a")) {
    const current = path.startsWith(link.getAttribute("href").slice(1));
    if (current) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
}

function show(title, el) {
  document.title = `${title} · tenant-proxy`;
  clear(main, el);
  (main.querySelector("[autofocus]") || main).focus({ preventScroll: true });
}

export function go(hash) {
  if (window.location.hash === hash) route();
  else window.location.hash = hash;
}

whenUnauthorized(() => {
  session.signOut();
  sessionStorage.setItem("tenant-proxy.signin-note", "The admin key was refused: sign in again.");
  go("#/signin");
});

document.getElementById("signout").addEventListener("click", () => {
  session.signOut();
  go("#/signin");
});
window.addEventListener("hashchange", route);
route();
