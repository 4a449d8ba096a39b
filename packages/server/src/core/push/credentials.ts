import { createECDH, createPrivateKey, generateKeyPairSync, hkdfSync, type KeyObject } from 'node:crypto'
import type { PushCredentialProvider, PushCredentialsStatus } from '@bastide/protocol'
import { sql } from 'kysely'
import { z } from 'zod'
import type { Db } from '../../db/create-db.ts'
import { errors, parseInput } from '../../errors/index.ts'
import { type AdminActions, audited } from '../../events/admin-actions.ts'
import { openSecret, sealSecret } from '../functions/sealed-secret.ts'

export interface ApnsCredentials {
  readonly teamId: string
  readonly keyId: string
  /** The .p8 key (PEM, EC P-256). */
  readonly privateKey: string
  readonly bundleId: string
}

export interface FcmServiceAccount {
  readonly project_id: string
  readonly client_email: string
  /** PEM, RSA. */
  readonly private_key: string
  readonly token_uri: string
}

/** VAPID keys as the `web-push` package takes them: base64url raw public point (65 bytes) and private scalar (32). */
export interface VapidCredentials {
  readonly subject: string
  readonly publicKey: string
  readonly privateKey: string
}

export interface LoadedCredentials {
  readonly apns?: ApnsCredentials
  readonly fcm?: FcmServiceAccount
  readonly webpush?: VapidCredentials
  /** Changes on every write (senders built from an older version are rebuilt). */
  readonly version: string
}

export interface PushCredentials {
  /** What is configured, never a secret. */
  status(): Promise<PushCredentialsStatus>
  /** Validates `input` for `provider` (400 on bad input, keys included), seals its secret and stores it. */
  set(provider: PushCredentialProvider, input: unknown, by?: string): Promise<PushCredentialsStatus>
  /** Removes a provider's credentials (nothing to remove is fine). */
  remove(provider: PushCredentialProvider, by?: string): Promise<PushCredentialsStatus>
  /** Decrypted, cached; re-read when the rows changed (checked with one cheap query, at most every 2 s). */
  load(): Promise<LoadedCredentials>
}

/** How often load() asks whether the rows changed. */
const RECHECK_MS = 2000

/**
 * The key credentials are sealed with: HKDF of BASTIDE_SECRET with its own label, so neither the server secret nor
 * the functions' secrets key ever opens them.
 */
export function pushCredentialsKey(secret: string): Buffer {
  return Buffer.from(hkdfSync('sha256', secret, Buffer.alloc(0), 'bastide/push/credentials', 32))
}

const b64url = /^[A-Za-z0-9_-]+$/
const fromB64url = (s: string) => Buffer.from(s, 'base64url')

/** A PEM private key of the given type, or undefined when it does not parse as one. */
function privateKeyOf(pem: string): KeyObject | undefined {
  try {
    return createPrivateKey({ key: pem, format: 'pem' })
  } catch {
    return undefined
  }
}

const apnsId = (what: string) =>
  z
    .string()
    .trim()
    .regex(/^[A-Z0-9]{10}$/, `The ${what} is 10 characters of A-Z and 0-9.`)

const apnsInput = z
  .object({
    teamId: apnsId('team id'),
    keyId: apnsId('key id'),
    privateKey: z
      .string()
      .max(10_000)
      .refine((pem) => {
        const k = privateKeyOf(pem)
        return k?.asymmetricKeyType === 'ec' && k.asymmetricKeyDetails?.namedCurve === 'prime256v1'
      }, 'Must be the .p8 file’s text: an EC P-256 private key in PEM.')
      .optional(),
    bundleId: z
      .string()
      .trim()
      .min(1)
      .max(255)
      .regex(/^[A-Za-z0-9.-]+$/, 'A bundle id (com.example.app).'),
  })
  .strict()

