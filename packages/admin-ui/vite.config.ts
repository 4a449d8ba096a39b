import { fileURLToPath } from 'node:url'
import react from '@vitejs/plugin-react'
import { defineConfig } from 'vite'

const sdk = fileURLToPath(new URL('../sdk-js/src/index.ts', import.meta.url))
const protocol = fileURLToPath(new URL('../protocol/src/index.ts', import.meta.url))
/** Where `pnpm dev` sends API and realtime calls: a server started with `pnpm start` (or BASTIDE_URL). */
const target = process.env.BASTIDE_URL ?? 'http://127.0.0.1:8787'

export default defineConfig({
  // The server serves the build at /_/ (modules/console-app).
  base: '/_/',
  plugins: [react()],
  resolve: {
    alias: [
      { find: /^@bastide\/sdk$/, replacement: sdk },
      { find: /^@bastide\/protocol$/, replacement: protocol },
    ],
  },
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    // The server sets a strict CSP (no inline script): nothing may be inlined as a data: URL script.
    assetsInlineLimit: 0,
    chunkSizeWarningLimit: 600,
    reportCompressedSize: true,
  },
  server: {
    port: 5173,
    proxy: {
      '/api': { target, changeOrigin: false },
      '/realtime': { target, ws: true },
    },
  },
})
