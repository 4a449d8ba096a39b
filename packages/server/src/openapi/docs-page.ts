/**
 * The interactive reference at /api/docs: Swagger UI served from our own installed copy (no CDN, so
 * it works offline and under a strict Content-Security-Policy: no inline script, no foreign origin).
 */
import { readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import path from 'node:path'
import { escapeHtml } from '../http/escape-html.ts'

/** The only files of swagger-ui-dist we serve; anything else is refused, so no path can escape. */
const SWAGGER_ASSETS: Readonly<Record<string, string>> = {
  'swagger-ui.css': 'text/css; charset=utf-8',
  'swagger-ui-bundle.js': 'text/javascript; charset=utf-8',
  'swagger-ui-standalone-preset.js': 'text/javascript; charset=utf-8',
  'favicon-32x32.png': 'image/png',
}

let distDir: string | undefined
function swaggerDistDir(): string {
  distDir ??= path.dirname(createRequire(import.meta.url).resolve('swagger-ui-dist/package.json'))
  return distDir
}

/** Absolute path of an allowed Swagger UI asset, or undefined for any other name. */
export function swaggerAssetPath(file: string): string | undefined {
  if (!Object.hasOwn(SWAGGER_ASSETS, file)) return undefined
  return path.join(swaggerDistDir(), file)
}

/** The Content-Type to serve an allowed asset (or `init.js`) with. */
export function swaggerAssetType(file: string): string | undefined {
  if (file === 'init.js') return 'text/javascript; charset=utf-8'
  return Object.hasOwn(SWAGGER_ASSETS, file) ? SWAGGER_ASSETS[file] : undefined
}

/** The page; its only script of ours is `${assetBase}/init.js` (see docsInitJs), which starts Swagger UI. */
export function docsHtml(specUrl: string, assetBase: string): string {
  const base = escapeHtml(assetBase.replace(/\/+$/, ''))
  return `<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>Bastide API reference</title>
  <link rel="stylesheet" href="${base}/swagger-ui.css">
  <link rel="icon" type="image/png" href="${base}/favicon-32x32.png">
</head>
<body>
  <noscript>The interactive reference needs JavaScript; the raw document is at <a href="${escapeHtml(specUrl)}">${escapeHtml(specUrl)}</a>.</noscript>
  <div id="swagger-ui" data-spec-url="${escapeHtml(specUrl)}"></div>
  <script src="${base}/swagger-ui-bundle.js"></script>
  <script src="${base}/init.js"></script>
</body>
</html>
`
}

let initJs: string | undefined
/** The script served at `${assetBase}/init.js` (docs-init.js): a file, so CSP needs no 'unsafe-inline'. */
export function docsInitJs(): string {
  initJs ??= readFileSync(new URL('docs-init.js', import.meta.url), 'utf8')
  return initJs
}
