import { createHash, hash } from 'node:crypto'
import type { Context } from 'hono'
import type { Collection } from '../core/collections/types.ts'
import { sendJson } from './native.ts'
import { rowJsonAndDigest } from './row-json.ts'

/**
 * A 200 JSON answer to a GET with its ETag already set: the value hono's etag() middleware would compute
 * (hex SHA-1 of the body), hashed here synchronously from the serialized text. Seeing the header, etag()
 * only answers If-None-Match, instead of cloning the response and hashing it through WebCrypto, which
 * also pushed @hono/node-server off its fast path for plain string bodies. Sent through Node's response
 * when the request allows (see sendJson).
 */
export function jsonWithEtag(c: Context, data: unknown): Response {
  const text = JSON.stringify(data)
  const tag = `"${hash('sha1', text, 'hex')}"`
  return sendJson(c, 200, text, tag)
}

/**
 * A page of records (`{ items, ...rest }`, items first) as jsonWithEtag answers it, body and tag alike made
 * from each record's kept text and its digest (row-json.ts) instead of serializing and hashing the whole page.
 */
export function pageWithEtag(
  c: Context,
  page: { readonly items: readonly Record<string, unknown>[] },
): Response {
  const { text, etag } = pageJson(page)
  return sendJson(c, 200, text, etag)
}

/**
 * JSON.stringify(page), and a tag that changes exactly when that text does, as a hash of it would: the SHA-1 of
 * the records' digests, in order, and of the rest of the page.
 */
export function pageJson(page: { readonly items: readonly Record<string, unknown>[] }): {
  readonly text: string
  readonly etag: string
} {
  if (firstKey(page) !== 'items') {
    const text = JSON.stringify(page)
    return { text, etag: `"${hash('sha1', text, 'hex')}"` }
  }
  const rest = JSON.stringify({ ...page, items: undefined })
  const n = page.items.length
  const texts = new Array<string>(n)
  const digests = new Array<string>(n + 1)
  for (let i = 0; i < n; i++) {
    const r = rowJsonAndDigest(page.items[i]!)
    texts[i] = r.text
    digests[i] = r.digest
  }
  digests[n] = rest
  return {
    text: `{"items":[${texts.join(',')}]${rest === '{}' ? '}' : `,${rest.slice(1)}`}`,
    etag: `"${hash('sha1', digests.join(''), 'hex')}"`,
  }
}

function firstKey(o: object): string | undefined {
  for (const k in o) return k
  return undefined
}

/** Per collection definition (a new object on every schema change): a digest of it, and its first hidden field. */
interface Shape {
  readonly digest: string
  readonly hidden: string | undefined
}
const shapes = new WeakMap<Collection, Shape>()

function shapeOf(c: Collection): Shape {
  let s = shapes.get(c)
  if (!s) {
    const digest = createHash('sha1')
      // Arrays only, so that every node digests the same definition alike (key order differs between the
      // definition a node built and the one another node read back). `updated` moves on every change.
      .update(
        JSON.stringify([
          c.id,
          c.name,
          c.updated,
          c.fields.map((f) => [f.id, f.name, f.type, f.hidden, f.options.multiple === true]),
        ]),
      )
      .digest('base64url')
      .slice(0, 12)
    s = { digest, hidden: c.fields.find((f) => f.hidden)?.name }
    shapes.set(c, s)
  }
  return s
}

/**
 * One record as answered by GET /:collection/records/:id, with a weak ETag that is not a hash of the body:
 * `W/"<collection schema digest>.<hidden shown: 1|0>.<id>.<version>.<updated>"`. The body is fixed by those:
 * every write to a record (the API's, cascades, auth's trigger, file writes) bumps its version and `updated`;
 * a schema change (fields added, removed, retyped, hidden) makes a new collection definition, hence a new digest;
 * and with neither `fields` nor `expand` asked for, the only thing the caller changes is whether hidden fields
 * are shown (admins and keys see them), which shows in the body itself. With `fields` or `expand` (expanded
 * records change without this one's version moving), or without the collection, the body is hashed as before
 * (jsonWithEtag).
 *
 * `collection` must be the definition looked up *before* the record was read: if the schema changes in between,
 * the tag names the older schema, and the next request gets the new body with a new tag (never a stale 304).
 */
export function recordWithEtag(
  c: Context,
  rec: Record<string, unknown>,
  collection: Collection | undefined,
  query: Readonly<Record<string, string>>,
): Response {
  const { id, version, updated } = rec
  const at = typeof updated === 'string' ? Date.parse(updated) : Number.NaN
  if (
    collection === undefined ||
    query.fields !== undefined ||
    query.expand !== undefined ||
    typeof id !== 'string' ||
    !/^[0-9a-f-]{1,64}$/.test(id) ||
    !Number.isSafeInteger(version) ||
    !Number.isFinite(at)
  )
    return jsonWithEtag(c, rec)
  const shape = shapeOf(collection)
  const shown = shape.hidden !== undefined && shape.hidden in rec ? '1' : '0'
  const tag = `W/"${shape.digest}.${shown}.${id}.${version}.${at.toString(36)}"`
  // Not through row-json.ts: records opened one by one are mostly different ones, and a miss costs more there.
  return sendJson(c, 200, JSON.stringify(rec), tag)
}
