import type {
  Webhook,
  WebhookDelivery,
  WebhookDeliveryPage,
  WebhookInput,
  WebhookWithSecret,
} from '@bastide/protocol'
import type { Http } from '../../http.ts'

export type { Webhook, WebhookDelivery, WebhookDeliveryPage, WebhookInput, WebhookWithSecret }

const path = (id: string, rest = '') => `/api/admin/webhooks/${encodeURIComponent(id)}${rest}`

/**
 * Outbound webhooks: record changes POSTed as signed JSON to a URL, retried, with their delivery history.
 * Console admins, the admin key, or API keys with the `functions` scope. See docs/webhooks.md for verifying
 * the `Bastide-Signature` header.
 */
export class AdminWebhooks {
  constructor(private readonly http: Http) {}

  /**
   * Every webhook (no secrets: `secretHint` only).
   *
   * @example
   * const hooks = await client.admin.webhooks.list()
   */
  async list(opts: { signal?: AbortSignal } = {}): Promise<Webhook[]> {
    return (await this.http.request<{ items: Webhook[] }>('/api/admin/webhooks', { signal: opts.signal }))
      .items
  }

  /**
   * Creates a webhook; `secret` in the answer signs its deliveries and is shown this once.
   *
   * @example
   * const { id, secret } = await client.admin.webhooks.create({
   *   url: 'https://example.com/hooks/bastide', collection: 'orders', actions: ['create', 'update'],
   * })
   */
  create(input: WebhookInput): Promise<WebhookWithSecret> {
    return this.http.request('/api/admin/webhooks', { method: 'POST', body: input, retry: false })
  }

  /**
   * @example
   * const hook = await client.admin.webhooks.get(id)
   */
  get(id: string, opts: { signal?: AbortSignal } = {}): Promise<Webhook> {
    return this.http.request(path(id), { signal: opts.signal })
  }

  /**
   * Changes any of the create fields.
   *
   * @example
   * await client.admin.webhooks.update(id, { enabled: false })
   */
  update(id: string, patch: Partial<WebhookInput>): Promise<Webhook> {
    return this.http.request(path(id), { method: 'PATCH', body: patch })
  }

  /**
   * Deletes a webhook with its deliveries and their history.
   *
   * @example
   * await client.admin.webhooks.remove(id)
   */
  async remove(id: string): Promise<void> {
    await this.http.request(path(id), { method: 'DELETE' })
  }

  /**
   * A new signing secret, shown this once; the previous one also signs for 24 hours.
   *
   * @example
   * const { secret } = await client.admin.webhooks.rotateSecret(id)
   */
  rotateSecret(id: string): Promise<WebhookWithSecret> {
    return this.http.request(path(id, '/rotate-secret'), { method: 'POST', retry: false })
  }

  /**
   * Sends a `ping` delivery now (one attempt) and resolves with it: `status` says whether the receiver took it.
   *
   * @example
   * const { status, attempts } = await client.admin.webhooks.test(id)
   */
  test(id: string): Promise<WebhookDelivery> {
    return this.http.request(path(id, '/test'), { method: 'POST', retry: false })
  }

  /**
   * One page of a webhook's deliveries, newest first, each with its attempts; pass `nextCursor` back as `cursor`.
   *
   * @example
   * const { items, nextCursor } = await client.admin.webhooks.deliveries(id, { limit: 20 })
   */
  deliveries(
    id: string,
    q: { cursor?: string; limit?: number; signal?: AbortSignal } = {},
  ): Promise<WebhookDeliveryPage> {
    const { signal, ...query } = q
    return this.http.request(path(id, '/deliveries'), { query, signal })
  }

  /**
   * One delivery, with the payload it sends.
   *
   * @example
   * const { payload } = await client.admin.webhooks.delivery(id, deliveryId)
   */
  delivery(id: string, deliveryId: string, opts: { signal?: AbortSignal } = {}): Promise<WebhookDelivery> {
    return this.http.request(path(id, `/deliveries/${encodeURIComponent(deliveryId)}`), {
      signal: opts.signal,
    })
  }

  /**
   * Queues a delivery again (same id and payload, so the receiver can tell a repeat), whatever its status.
   *
   * @example
   * await client.admin.webhooks.redeliver(id, deliveryId)
   */
  redeliver(id: string, deliveryId: string): Promise<WebhookDelivery> {
    return this.http.request(path(id, `/deliveries/${encodeURIComponent(deliveryId)}/redeliver`), {
      method: 'POST',
    })
  }
}
