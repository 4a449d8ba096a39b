import { Hono } from 'hono'
import type { Config } from '../../config/load-config.ts'
import type { AppEnv } from '../context.ts'
import { escapeHtml } from '../escape-html.ts'
import { VERSION } from './meta.ts'

/** What this server runs on, by kind only: no host, path or credential ever reaches the page. */
export interface ServerFacts {
  readonly version: string
  readonly database: 'embedded' | 'external'
  readonly storage: 'local' | 's3'
  readonly realtime: 'single-node' | 'redis'
  readonly email: 'log' | 'smtp'
}

export function serverFacts(config: Config): ServerFacts {
  return {
    version: VERSION,
    database: config.databaseUrl === undefined ? 'embedded' : 'external',
    storage: config.s3 === undefined ? 'local' : 's3',
    realtime: config.redisUrl === undefined ? 'single-node' : 'redis',
    email: config.smtpUrl === undefined ? 'log' : 'smtp',
  }
}

const LINKS = {
  docs: '/api/docs',
  openapi: '/api/openapi.json',
  health: '/api/health',
  account: '/account',
} as const

/**
 * better-auth sends a verification link back here with `?error=<code>` when it cannot use it (the link's
 * callbackURL defaults to `/`). Only these codes get their own sentence; any other value gets the generic
 * one, so nothing from the query string is ever written into the page.
 */
const LINK_ERRORS: Readonly<Record<string, string>> = {
  TOKEN_EXPIRED: 'This link has expired.',
  INVALID_TOKEN: 'This link is not valid, or it has already been used.',
  USER_NOT_FOUND: 'This link belongs to no account on this server.',
  INVALID_USER: 'This link was sent for another account than the one signed in.',
}

const FACT_WORDS = {
  database: {
    embedded: 'Embedded PostgreSQL, kept in the data directory (set DATABASE_URL for your own server)',
    external: 'PostgreSQL at DATABASE_URL',
  },
  storage: {
    local: 'Local disk, in the data directory',
    s3: 'S3-compatible object storage',
  },
  realtime: {
    'single-node': 'socket.io at /realtime, one node',
    redis: 'socket.io at /realtime, nodes linked through Redis',
  },
  email: {
    log: 'Written to the server log (no BASTIDE_SMTP_URL): confirmation links are there',
    smtp: 'Sent over SMTP',
  },
} as const

const STYLE = `
:root { color-scheme: light dark; --fg: #1d232b; --muted: #5b6570; --bg: #f7f7f4; --card: #fff;
  --line: #dcdcd5; --accent: #2a5db0; --code: #eef0ec; --warn: #fff4e0; --warn-line: #e0b45c; }
@media (prefers-color-scheme: dark) {
  :root { --fg: #e6e8ea; --muted: #a2abb5; --bg: #15181c; --card: #1d2127; --line: #323841;
    --accent: #7aa7f0; --code: #262b32; --warn: #3a2f1b; --warn-line: #a07a2c; }
}
* { box-sizing: border-box; }
body { margin: 0; background: var(--bg); color: var(--fg);
  font: 16px/1.55 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; }
main { max-width: 46rem; margin: 0 auto; padding: 2.5rem 1.25rem 4rem; }
h1 { font-size: 1.9rem; margin: 0 0 .25rem; }
h2 { font-size: 1.15rem; margin: 2rem 0 .75rem; }
p { margin: .5rem 0; }
.lead { color: var(--muted); margin-top: 0; }
a { color: var(--accent); }
section.card { background: var(--card); border: 1px solid var(--line); border-radius: 10px; padding: 1rem 1.25rem; }
dl { display: grid; grid-template-columns: max-content 1fr; gap: .35rem 1.25rem; margin: 0; }
dt { color: var(--muted); }
dd { margin: 0; }
ul.links { list-style: none; padding: 0; margin: 0; display: grid; gap: .5rem; }
ul.links a { font-weight: 600; }
ol { padding-left: 1.25rem; }
ol li { margin-bottom: 1.25rem; }
code, pre { font: 14px/1.45 ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; background: var(--code);
  border-radius: 5px; }
code { padding: .1rem .3rem; }
pre { padding: .75rem 1rem; overflow-x: auto; white-space: pre; }
.notice { border-left: 4px solid var(--warn-line); background: var(--warn); padding: .75rem 1rem; border-radius: 6px; }
.muted { color: var(--muted); }
`

