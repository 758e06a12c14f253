// Builds the dashboard into the Python package (proxy/admin/ui_dist/), which the
// gateway serves under /admin/ui/. Everything is bundled: the page loads nothing
// from another origin and has no inline script (SPEC 14).
import { build } from "esbuild";
import { copyFile, mkdir, rm } from "node:fs/promises";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const out = join(here, "..", "proxy", "admin", "ui_dist");

await rm(out, { recursive: true, force: true });
await mkdir(out, { recursive: true });
await build({
  entryPoints: [join(here, "src", "main.js"), join(here, "src", "app.css")],
  bundle: true,
  minify: true,
  format: "esm",
  target: ["es2022"],
  outdir: out,
  entryNames: "[name]",
  legalComments: "linked",
  logLevel: "warning",
});
await copyFile(join(here, "src", "index.html"), join(out, "index.html"));
await copyFile(join(here, "src", "favicon.svg"), join(out, "favicon.svg"));
console.log(`dashboard built into ${out}`);
