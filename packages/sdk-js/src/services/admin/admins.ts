import type { Http } from '../../http.ts'

/** A console admin as the admins list shows them (never a secret). */
export interface ConsoleAdminInfo {
  readonly id: string
  readonly email: string
  readonly name: string
  /** Whether they sign in with a TOTP code after their password. */
  readonly twoFactorEnabled: boolean
  /** How many passkeys can sign them in. */
  readonly passkeys: number
  /** ISO 8601. */
  readonly created: string
  /** When they last signed in (ISO 8601); null when they never have. */
  readonly lastSignIn: string | null
}

export interface ConsoleAdminPage {
  readonly items: ConsoleAdminInfo[]
  readonly page: number
  readonly perPage: number
  readonly totalItems: number
  readonly totalPages: number
}

const path = (id: string) => `/api/admin/admins/${encodeURIComponent(id)}`

/**
 * The console's admins, for console admins (`client.admin.admins`): list, add, remove. Adding and removing are
 * audited (`admin.create`, `admin.delete`); the server refuses to remove the last admin or yourself.
 */
export class AdminAdmins {
  constructor(private readonly http: Http) {}

  /**
   * A page of admins, oldest first.
   *
   * @example
   * const { items, totalPages } = await client.admin.admins.list({ page: 1, perPage: 50 })
   */
  async list(q: { page?: number; perPage?: number; signal?: AbortSignal } = {}): Promise<ConsoleAdminPage> {
    const { signal, ...query } = q
    return this.http.request('/api/admin/admins', { query: { ...query }, signal })
  }

  /**
   * One admin.
   *
   * @example
   * const admin = await client.admin.admins.get(id)
   */
  async get(id: string, opts: { signal?: AbortSignal } = {}): Promise<ConsoleAdminInfo> {
    return this.http.request(path(id), { signal: opts.signal })
  }

  /**
   * Adds a console admin who signs in with this email and password (12 characters at least). A 409
   * BastideError when an admin has the address.
   *
   * @example
   * await client.admin.admins.create({ email: 'ada@example.com', password: 'a long passphrase', name: 'Ada' })
   */
  async create(input: { email: string; password: string; name?: string }): Promise<ConsoleAdminInfo> {
    return this.http.request('/api/admin/admins', { method: 'POST', body: input, retry: false })
  }

  /**
   * Removes an admin with their sessions, TOTP and passkeys. Refused for yourself (400) and for the last admin
   * (409).
   *
   * @example
   * await client.admin.admins.remove(admin.id)
   */
  async remove(id: string): Promise<void> {
    await this.http.request(path(id), { method: 'DELETE' })
  }
}
