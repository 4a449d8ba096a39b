import { createHash } from 'node:crypto'
import fs from 'node:fs'
import path from 'node:path'
import { brotliCompressSync, gzipSync } from 'node:zlib'
import { Hono } from 'hono'
import type { AppEnv } from '../context.ts'

const TYPES: Readonly<Record<string, string>> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.woff2': 'font/woff2',
  '.txt': 'text/plain; charset=utf-8',
  '.map': 'application/json',
}

/**
 * The console's own policy, stricter than the API's default: no inline script or style, no eval, nothing from
 * another origin. Realtime is same-origin (socket.io at /realtime); previews of stored files are blob: URLs.
 */
export const CONSOLE_CSP = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data: blob:",
  "media-src 'self' blob:",
  "connect-src 'self'",
  "font-src 'self'",
  "object-src 'none'",
  "base-uri 'self'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ')

interface Asset {
  readonly type: string
  readonly body: Buffer
  readonly gzip: Buffer | undefined
  readonly br: Buffer | undefined
  readonly etag: string
  /** Vite's hashed file names never change content: cached for a year. */
  readonly immutable: boolean
}

/** Reads a built console (Vite's dist/) into memory, compressed once: a few hundred KB. */
export function loadConsoleAssets(dir: string): Map<string, Asset> | undefined {
  if (!fs.existsSync(path.join(dir, 'index.html'))) return undefined
  const assets = new Map<string, Asset>()
  for (const e of fs.readdirSync(dir, { recursive: true, withFileTypes: true })) {
    if (!e.isFile()) continue
    const file = path.join(e.parentPath, e.name)
    const rel = path.relative(dir, file).split(path.sep).join('/')
    const body = fs.readFileSync(file)
    const type = TYPES[path.extname(e.name).toLowerCase()] ?? 'application/octet-stream'
    const compressible = /^(text\/|application\/json|image\/svg)/.test(type) && body.length > 1024
    assets.set(rel, {
      type,
      body,
      gzip: compressible ? gzipSync(body, { level: 9 }) : undefined,
      br: compressible ? brotliCompressSync(body) : undefined,
      etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 27)}"`,
      immutable: rel.startsWith('assets/'),
    })
  }
  return assets
}

/**
 * GET /_/*: the built console. Files by path; any other path without a file extension is a page of the app
 * (index.html, the router takes it from there); a missing file is a 404.
 */
export function consoleAppRoutes(assets: Map<string, Asset>) {
  const r = new Hono<AppEnv>()
  r.get('/*', (c) => {
    const rel = decodeURIComponent(c.req.path.replace(/^\/_\/?/, ''))
    let asset = rel === '' ? assets.get('index.html') : assets.get(rel)
    if (!asset && !/\.[a-z0-9]+$/i.test(rel)) asset = assets.get('index.html')
    if (!asset)
      return c.json({ code: 'NOT_FOUND', message: 'No such file in the console.', status: 404 }, 404)
    c.header('Content-Security-Policy', CONSOLE_CSP)
    c.header('Cache-Control', asset.immutable ? 'public, max-age=31536000, immutable' : 'no-cache')
    c.header('ETag', asset.etag)
    c.header('Vary', 'Accept-Encoding')
    if (c.req.header('if-none-match') === asset.etag) return c.body(null, 304)
    c.header('Content-Type', asset.type)
    const accept = c.req.header('accept-encoding') ?? ''
    if (asset.br && /\bbr\b/.test(accept)) {
      c.header('Content-Encoding', 'br')
      return c.body(new Uint8Array(asset.br))
    }
    if (asset.gzip && /\bgzip\b/.test(accept)) {
      c.header('Content-Encoding', 'gzip')
      return c.body(new Uint8Array(asset.gzip))
    }
    return c.body(new Uint8Array(asset.body))
  })
  return r
}
