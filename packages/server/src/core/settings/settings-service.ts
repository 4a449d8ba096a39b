import { createHash } from 'node:crypto'
import { sql } from 'kysely'
import type { Logger } from 'pino'
import type { Config } from '../../config/load-config.ts'
import type { Db } from '../../db/create-db.ts'
import { inTransaction } from '../../db/transaction.ts'
import { AppError, errors, parseInput } from '../../errors/index.ts'
import { type AdminActions, diffOf } from '../../events/admin-actions.ts'
import { sendTestMail } from '../mail/mailer.ts'
import { createSettingsCipher, isSealed, type SealedSecret } from './cipher.ts'
import {
  AUTH_METHODS,
  type AuthMethod,
  type EffectiveSettings,
  ENV_OF,
  type OAuthProviderSetting,
  settingsPatch,
  smtpTestInput,
} from './schema.ts'
import { type SettingsView, viewOf } from './settings-view.ts'

/** What the database holds, secrets opened (in memory only). */
export interface StoredSettings {
  readonly smtp: { readonly url?: string; readonly from?: string }
  readonly cors: { readonly origins?: readonly string[] }
  readonly rateLimits: { readonly authPerMinute?: number }
  readonly auth: { readonly methods: Readonly<Partial<Record<AuthMethod, boolean>>> }
  readonly oauth: { readonly providers: readonly OAuthProviderSetting[] }
}

const EMPTY: StoredSettings = {
  smtp: {},
  cors: {},
  rateLimits: {},
  auth: { methods: {} },
  oauth: { providers: [] },
}
const GROUPS = ['smtp', 'cors', 'rateLimits', 'auth', 'oauth'] as const
type Group = (typeof GROUPS)[number]

export interface SettingsService {
  /** The settings in force on this node (cached; refreshed on every change, here or on another node). */
  current(): EffectiveSettings
  /** GET /api/admin/settings: every setting with its source; secrets only as `{ set }`. */
  view(): SettingsView
  /** PATCH: validated, one transaction, audited as `settings.update`; env-locked settings answer 409. */
  update(patch: unknown, actor: string): Promise<SettingsView>
  /** Sends a test mail with the settings in force; an SMTP failure is a 400 with the server's message. */
  testSmtp(input: unknown, actor: string): Promise<{ readonly sent: true; readonly to: string }>
  /** Re-reads the table (another node changed it). */
  refresh(): Promise<void>
  /** Called after every change of the settings in force; `local`: this node wrote it (and should tell the others). */
  onChange(fn: (s: EffectiveSettings, local: boolean) => void | Promise<void>): () => void
  /**
   * The providers better-auth is built with at start. Later changes apply at once to redirect sign-in
   * (live-providers.ts); an OIDC provider added or reconfigured since then sets `restartRequired`, because
   * native ID-token sign-in only knows the ones the node started with.
   */
  providersAtStart(): EffectiveSettings['oauth']['providers']
}

/**
 * Runtime settings in bastide.settings (one row per group), over the environment's bootstrap values: env wins,
 * then the database, then the defaults. Secrets are sealed with AES-256-GCM (cipher.ts) before they are
 * written and are never returned, logged or audited in clear.
 */
