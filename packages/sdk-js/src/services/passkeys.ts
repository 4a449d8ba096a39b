import { BastideError, ErrorCodes } from '../errors.ts'
import type { Http } from '../http.ts'
import {
  type AuthenticatorTransportJSON,
  browserCreateCredential,
  browserGetCredential,
  type CreateCredential,
  type GetCredential,
  type PublicKeyCredentialCreationOptionsJSON,
  type PublicKeyCredentialRequestOptionsJSON,
} from '../webauthn.ts'
import type { Session, SessionSink } from './session.ts'

/** A passkey registered on the signed-in account (no key material: the public key stays on the server). */
export interface Passkey {
  readonly id: string
  /** The name given at registration, e.g. "MacBook". */
  readonly name: string | null
  readonly userId: string
  /** The WebAuthn credential id (base64url), as authenticators report it. */
  readonly credentialID: string
  /** `singleDevice` or `multiDevice` (synced, e.g. iCloud Keychain, Google Password Manager). */
  readonly deviceType: string
  readonly backedUp: boolean
  readonly transports: readonly AuthenticatorTransportJSON[]
  /** ISO-8601. */
  readonly createdAt: string
  /** The authenticator model (AAGUID), when it tells. */
  readonly aaguid: string | null
}

/** The server's passkey row, before it is shaped into a {@link Passkey}. */
interface PasskeyRow {
  readonly id: string
  readonly name?: string | null
  readonly userId: string
  readonly credentialID: string
  readonly deviceType: string
  readonly backedUp: boolean
  readonly transports?: string | null
  readonly createdAt: string
  readonly aaguid?: string | null
}

/**
 * Passkeys: sign in with one, and add, list and delete the signed-in user's. The WebAuthn ceremony itself
 * is a callback taking and returning the standard JSON: the browser's `navigator.credentials` by default;
 * in React Native pass a passkey library's functions (react-native-passkey's `Passkey.create`/`Passkey.get`
 * take and return exactly these shapes). The relying party is the server's host (`BASTIDE_PUBLIC_URL`).
 *
 * @example
 * // React Native
 * import { Passkey } from 'react-native-passkey'
 * await client.auth.passkey.signIn({ getCredential: (o) => Passkey.get(o) })
 */
export class PasskeyService {
  readonly #http: Http
  readonly #auth: SessionSink

  constructor(http: Http, auth: SessionSink) {
    this.#http = http
    this.#auth = auth
  }

  /**
   * Signs in with a passkey: the server's challenge, the platform's signature, a new session. Discoverable
   * credentials: the user picks an account in the platform's sheet, no e-mail asked.
   *
   * @example
   * try { await client.auth.passkey.signIn() }
   * catch (e) { if (isBastideError(e, 'PASSKEY_CANCELLED')) return }
   */
  async signIn(opts: { getCredential?: GetCredential; signal?: AbortSignal } = {}): Promise<Session> {
    const options = await this.#http.request<PublicKeyCredentialRequestOptionsJSON>(
      '/api/auth/passkey/generate-authenticate-options',
      { auth: 'none', signal: opts.signal },
    )
    const response = await (opts.getCredential ?? browserGetCredential)(options)
    // The challenge rides a cookie the server set on the options answer: the browser (same origin) and
    // React Native's native fetch carry it back by themselves.
    const res = await this.#http.send('/api/auth/passkey/verify-authentication', {
      method: 'POST',
      auth: 'none',
      body: { response },
      retry: false,
      signal: opts.signal,
    })
    const body = (await res.json().catch(() => undefined)) as { session?: { token?: unknown } } | undefined
    const token =
      typeof body?.session?.token === 'string' ? body.session.token : res.headers.get('set-auth-token')
    if (!token) {
      throw new BastideError({
        code: ErrorCodes.INVALID_RESPONSE,
        status: res.status,
        message: 'The passkey sign-in answered no session.',
      })
    }
    return this.#auth.setSessionFromToken(token)
  }

  /**
   * Adds a passkey to the signed-in account (a recent sign-in is required: within the last day).
   *
   * @example
   * const passkey = await client.auth.passkey.register({ name: 'Work laptop' })
   */
  async register(
    opts: {
      name?: string
      createCredential?: CreateCredential
      /** `platform` (this device's Face ID, Windows Hello…) or `cross-platform` (a security key, a phone). */
      authenticatorAttachment?: 'platform' | 'cross-platform'
      signal?: AbortSignal
    } = {},
  ): Promise<Passkey> {
    const options = await this.#http.request<PublicKeyCredentialCreationOptionsJSON>(
      '/api/auth/passkey/generate-register-options',
      {
        auth: 'session',
        query: { authenticatorAttachment: opts.authenticatorAttachment },
        signal: opts.signal,
      },
    )
    const response = await (opts.createCredential ?? browserCreateCredential)(options)
    const row = await this.#http.request<PasskeyRow>('/api/auth/passkey/verify-registration', {
      method: 'POST',
      auth: 'session',
      body: { response, ...(opts.name ? { name: opts.name } : {}) },
      retry: false,
      signal: opts.signal,
    })
    return toPasskey(row)
  }

  /**
   * The signed-in user's passkeys.
   *
   * @example
   * const passkeys = await client.auth.passkey.list()
   */
  async list(opts: { signal?: AbortSignal } = {}): Promise<Passkey[]> {
    const rows = await this.#http.request<PasskeyRow[]>('/api/auth/passkey/list-user-passkeys', {
      auth: 'session',
      signal: opts.signal,
    })
    return (rows ?? []).map(toPasskey)
  }

  /**
   * Deletes one of the signed-in user's passkeys (the authenticator keeps its key, which no longer signs
   * anyone in).
   *
   * @example
   * await client.auth.passkey.delete(passkey.id)
   */
  async delete(id: string, opts: { signal?: AbortSignal } = {}): Promise<void> {
    await this.#http.request('/api/auth/passkey/delete-passkey', {
      method: 'POST',
      auth: 'session',
      body: { id },
      signal: opts.signal,
    })
  }
}

function toPasskey(r: PasskeyRow): Passkey {
  return {
    id: r.id,
    name: r.name ?? null,
    userId: r.userId,
    credentialID: r.credentialID,
    deviceType: r.deviceType,
    backedUp: r.backedUp,
    transports: (r.transports ? r.transports.split(',').filter(Boolean) : []) as AuthenticatorTransportJSON[],
    createdAt: typeof r.createdAt === 'string' ? r.createdAt : new Date(r.createdAt).toISOString(),
    aaguid: r.aaguid ?? null,
  }
}
