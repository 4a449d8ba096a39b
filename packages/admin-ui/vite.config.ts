import { fileURLToPath } from 'node:url'
import react from '@vitejs/plugin-react'
import { defineConfig } from 'vite'

const sdk = fileURLToPath(new URL('../sdk-js/src/index.ts', import.meta.url))
const protocol = fileURLToPath(new URL('../protocol/src/index.ts', import.meta.url))
/** Where `pnpm dev` sends API and realtime calls: a server started with `pnpm start` (or BASTIDE_URL). */
const target = process.env.BASTIDE_URL ?? 'http://localhost:8787'
/**
 * The server accepts sign-ins from its own origin only (BASTIDE_PUBLIC_URL): requests the dev server forwards
 * carry the server's origin instead of Vite's.
 */
const asServer = (proxy: {
  on(event: string, fn: (req: { setHeader(k: string, v: string): void }) => void): void
}) => {
  const origin = new URL(target).origin
  proxy.on('proxyReq', (req) => req.setHeader('origin', origin))
  proxy.on('proxyReqWs', (req) => req.setHeader('origin', origin))
}

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
      '/api': { target, configure: asServer },
      '/realtime': { target, ws: true, configure: asServer },
    },
  },
})