export async function createSettingsService(deps: {
  readonly db: Db
  readonly config: Config
  readonly secret: string
  readonly actions: AdminActions
  readonly log: Logger
}): Promise<SettingsService> {
  const { db, config, log, actions } = deps
  const cipher = createSettingsCipher(deps.secret)
  const listeners = new Set<(s: EffectiveSettings, local: boolean) => void | Promise<void>>()
  let stored: StoredSettings = EMPTY
  let effective = effectiveOf(config, stored)
  let startFingerprint: string | undefined
  /** Bumped by every apply: a re-read that started before one must not put older rows back in force. */
  let generation = 0

  const open = (v: unknown, where: string): string | undefined => {
    if (!isSealed(v)) return undefined
    try {
      return cipher.open(v)
    } catch {
      // Never the value: only where it is. A changed BASTIDE_SECRET makes every stored secret unreadable.
      log.error(
        { setting: where },
        'a stored secret cannot be decrypted (was BASTIDE_SECRET changed?); ignoring it',
      )
      return undefined
    }
  }

  const decode = (rows: readonly { key: string; value: any }[]): StoredSettings => {
    const by = new Map(rows.map((r) => [r.key, r.value ?? {}]))
    const smtp = by.get('smtp') ?? {}
    const url = open(smtp.url, 'smtp.url')
    const methods = by.get('auth')?.methods ?? {}
    return {
      smtp: {
        ...(url !== undefined ? { url } : {}),
        ...(typeof smtp.from === 'string' ? { from: smtp.from } : {}),
      },
      cors: Array.isArray(by.get('cors')?.origins) ? { origins: by.get('cors').origins } : {},
      rateLimits:
        typeof by.get('rateLimits')?.authPerMinute === 'number'
          ? { authPerMinute: by.get('rateLimits').authPerMinute }
          : {},
      auth: {
        methods: Object.fromEntries(
          AUTH_METHODS.filter((m) => typeof methods[m] === 'boolean').map((m) => [m, methods[m]]),
        ),
      },
      oauth: {
        providers: ((by.get('oauth')?.providers ?? []) as any[]).map((p) => ({
          id: p.id,
          type: p.type,
          clientId: p.clientId,
          clientSecret: open(p.clientSecret, `oauth.${p.id}.clientSecret`),
          issuer: p.issuer,
          scopes: p.scopes ?? [],
          enabled: p.enabled !== false,
        })),
      },
    }
  }

  const read = async (executor: Db) => {
    const r = await sql<{ key: string; value: any }>`SELECT key, value FROM bastide.settings`.execute(
      executor,
    )
    return r.rows
  }

  /** Puts `next` in force and tells the listeners; resolves once they are done (providers installed). */
  const apply = async (next: StoredSettings, local: boolean): Promise<void> => {
    generation++
    const was = JSON.stringify(effective)
    stored = next
    effective = effectiveOf(config, stored)
    // A periodic re-read that finds nothing new tells nobody (listeners rebuild transports and providers).
    if (!local && JSON.stringify(effective) === was) return
    await Promise.all(
      [...listeners].map(async (fn) => {
        try {
          await fn(effective, local)
        } catch (err) {
          log.error({ err: (err as Error).message }, 'settings listener failed')
        }
      }),
    )
  }

  stored = decode(await read(db))
  effective = effectiveOf(config, stored)

  // Native ID-token sign-in (/sign-in/id-token) knows the OIDC providers the node started with: a new or
  // reconfigured one works there after a restart (redirect sign-in uses it at once, see live-providers.ts).
  const fingerprint = (ps: readonly OAuthProviderSetting[]) =>
    createHash('sha256')
      .update(
        JSON.stringify(ps.filter((p) => p.type === 'oidc').map((p) => [p.id, p.clientId, p.issuer ?? null])),
      )
      .digest('base64url')

  const restartRequired = () =>
    startFingerprint !== undefined && startFingerprint !== fingerprint(stored.oauth.providers)

  const lockedBy = (field: keyof typeof ENV_OF): string | undefined =>
    config.env[ENV_OF[field]] !== undefined ? ENV_OF[field] : undefined

  return {
    current: () => effective,
    view: () => viewOf(config, stored, effective, restartRequired()),
    async refresh() {
      for (let attempt = 0; attempt < 3; attempt++) {
        const g = generation
        const rows = await read(db)
        if (g === generation) return apply(decode(rows), false)
      }
    },
    onChange(fn) {
      listeners.add(fn)
      return () => listeners.delete(fn)
    },
    providersAtStart() {
      startFingerprint = fingerprint(stored.oauth.providers)
      return effective.oauth.providers
    },

    async update(input, actor) {
      const patch = parseInput(settingsPatch, input)
      // Env wins: a value the environment sets cannot be changed here (it would silently do nothing).
      const locked = (field: keyof typeof ENV_OF, present: boolean) => {
        const env = present ? lockedBy(field) : undefined
        if (env)
          throw errors.conflict(
            `${field} is set by the environment variable ${env}, which wins over the database: change or unset ${env} instead.`,
            { field, env },
          )
      }
      locked('smtp.url', patch.smtp?.url !== undefined)
      locked('smtp.from', patch.smtp?.from !== undefined)
      locked('cors.origins', patch.cors?.origins !== undefined)
      locked('rateLimits.authPerMinute', patch.rateLimits?.authPerMinute !== undefined)
      for (const p of patch.oauth?.providers ?? []) {
        const env = envProviderVar(config, p.id)
        if (env)
          throw errors.conflict(
            `The provider ${p.id} is configured by the environment (${env}), which wins over the database: change it there, or leave it out of this list.`,
            { field: `oauth.providers.${p.id}`, env },
          )
      }

      const after = await inTransaction(db, async (tx) => {
        // One writer at a time: two admins' patches of the same group must not lose one another's changes.
        await sql`SELECT pg_advisory_xact_lock(hashtext('bastide.settings'))`.execute(tx.db)
        const rows = new Map((await read(tx.db)).map((r) => [r.key, r.value]))
        const before = decode([...rows].map(([key, value]) => ({ key, value })))
        const replaced = new Set<string>()
        const next: Record<Group, any> = Object.fromEntries(
          GROUPS.map((g) => [g, { ...(rows.get(g) ?? {}) }]),
        ) as any
        const setOrClear = (group: Group, field: string, v: unknown) => {
          if (v === undefined) return
          if (v === null) delete next[group][field]
          else next[group][field] = v
        }
        if (patch.smtp) {
          if (typeof patch.smtp.url === 'string') replaced.add('smtp.url')
          setOrClear(
            'smtp',
            'url',
            typeof patch.smtp.url === 'string' ? cipher.seal(patch.smtp.url) : patch.smtp.url,
          )
          setOrClear('smtp', 'from', patch.smtp.from)
        }
        if (patch.cors) setOrClear('cors', 'origins', patch.cors.origins)
        if (patch.rateLimits) setOrClear('rateLimits', 'authPerMinute', patch.rateLimits.authPerMinute)
        if (patch.auth?.methods) {
          const m = { ...(next.auth.methods ?? {}) }
          for (const k of AUTH_METHODS) {
            const v = patch.auth.methods[k]
            if (v === null) delete m[k]
            else if (v !== undefined) m[k] = v
          }
          next.auth = { ...next.auth, methods: m }
        }
        if (patch.oauth?.providers) {
          const old = new Map(((rows.get('oauth')?.providers ?? []) as any[]).map((p) => [p.id, p]))
          const providers = patch.oauth.providers.map((p) => {
            let clientSecret: SealedSecret | undefined
            if (p.clientSecret !== undefined) {
              clientSecret = cipher.seal(p.clientSecret)
              replaced.add(`oauth.${p.id}`)
            } else if (isSealed(old.get(p.id)?.clientSecret) && old.get(p.id)?.type === p.type)
              clientSecret = old.get(p.id).clientSecret
            if (p.id === 'apple' && !clientSecret)
              throw errors.validation({
                [`oauth.providers.${patch.oauth!.providers!.indexOf(p)}.clientSecret`]: {
                  code: 'required',
                  message: 'is required for Apple (a signed JWT)',
                },
              })
            return {
              id: p.id,
              type: p.type,
              clientId: p.clientId,
              ...(clientSecret ? { clientSecret } : {}),
              ...(p.issuer ? { issuer: p.issuer.replace(/\/+$/, '') } : {}),
              scopes: p.scopes ?? (p.type === 'oidc' ? ['openid', 'email', 'profile'] : []),
              enabled: p.enabled,
            }
          })
          next.oauth = { providers }
        }
        const changed = GROUPS.filter((g) => JSON.stringify(next[g]) !== JSON.stringify(rows.get(g) ?? {}))
        for (const g of changed)
          await sql`
            INSERT INTO bastide.settings (key, value, updated_at, updated_by)
            VALUES (${g}, ${JSON.stringify(next[g])}::jsonb, now(), ${actor})
            ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at,
              updated_by = excluded.updated_by`.execute(tx.db)
        const after = decode(GROUPS.map((g) => ({ key: g, value: next[g] })))
        if (changed.length > 0) {
          await actions.record(tx.db, {
            actor,
            action: 'settings.update',
            target: 'settings',
            diff: diffOf(auditState(before, new Set()), auditState(after, replaced)),
          })
        }
        return changed.length > 0 ? after : undefined
      })
      // Committed: in force here before the answer (providers installed), and announced to the other nodes.
      if (after) await apply(after, true)
      return viewOf(config, stored, effective, restartRequired())
    },

    async testSmtp(input, actor) {
      const { to } = parseInput(smtpTestInput, input)
      const smtp = effective.smtp
      if (!smtp.url)
        throw errors.badRequest(
          'No SMTP server is configured (BASTIDE_SMTP_URL or the smtp.url setting): mails are only written to the log.',
        )
      try {
        await sendTestMail(smtp.url, {
          from: smtp.from,
          to,
          subject: 'Bastide test mail',
          text: 'This is a test mail sent from the Bastide console: your SMTP settings work.',
          html: '<p>This is a test mail sent from the Bastide console: your SMTP settings work.</p>',
        })
      } catch (err) {
        const e = err as Error & { code?: string; responseCode?: number; response?: string }
        // The server's own words help the operator; they hold no credentials (nodemailer never echoes them).
        throw new AppError('BAD_REQUEST', `The test mail could not be sent: ${e.message}`, {
          smtp: {
            ...(e.code ? { code: e.code } : {}),
            ...(e.responseCode ? { responseCode: e.responseCode } : {}),
            ...(e.response ? { response: String(e.response).slice(0, 500) } : {}),
          },
        })
      }
      await actions.record(db, { actor, action: 'settings.smtp-test', target: to, details: { ok: true } })
      return { sent: true, to }
    },
  }
}

