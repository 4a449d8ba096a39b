import { execFile } from 'node:child_process'
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { afterAll, beforeAll, expect, it } from 'vitest'
import { createCollection, startServer, type TestServer } from './support/server.ts'

const run = promisify(execFile)
const pkg = fileURLToPath(new URL('..', import.meta.url))
let s: TestServer & { url: string }
let dir: string

beforeAll(async () => {
  s = await startServer()
  await createCollection(s, {
    name: 'notes',
    fields: [
      { name: 'text', type: 'text', required: true },
      { name: 'owner', type: 'relation', options: { collection: 'users' } },
    ],
    rules: {
      list: 'owner = @request.auth.id',
      view: 'owner = @request.auth.id',
      create: '@request.auth.id != "" && owner = @request.auth.id',
      update: null,
      delete: null,
    },
  })
  dir = mkdtempSync(path.join(tmpdir(), 'bastide-sdk-pack-'))
})
afterAll(async () => {
  await s?.close()
  if (dir) rmSync(dir, { recursive: true, force: true })
})

it('builds, packs into a tarball that installs in a fresh folder, and runs sign-up + create + subscribe there', async () => {
  await run('npx', ['-y', 'pnpm@10', 'run', 'build'], { cwd: pkg })
  await run('npm', ['pack', '--pack-destination', dir], { cwd: pkg })
  const tarball = readdirSync(dir).find((f) => f.endsWith('.tgz'))
  expect(tarball).toMatch(/^bastide-sdk-\d+\.\d+\.\d+\.tgz$/)
  const app = path.join(dir, 'app')
  await run('mkdir', ['-p', app])
  writeFileSync(
    path.join(app, 'package.json'),
    JSON.stringify({ name: 'app', private: true, type: 'module' }),
  )
  await run('npm', ['install', '--no-audit', '--no-fund', path.join(dir, tarball!)], { cwd: app })
  writeFileSync(
    path.join(app, 'main.js'),
    `import { createClient, f } from '@bastide/sdk'
const client = createClient({ url: process.env.URL })
const email = 'pack-' + Date.now() + '@example.test'
await client.auth.signUp({ email, password: 'a long and unusual passphrase', name: 'Pack' })
const me = client.auth.user
let ready
const subscribed = new Promise((r) => (ready = r))
const received = new Promise((resolve, reject) => {
  const timer = setTimeout(() => reject(new Error('no change event')), 10000)
  const stop = client.collection('notes').subscribe(
    f('owner = {:me}', { me: me.id }),
    (change) => {
      if (change.action !== 'create') return
      clearTimeout(timer)
      stop()
      resolve(change.record.text)
    },
    { onReady: ready, onError: reject },
  )
})
await subscribed
const note = await client.collection('notes').create({ text: 'from the tarball', owner: me.id })
const text = await received
console.log(JSON.stringify({ user: me.email, note: note.text, received: text }))
await client.close()
`,
  )
  const out = await run(process.execPath, ['main.js'], { cwd: app, env: { ...process.env, URL: s.url } })
  expect(JSON.parse(out.stdout.trim())).toEqual({
    user: expect.stringMatching(/^pack-\d+@example\.test$/),
    note: 'from the tarball',
    received: 'from the tarball',
  })

  // The installed manifest names only what the registry has (no `workspace:` ranges left from the monorepo).
  const manifest = readFileSync(path.join(app, 'node_modules/@bastide/sdk/package.json'), 'utf8')
  expect(manifest).not.toContain('workspace:')

  // The declarations compile in a Node-only project: no DOM library, every .d.ts checked (skipLibCheck off).
  writeFileSync(
    path.join(app, 'tsconfig.json'),
    JSON.stringify({
      compilerOptions: {
        target: 'ES2022',
        module: 'NodeNext',
        moduleResolution: 'NodeNext',
        strict: true,
        noEmit: true,
        skipLibCheck: false,
        lib: ['ES2022'],
        types: ['node'],
        typeRoots: [path.join(pkg, 'node_modules/@types')],
      },
      files: ['check.ts'],
    }),
  )
  writeFileSync(
    path.join(app, 'check.ts'),
    `import { createClient, localStorageAdapter, memoryStorage, type BastideError } from '@bastide/sdk'
import { generateTypes } from '@bastide/sdk/typegen'
const client = createClient({ url: 'http://localhost:8787', storage: memoryStorage() })
const store = new Map<string, string>()
const web = localStorageAdapter({
  getItem: (k) => store.get(k) ?? null,
  setItem: (k, v) => void store.set(k, v),
  removeItem: (k) => void store.delete(k),
})
export const used: unknown[] = [client, web, generateTypes, null as BastideError | null]
`,
  )
  const tsc = path.join(pkg, 'node_modules/typescript/bin/tsc')
  await run(process.execPath, [tsc, '-p', app]).catch((err: { stdout?: string }) => {
    throw new Error(`the SDK's types do not compile without the DOM library:\n${err.stdout}`)
  })
}, 180_000)
