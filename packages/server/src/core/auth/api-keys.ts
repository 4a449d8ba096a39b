import { createHash, randomBytes, timingSafeEqual } from 'node:crypto'
import type { Db } from '../../db/create-db.ts'
import { errors } from '../../errors/index.ts'
import type { AdminActions } from '../../events/admin-actions.ts'
import { type Principal, principalId, type Scope } from './principal.ts'

export const KEY_PREFIX = 'bst_sk_'
const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789'
const CACHE_MS = 10_000

export interface ApiKey {
  readonly id: string
  readonly name: string
  readonly prefix: string
  readonly scopes: readonly Scope[]
  readonly created: string
  readonly lastUsed: string | null
  readonly expires: string | null
}

export function hashKey(secret: string): string {
  return createHash('sha256').update(secret).digest('hex')
}

function generateSecret(): string {
  const bytes = randomBytes(40)
  let s = KEY_PREFIX
  for (const b of bytes) s += ALPHABET[b % ALPHABET.length]
  return s
}

export interface ApiKeysService {
  /**
   * A new key, minted by `by`. A key minting a key can neither outrank nor outlive itself: the scopes must be
   * among its own (403), and when it expires the new key does too: without `expires` it gets the minter's
   * expiry, a later one is refused (403). The admin key and console admins hold every scope and never expire.
   */
  create(
    input: { name: string; scopes: readonly Scope[]; expires?: string | undefined },
    by: Principal,
  ): Promise<ApiKey & { key: string }>
  list(): Promise<ApiKey[]>
  /**
   * Revokes key `id` on behalf of `by`. A key revokes only keys whose scopes are among its own (itself
   * included), else 403: it cannot take down a stronger key, such as the one that minted it. The admin key and
   * console admins revoke anything. A missing or already revoked id is a 404.
   */
  revoke(id: string, by: Principal): Promise<void>
  /** The principal for a `bst_sk_…` token, or an UNAUTHORIZED error. */
  authenticate(token: string): Promise<Principal>
}

/**
 * Secret keys are shown once and stored as SHA-256 hashes (they carry 238 bits of entropy, so a slow
 * hash adds nothing). Verified keys are cached for a few seconds so a request costs no extra query.
 */