/** The token endpoint gets a signed assertion and is called by the server: https only (the FCM sender also refuses private addresses unless BASTIDE_PUSH_ALLOW_HOSTS lists the host). */
const httpsUrl = z
  .string()
  .max(2048)
  .refine((v) => /^https:\/\//i.test(v) && URL.canParse(v), 'Must be an https URL.')

const serviceAccount = z.object({
  project_id: z.string().min(1).max(200),
  client_email: z.string().min(3).max(320).includes('@'),
  private_key: z
    .string()
    .max(10_000)
    .refine(
      (pem) => privateKeyOf(pem)?.asymmetricKeyType === 'rsa',
      'Must be an RSA private key in PEM (the service account’s key).',
    ),
  token_uri: httpsUrl,
})

const fcmInput = z.object({ serviceAccount: z.string().min(2).max(50_000) }).strict()

const webPushInput = z
  .object({
    subject: z
      .string()
      .trim()
      .max(500)
      .refine(
        (v) => (/^mailto:.+@.+/i.test(v) || /^https:\/\//i.test(v)) && URL.canParse(v),
        'A mailto: or https: URL the push services may contact.',
      ),
    publicKey: z.string().regex(b64url, 'base64url').max(200).optional(),
    privateKey: z.string().regex(b64url, 'base64url').max(200).optional(),
    regenerate: z
      .boolean()
      .optional()
      .describe('true: a new pair replaces the stored one (every browser subscription must be made again).'),
  })
  .strict()

/** A fresh VAPID pair in the `web-push` format (generateVAPIDKeys). */
export function generateVapidKeys(): { publicKey: string; privateKey: string } {
  const jwk = generateKeyPairSync('ec', { namedCurve: 'prime256v1' }).privateKey.export({ format: 'jwk' })
  const pub = Buffer.concat([Buffer.from([4]), fromB64url(jwk.x!), fromB64url(jwk.y!)])
  return { publicKey: pub.toString('base64url'), privateKey: jwk.d! }
}

/** Whether `privateKey` (32 bytes) is the private half of `publicKey` (65-byte uncompressed point). */
function vapidPairMatches(publicKey: string, privateKey: string): boolean {
  const pub = fromB64url(publicKey)
  const priv = fromB64url(privateKey)
  if (pub.length !== 65 || pub[0] !== 4 || priv.length !== 32) return false
  try {
    const ecdh = createECDH('prime256v1')
    ecdh.setPrivateKey(priv)
    return ecdh.getPublicKey().equals(pub)
  } catch {
    return false
  }
}

interface Row {
  provider: PushCredentialProvider
  config: Record<string, string>
  secret: Buffer
  updated: string
}

/** What a provider's row holds: its public part (shown, audited) and its secret (sealed). */
interface Stored {
  readonly config: Record<string, string>
  readonly secret: string
}

const where = (provider: string) => `push:${provider}`

/**
 * Provider credentials (APNs .p8 key, FCM service account, VAPID keys), one row per provider: the public part in
 * `config`, the secret sealed (AES-256-GCM, bound to its provider) with a key derived from BASTIDE_SECRET. Changes
 * are recorded as admin actions, without their secrets.
 */
export function createPushCredentials(deps: {
  readonly db: Db
  readonly secret: string
  readonly actions?: AdminActions
}): PushCredentials {
  const { db } = deps
  const key = pushCredentialsKey(deps.secret)
  let cached: LoadedCredentials | undefined
  let checkedAt = 0
  let loading: Promise<LoadedCredentials> | undefined

  async function rows(): Promise<Row[]> {
    return (await db
      .selectFrom('bastide.push_credentials')
      .selectAll()
      .orderBy('provider')
      .execute()) as Row[]
  }

  function statusOf(rs: readonly Row[]): PushCredentialsStatus {
    const by = new Map(rs.map((r) => [r.provider, r]))
    const apns = by.get('apns')
    const fcm = by.get('fcm')
    const webpush = by.get('webpush')
    return {
      apns: apns
        ? {
            teamId: apns.config.teamId!,
            keyId: apns.config.keyId!,
            bundleId: apns.config.bundleId!,
            updatedAt: apns.updated,
          }
        : null,
      fcm: fcm
        ? { projectId: fcm.config.projectId!, clientEmail: fcm.config.clientEmail!, updatedAt: fcm.updated }
        : null,
      webpush: webpush
        ? {
            subject: webpush.config.subject!,
            publicKey: webpush.config.publicKey!,
            updatedAt: webpush.updated,
          }
        : null,
    }
  }

  /** The row to store for `input`; `current` opens the stored row (an APNs or Web Push update may keep its keys). */
  async function prepare(
    provider: PushCredentialProvider,
    input: unknown,
    current: () => Promise<Stored | undefined>,
  ): Promise<Stored> {
    switch (provider) {
      case 'apns': {
        const a = parseInput(apnsInput, input)
        const privateKey = a.privateKey ?? (await current())?.secret
        if (privateKey === undefined)
          throw errors.validation({
            privateKey: { code: 'required', message: 'The .p8 key is required the first time.' },
          })
        return { config: { teamId: a.teamId, keyId: a.keyId, bundleId: a.bundleId }, secret: privateKey }
      }
      case 'fcm': {
        const { serviceAccount: text } = parseInput(fcmInput, input)
        let json: unknown
        try {
          json = JSON.parse(text)
        } catch {
          throw errors.validation({
            serviceAccount: { code: 'invalid_json', message: 'The service account file is not valid JSON.' },
          })
        }
        const r = serviceAccount.safeParse(json)
        if (!r.success) {
          const issue = r.error.issues[0]!
          throw errors.validation({
            [`serviceAccount.${issue.path.join('.')}`]: { code: issue.code, message: issue.message },
          })
        }
        const sa: FcmServiceAccount = {
          project_id: r.data.project_id,
          client_email: r.data.client_email,
          private_key: r.data.private_key,
          token_uri: r.data.token_uri,
        }
        return {
          config: { projectId: sa.project_id, clientEmail: sa.client_email, tokenUri: sa.token_uri },
          secret: JSON.stringify(sa),
        }
      }
      case 'webpush': {
        const w = parseInput(webPushInput, input)
        if ((w.publicKey === undefined) !== (w.privateKey === undefined))
          throw errors.validation({
            [w.publicKey === undefined ? 'publicKey' : 'privateKey']: {
              code: 'required',
              message:
                'Give both VAPID keys, or neither (the stored pair is kept; a new one is generated if none).',
            },
          })
        const own = w.publicKey !== undefined && w.privateKey !== undefined
        if (own && w.regenerate)
          throw errors.validation({
            regenerate: { code: 'conflict', message: 'Give a key pair or ask for a new one, not both.' },
          })
        // A subject-only update keeps the stored pair: a new one would break every browser subscription, so it
        // is made only when asked for (regenerate) or when there is none.
        const stored = own || w.regenerate ? undefined : await current()
        const pair = own
          ? { publicKey: w.publicKey!, privateKey: w.privateKey! }
          : stored?.config.publicKey !== undefined
            ? { publicKey: stored.config.publicKey, privateKey: stored.secret }
            : generateVapidKeys()
        if (!vapidPairMatches(pair.publicKey, pair.privateKey))
          throw errors.validation({
            privateKey: {
              code: 'invalid_key',
              message:
                'The VAPID keys must be a P-256 pair: the raw public point (65 bytes) and private key (32 bytes), base64url.',
            },
          })
        return { config: { subject: w.subject, publicKey: pair.publicKey }, secret: pair.privateKey }
      }
    }
  }

  function open(r: Row): LoadedCredentials[PushCredentialProvider] {
    const s = openSecret(key, where(r.provider), r.secret)
    switch (r.provider) {
      case 'apns':
        return {
          teamId: r.config.teamId!,
          keyId: r.config.keyId!,
          bundleId: r.config.bundleId!,
          privateKey: s,
        }
      case 'fcm':
        return JSON.parse(s) as FcmServiceAccount
      case 'webpush':
        return { subject: r.config.subject!, publicKey: r.config.publicKey!, privateKey: s }
    }
  }

  /** One short query: changes whenever any row is written (a new nonce each time) or removed. */
  async function currentVersion(): Promise<string> {
    const r = await sql<{ v: string | null }>`
      SELECT md5(string_agg(provider || ':' || md5(secret), ',' ORDER BY provider)) AS v
      FROM bastide.push_credentials`.execute(db)
    return r.rows[0]?.v ?? 'none'
  }

  async function reload(): Promise<LoadedCredentials> {
    const version = await currentVersion()
    if (cached?.version === version) return cached
    const out: { -readonly [K in keyof LoadedCredentials]: LoadedCredentials[K] } = { version }
    for (const r of await rows()) {
      // A row sealed under another BASTIDE_SECRET does not open: that provider counts as not configured.
      try {
        ;(out as Record<string, unknown>)[r.provider] = open(r)
      } catch {}
    }
    cached = out
    return out
  }

  const forget = () => {
    checkedAt = 0
  }

  return {
    async status() {
      return statusOf(await rows())
    },
    async set(provider, input, by = 'admin') {
      await audited(
        db,
        deps.actions,
        { actor: by, action: 'push.credentials.set', target: provider },
        async (trx) => {
          const before = (await trx
            .selectFrom('bastide.push_credentials')
            .selectAll()
            .where('provider', '=', provider)
            .forUpdate()
            .executeTakeFirst()) as Row | undefined
          const stored = await prepare(provider, input, async () => {
            if (!before) return undefined
            // Sealed under another BASTIDE_SECRET: as good as nothing stored.
            try {
              return { config: before.config, secret: openSecret(key, where(provider), before.secret) }
            } catch {
              return undefined
            }
          })
          const sealed = sealSecret(key, where(provider), stored.secret)
          await trx
            .insertInto('bastide.push_credentials')
            .values({ provider, config: JSON.stringify(stored.config), secret: sealed })
            .onConflict((oc) =>
              oc
                .column('provider')
                .doUpdateSet({ config: JSON.stringify(stored.config), secret: sealed, updated: sql`now()` }),
            )
            .execute()
          return {
            result: undefined,
            before: before?.config ?? {},
            after: stored.config,
          }
        },
      )
      forget()
      return statusOf(await rows())
    },
    async remove(provider, by = 'admin') {
      await audited(
        db,
        deps.actions,
        { actor: by, action: 'push.credentials.delete', target: provider },
        async (trx) => {
          const gone = (await trx
            .deleteFrom('bastide.push_credentials')
            .where('provider', '=', provider)
            .returning('config')
            .executeTakeFirst()) as { config: Record<string, string> } | undefined
          return { result: undefined, before: gone?.config ?? {}, after: {} }
        },
      )
      forget()
      return statusOf(await rows())
    },
    async load() {
      if (cached && Date.now() - checkedAt < RECHECK_MS) return cached
      loading ??= reload().finally(() => {
        loading = undefined
      })
      const c = await loading
      checkedAt = Date.now()
      return c
    },
  }
}
