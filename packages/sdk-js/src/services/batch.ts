import type { Http } from '../http.ts'
import type { CollectionDef, Schema } from '../types.ts'

export interface BatchRequest {
  readonly method: 'POST' | 'PATCH' | 'DELETE'
  readonly path: string
  readonly body?: unknown
  readonly headers?: Readonly<Record<string, string>>
}

/** One answer per request, in order: the record for creates and updates, `null` for deletes. */
export type BatchResult = unknown[]

/** Collects the writes of a batch: `client.batch((b) => { b.collection('posts').create({...}) })`. */
export class BatchBuilder<S extends Schema> {
  readonly requests: BatchRequest[] = []

  /** Writes on one collection, queued in call order. */
  collection<C extends keyof S & string>(name: C): BatchCollection<S[C]>
  collection(name: string): BatchCollection<CollectionDef>
  collection(name: string): BatchCollection<any> {
    return new BatchCollection(`/api/collections/${encodeURIComponent(name)}/records`, this.requests)
  }

  /** @internal */
  async send(
    http: Http,
    opts: { idempotencyKey?: string | false; signal?: AbortSignal },
  ): Promise<BatchResult> {
    if (this.requests.length === 0) return []
    const res = await http.request<{ responses: { status: number; body: unknown }[] }>('/api/batch', {
      method: 'POST',
      body: { requests: this.requests },
      idempotencyKey: opts.idempotencyKey ?? true,
      signal: opts.signal,
    })
    return res.responses.map((r) => r.body ?? null)
  }
}

export class BatchCollection<C extends CollectionDef> {
  constructor(
    private readonly base: string,
    private readonly out: BatchRequest[],
  ) {}

  /** Queues a create. */
  create(data: Partial<C['create']> & { readonly id?: string }): this {
    this.out.push({ method: 'POST', path: this.base, body: data })
    return this
  }

  /** Queues an update, optionally only over `version`. */
  update(id: string, data: Partial<C['create']>, opts: { version?: number } = {}): this {
    this.out.push({
      method: 'PATCH',
      path: `${this.base}/${encodeURIComponent(id)}`,
      body: data,
      ...(opts.version !== undefined ? { headers: { 'If-Match': `"${opts.version}"` } } : {}),
    })
    return this
  }

  /** Queues a delete. */
  delete(id: string, opts: { version?: number } = {}): this {
    this.out.push({
      method: 'DELETE',
      path: `${this.base}/${encodeURIComponent(id)}`,
      ...(opts.version !== undefined ? { headers: { 'If-Match': `"${opts.version}"` } } : {}),
    })
    return this
  }
}