export function createApiKeysService(deps: {
  db: Db
  adminKey: string | undefined
  /** Minting and revoking keys are admin actions, recorded in their transaction (the audit log). */
  actions?: AdminActions
}): ApiKeysService {
  const { db } = deps
  const admin = deps.adminKey ? Buffer.from(hashKey(deps.adminKey), 'hex') : undefined
  const cache = new Map<string, { principal: Principal | null; at: number; expires: number | null }>()
  const touched = new Map<string, number>()

  /**
   * The row of key `id` as it is now (not as a cached principal saw it), for a key acting on other keys:
   * a revoked or expired one is refused outright.
   */
  async function liveKey(id: string): Promise<{ scopes: string[]; expires: string | null }> {
    const row = await db
      .selectFrom('bastide.api_keys')
      .select(['scopes', 'expires'])
      .where('id', '=', id)
      .where('revoked', 'is', null)
      .executeTakeFirst()
    if (!row || (row.expires !== null && Date.parse(row.expires) <= Date.now()))
      throw errors.unauthorized('Invalid or expired API key.')
    return row
  }

  /** The expiry of a key minted by key `minterId`, after checking the request against the minter. */
  async function withinMinter(
    minterId: string,
    input: { scopes: readonly Scope[]; expires?: string | undefined },
  ): Promise<string | null> {
    const minter = await liveKey(minterId)
    const held = new Set<string>(minter.scopes)
    const extra = input.scopes.filter((s) => !held.has(s))
    if (extra.length > 0)
      throw errors.forbidden(`A key can only grant scopes it holds; this one lacks ${extra.join(', ')}.`)
    if (minter.expires === null) return input.expires ?? null
    // Left out: as long as allowed, which is as long as the minter lives.
    if (input.expires === undefined) return minter.expires
    if (Date.parse(input.expires) > Date.parse(minter.expires))
      throw errors.forbidden(
        `A key cannot mint a key that outlives it: expires must be ${minter.expires} or earlier.`,
      )
    return input.expires
  }

  const toKey = (r: any): ApiKey => ({
    id: r.id,
    name: r.name,
    prefix: r.prefix,
    scopes: r.scopes,
    created: r.created,
    lastUsed: r.last_used,
    expires: r.expires,
  })

  return {
    async create(input, by) {
      if (input.expires !== undefined && Date.parse(input.expires) <= Date.now())
        throw errors.validation({ expires: { code: 'past', message: 'A key expires in the future.' } })
      const expires = by.kind === 'key' ? await withinMinter(by.id, input) : (input.expires ?? null)
      const key = generateSecret()
      const row = await db.transaction().execute(async (trx) => {
        const row = await trx
          .insertInto('bastide.api_keys')
          .values({
            id: crypto.randomUUID(),
            name: input.name,
            prefix: key.slice(0, 12),
            hash: hashKey(key),
            scopes: [...new Set(input.scopes)],
            expires,
          })
          .returningAll()
          .executeTakeFirstOrThrow()
        // Never the secret nor its hash: what the key is and may do.
        const { name, prefix, scopes } = toKey(row)
        await deps.actions?.record(trx, {
          actor: principalId(by),
          action: 'key.create',
          target: row.id,
          diff: { after: { name, prefix, scopes, expires: toKey(row).expires } },
        })
        return row
      })
      return { ...toKey(row), key }
    },
    async list() {
      const rows = await db
        .selectFrom('bastide.api_keys')
        .selectAll()
        .where('revoked', 'is', null)
        .orderBy('created')
        .execute()
      return rows.map(toKey)
    },
    async revoke(id, by) {
      if (by.kind === 'key') {
        const target = await db
          .selectFrom('bastide.api_keys')
          .select('scopes')
          .where('id', '=', id)
          .where('revoked', 'is', null)
          .executeTakeFirst()
        if (!target) throw errors.notFound('API key')
        // Scopes never change once minted, so checking before the update leaves no gap to exploit.
        const held = new Set<string>((await liveKey(by.id)).scopes)
        const extra = (target.scopes as string[]).filter((s) => !held.has(s))
        if (extra.length > 0)
          throw errors.forbidden(
            `A key can only revoke keys within its scopes; this one lacks ${extra.join(', ')}.`,
          )
      }
      await db.transaction().execute(async (trx) => {
        const row = await trx
          .updateTable('bastide.api_keys')
          .set({ revoked: new Date().toISOString() })
          .where('id', '=', id)
          .where('revoked', 'is', null)
          .returning(['name', 'prefix', 'scopes'])
          .executeTakeFirst()
        if (!row) throw errors.notFound('API key')
        await deps.actions?.record(trx, {
          actor: principalId(by),
          action: 'key.revoke',
          target: id,
          diff: { before: { name: row.name, prefix: row.prefix, scopes: row.scopes } },
        })
      })
      cache.clear()
    },
    async authenticate(token) {
      const hash = hashKey(token)
      if (admin && timingSafeEqual(Buffer.from(hash, 'hex'), admin)) return { kind: 'admin' }
      const now = Date.now()
      let hit = cache.get(hash)
      if (!hit || now - hit.at > CACHE_MS) {
        const row = await db
          .selectFrom('bastide.api_keys')
          .select(['id', 'name', 'scopes', 'expires'])
          .where('hash', '=', hash)
          .where('revoked', 'is', null)
          .executeTakeFirst()
        hit = {
          principal: row
            ? { kind: 'key', id: row.id, name: row.name, scopes: new Set(row.scopes as Scope[]) }
            : null,
          at: now,
          expires: row?.expires ? Date.parse(row.expires) : null,
        }
        if (cache.size > 10_000) cache.clear()
        cache.set(hash, hit)
      }
      if (!hit.principal || (hit.expires !== null && hit.expires <= now))
        throw errors.unauthorized('Invalid or expired API key.')
      const p = hit.principal as Extract<Principal, { kind: 'key' }>
      if ((touched.get(p.id) ?? 0) < now - 60_000) {
        touched.set(p.id, now)
        void db
          .updateTable('bastide.api_keys')
          .set({ last_used: new Date(now).toISOString() })
          .where('id', '=', p.id)
          .execute()
          .catch(() => {})
      }
      return p
    },
  }
}
