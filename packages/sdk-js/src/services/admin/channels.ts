import type { Http } from '../../http.ts'

/** Who may join and send on channels matching a definition's pattern (`null`: locked, `''`: everyone). */
export interface ChannelRulesInfo {
  readonly join: string | null
  readonly send: string | null
}

/** A realtime channel definition: a name or a `prefix*` pattern, its rules, whether presence is kept. */
export interface ChannelDefinitionInfo {
  readonly id: string
  readonly pattern: string
  readonly rules: ChannelRulesInfo
  readonly presence: boolean
  readonly created: string
  readonly updated: string
}

const path = (id: string) => `/api/realtime/channels/${encodeURIComponent(id)}`

/**
 * Realtime channel definitions (schema-like: console admins, or API keys with the `schema` scope). Joining a
 * channel and following its presence is `client.realtime.channel(name)`.
 */
export class AdminChannels {
  constructor(private readonly http: Http) {}

  /**
   * Every channel definition, by pattern.
   *
   * @example
   * const defs = await client.admin.channels.list()
   */
  async list(opts: { signal?: AbortSignal } = {}): Promise<ChannelDefinitionInfo[]> {
    return (
      await this.http.request<{ items: ChannelDefinitionInfo[] }>('/api/realtime/channels', {
        signal: opts.signal,
      })
    ).items
  }

  /** @example const def = await client.admin.channels.get(id) */
  async get(id: string, opts: { signal?: AbortSignal } = {}): Promise<ChannelDefinitionInfo> {
    return this.http.request(path(id), { signal: opts.signal })
  }

  /**
   * Defines who may join and send on channels matching `pattern` (a name, or a prefix ending in `*`).
   *
   * @example
   * await client.admin.channels.create({ pattern: 'room:*', rules: { join: "@request.auth.id != ''", send: null } })
   */
  async create(input: {
    pattern: string
    rules?: { join?: string | null; send?: string | null }
    presence?: boolean
  }): Promise<ChannelDefinitionInfo> {
    return this.http.request('/api/realtime/channels', { method: 'POST', body: input })
  }

  /** @example await client.admin.channels.update(id, { presence: false }) */
  async update(
    id: string,
    patch: { pattern?: string; rules?: { join?: string | null; send?: string | null }; presence?: boolean },
  ): Promise<ChannelDefinitionInfo> {
    return this.http.request(path(id), { method: 'PATCH', body: patch })
  }

  /** @example await client.admin.channels.remove(id) */
  async remove(id: string): Promise<void> {
    await this.http.request(path(id), { method: 'DELETE' })
  }
}
