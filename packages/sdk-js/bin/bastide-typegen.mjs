#!/usr/bin/env node
// bastide-typegen: writes TypeScript types for a Bastide server's collections.
//   npx bastide-typegen --url http://localhost:8787 --key bst_sk_… --out src/bastide-env.d.ts
// The key needs the `schema` scope (BASTIDE_ADMIN_KEY works). Env: BASTIDE_URL, BASTIDE_KEY.
import { writeFileSync } from 'node:fs'
import { parseArgs } from 'node:util'
import { generateTypes } from '../dist/typegen.js'

const { values } = parseArgs({
  options: {
    url: { type: 'string', default: process.env.BASTIDE_URL ?? 'http://localhost:8787' },
    key: { type: 'string', default: process.env.BASTIDE_KEY ?? process.env.BASTIDE_ADMIN_KEY },
    out: { type: 'string' },
    schema: { type: 'string', default: 'AppSchema' },
    'no-register': { type: 'boolean', default: false },
    help: { type: 'boolean', short: 'h', default: false },
  },
})
if (values.help) {
  console.log(
    'usage: bastide-typegen [--url URL] [--key bst_sk_…] [--out FILE] [--schema AppSchema] [--no-register]',
  )
  process.exit(0)
}
if (!values.key) {
  console.error('bastide-typegen: pass --key (an API key with the schema scope) or set BASTIDE_KEY.')
  process.exit(2)
}
const res = await fetch(new URL('/api/collections', values.url), {
  headers: { authorization: `Bearer ${values.key}`, accept: 'application/json' },
}).catch((err) => {
  console.error(`bastide-typegen: cannot reach ${values.url}: ${err.message}`)
  process.exit(1)
})
const body = await res.json().catch(() => ({}))
if (!res.ok) {
  console.error(`bastide-typegen: ${res.status} ${body.code ?? ''} ${body.message ?? ''}`)
  process.exit(1)
}
const text = generateTypes(body.items, { schemaName: values.schema, register: !values['no-register'] })
if (values.out) {
  writeFileSync(values.out, text)
  console.error(`bastide-typegen: ${body.items.length} collections → ${values.out}`)
} else process.stdout.write(text)
