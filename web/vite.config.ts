// The console's bundle. control-plane/build.rs runs `npm run build` with
// ORRERY_CONSOLE_OUT_DIR set to a directory under Cargo's OUT_DIR and embeds
// what lands there; without it (a manual build) the output is web/dist.
import { defineConfig } from "vite";

// Node's, declared here rather than pulling in @types/node for one line.
declare const process: { env: Record<string, string | undefined> };

const outDir = process.env.ORRERY_CONSOLE_OUT_DIR ?? "dist";

export default defineConfig({
  base: "/",
  build: {
    outDir,
    emptyOutDir: true,
    assetsDir: "assets",
    // Served under a CSP without 'unsafe-inline': nothing may be inlined
    // into index.html, and small assets stay files rather than data: URLs.
    assetsInlineLimit: 0,
    modulePreload: { polyfill: false },
    sourcemap: false,
    reportCompressedSize: false,
  },
  server: {
    // `npm run dev` against `orrery dev` on its default address.
    proxy: { "/api": "http://127.0.0.1:8233" },
  },
});