/** The environment variable that configures OAuth provider `id`, if one does. */
export function envProviderVar(config: Config, id: string): string | undefined {
  if (id in config.auth.social) return `BASTIDE_OAUTH_${id.toUpperCase()}_CLIENT_ID`
  if (config.auth.oidc.some((p) => p.id === id)) return `BASTIDE_OIDC_${id.toUpperCase()}_ISSUER`
  return undefined
}

/** Settings in force: env (when set) over stored over defaults. */
export function effectiveOf(config: Config, s: StoredSettings): EffectiveSettings {
  const env = (name: string) => config.env[name] !== undefined
  const methods = Object.fromEntries(AUTH_METHODS.map((m) => [m, s.auth.methods[m] ?? true])) as Record<
    AuthMethod,
    boolean
  >
  const fromEnv = [
    ...Object.entries(config.auth.social).map(([id, c]) => ({
      id,
      type: 'social' as const,
      clientId: c.clientId,
      clientSecret: c.clientSecret,
      issuer: undefined,
      scopes: [] as readonly string[],
      enabled: true,
      source: 'env' as const,
    })),
    ...config.auth.oidc.map((p) => ({
      id: p.id,
      type: 'oidc' as const,
      clientId: p.clientId,
      clientSecret: p.clientSecret,
      issuer: p.issuer,
      scopes: p.scopes,
      enabled: true,
      source: 'env' as const,
    })),
  ]
  const taken = new Set(fromEnv.map((p) => p.id))
  return Object.freeze({
    smtp: {
      url: env(ENV_OF['smtp.url']) ? config.smtpUrl : (s.smtp.url ?? config.smtpUrl),
      from: env(ENV_OF['smtp.from']) ? config.smtpFrom : (s.smtp.from ?? config.smtpFrom),
    },
    cors: {
      origins: env(ENV_OF['cors.origins']) ? config.corsOrigins : (s.cors.origins ?? config.corsOrigins),
    },
    rateLimits: {
      authPerMinute: env(ENV_OF['rateLimits.authPerMinute'])
        ? config.auth.rateLimit
        : (s.rateLimits.authPerMinute ?? config.auth.rateLimit),
    },
    auth: { methods },
    oauth: {
      providers: [
        ...fromEnv,
        ...s.oauth.providers
          .filter((p) => !taken.has(p.id))
          .map((p) => ({ ...p, source: 'database' as const })),
      ],
    },
  })
}

/** The settings as the audit log shows them: one entry per setting, secrets as `{ set }` (and `replaced`). */
function auditState(s: StoredSettings, replaced: ReadonlySet<string>): Record<string, unknown> {
  const secret = (v: string | undefined, key: string) =>
    replaced.has(key) ? { set: true, replaced: true } : { set: v !== undefined }
  return {
    'smtp.url': secret(s.smtp.url, 'smtp.url'),
    'smtp.from': s.smtp.from ?? null,
    'cors.origins': s.cors.origins ?? null,
    'rateLimits.authPerMinute': s.rateLimits.authPerMinute ?? null,
    ...Object.fromEntries(AUTH_METHODS.map((m) => [`auth.methods.${m}`, s.auth.methods[m] ?? null])),
    'oauth.providers': s.oauth.providers.map((p) => ({
      ...p,
      clientSecret: secret(p.clientSecret, `oauth.${p.id}`),
    })),
  }
}