/** The page, rendered on the server: it needs no script, so the CSP's `script-src 'self'` has nothing to allow. */
export function homeHtml(facts: ServerFacts, o: { origin: string; linkError?: string }): string {
  const api = `${o.origin.replace(/\/+$/, '')}/api`
  const notice =
    o.linkError === undefined
      ? `<p class="muted">Followed a confirmation link from an email? Your address is confirmed: manage your
      account (sign-in methods, sessions, passkeys) on the <a href="${LINKS.account}">account page</a>.</p>`
      : `<p class="notice" role="alert" data-testid="link-error">${escapeHtml(
          LINK_ERRORS[o.linkError] ?? 'This link could not be used.',
        )} Ask the app where you signed up for a new link, or go to the <a href="${LINKS.account}">account page</a>.</p>`
  const fact = (label: string, words: string, key: string) =>
    `<dt>${label}</dt><dd data-testid="fact-${key}">${escapeHtml(words)}</dd>`
  return `<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>Bastide is running</title>
  <style>${STYLE}</style>
</head>
<body>
<main>
  <h1>Bastide is running</h1>
  <p class="lead">A self-hosted backend: collections and records under rules, auth, storage and realtime, over one HTTP API.</p>
  ${notice}

  <h2>This server</h2>
  <section class="card">
    <dl>
      ${fact('Version', facts.version, 'version')}
      ${fact('Database', FACT_WORDS.database[facts.database], 'database')}
      ${fact('Storage', FACT_WORDS.storage[facts.storage], 'storage')}
      ${fact('Realtime', FACT_WORDS.realtime[facts.realtime], 'realtime')}
      ${fact('Email', FACT_WORDS.email[facts.email], 'email')}
    </dl>
  </section>

  <h2>Links</h2>
  <section class="card">
    <ul class="links">
      <li><a href="${LINKS.docs}">API reference</a> — every endpoint, with <em>Try it out</em>; paste a key into <em>Authorize</em> to see what it may call.</li>
      <li><a href="${LINKS.openapi}">OpenAPI document</a> — for client generators (openapi-typescript, openapi-fetch…).</li>
      <li><a href="${LINKS.health}">Health</a> — <code>{"status":"ok"}</code> while the database answers.</li>
      <li><a href="${LINKS.account}">Account page</a> — for your app's users: sign up, sign in, sessions, passkeys, two-factor.</li>
    </ul>
  </section>

  <h2>First steps</h2>
  <ol>
    <li>
      <p><strong>Create the first console admin</strong> with the setup token printed in the server log at start-up
      (or <code>npx bastide setup-token</code>):</p>
      <pre>B=${escapeHtml(api)}
J='Content-Type: application/json'
curl -s -XPOST $B/admin/setup -H "$J" -d '{"setupToken":"PASTE_THE_TOKEN",
  "email":"you@example.com","password":"a long admin passphrase"}'</pre>
    </li>
    <li>
      <p><strong>Create a collection</strong>, as a console admin (the token of <code>POST /api/admin/auth/sign-in/email</code>)
      or with the key in <code>BASTIDE_ADMIN_KEY</code>. Here anyone may read posts; only admins and keys write them:</p>
      <pre>A="Authorization: Bearer $BASTIDE_ADMIN_KEY"
curl -s -XPOST $B/collections -H "$A" -H "$J" -d '{"name":"posts",
  "fields":[{"name":"title","type":"text","required":true}],
  "rules":{"list":"","view":""}}'
curl -s -XPOST $B/collections/posts/records -H "$A" -H "$J" \\
  -d '{"title":"Hello"}'
curl -s $B/collections/posts/records</pre>
    </li>
    <li>
      <p><strong>Call it from your app</strong> with the TypeScript SDK, <code>@bastide/sdk</code> (web, React Native, Node; see its README):</p>
      <pre>import { createClient } from '@bastide/sdk'

const client = createClient({ url: '${escapeHtml(o.origin.replace(/\/+$/, ''))}' })
const posts = client.collection('posts')
const { items } = await posts.list({ sort: ['-created'] })</pre>
    </li>
  </ol>
</main>
</body>
</html>
`
}

/**
 * `/`: what is running and where to start, until the console is served here. Browsers and curl's default
 * `Accept` get the page; `Accept: application/json` (without text/html) gets the same facts as JSON.
 */
export function homeRoutes(deps: { config: Config; console?: boolean }) {
  const facts = serverFacts(deps.config)
  const origin = deps.config.publicUrl ?? `http://localhost:${deps.config.port || 8787}`
  const r = new Hono<AppEnv>()
  r.get('/', (c) => {
    c.header('Vary', 'Accept')
    // The page reflects ?error=, so no cache may keep one answer for another.
    c.header('Cache-Control', 'no-cache')
    const accept = c.req.header('accept') ?? ''
    if (accept.includes('application/json') && !accept.includes('text/html')) {
      return c.json({ name: 'Bastide', ...facts, links: LINKS })
    }
    const error = c.req.query('error')
    // Browsers go to the console; a link that came back with an error still gets its sentence here.
    if (deps.console && error === undefined) return c.redirect('/_/', 302)
    return c.html(homeHtml(facts, { origin, ...(error === undefined ? {} : { linkError: error }) }))
  })
  return r
}
