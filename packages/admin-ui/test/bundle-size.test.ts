import fs from 'node:fs'
import path from 'node:path'
import { gzipSync } from 'node:zlib'
import { expect, inject, it } from 'vitest'

/** Issue 13's budget: what a first visit downloads before the console can draw, gzipped. */
const BUDGET_GZIP = 300 * 1024

it('keeps the initial JavaScript and CSS within 300 KB gzipped, and inlines no script', () => {
  const dir = inject('consoleDir')
  const html = fs.readFileSync(path.join(dir, 'index.html'), 'utf8')
  // The entry, the chunks it preloads, and the stylesheet: lazily loaded pages are not part of the first load.
  const files = [...html.matchAll(/(?:src|href)="\/_\/(assets\/[^"]+\.(?:js|css))"/g)].map((m) => m[1]!)
  expect(files.some((f) => f.endsWith('.js'))).toBe(true)
  const sizes = files.map((f) => ({
    f,
    gz: gzipSync(fs.readFileSync(path.join(dir, f)), { level: 9 }).length,
  }))
  const total = sizes.reduce((n, s) => n + s.gz, 0)
  console.log(
    `[bundle] initial load ${(total / 1024).toFixed(1)} KB gzipped: ${sizes.map((s) => `${s.f} ${(s.gz / 1024).toFixed(1)} KB`).join(', ')}`,
  )
  expect(total).toBeLessThanOrEqual(BUDGET_GZIP)
  // The CSP allows no inline script: the page must not need one.
  expect(html).not.toMatch(/<script(?![^>]*\bsrc=)[^>]*>/)
})
