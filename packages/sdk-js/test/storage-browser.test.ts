import type { Page } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { openSdkPage, type SdkPage } from './support/sdk-page.ts'
import { ADMIN_KEY, clientFor, startServer, type TestServer } from './support/server.ts'

/**
 * The XMLHttpRequest path of uploads, in a real browser (Node has no XHR): the SDK bundled with esbuild
 * into a page of the server's origin, uploading with progress, cancelling, and sending tus chunks.
 */
let s: TestServer & { url: string }
let sdk: SdkPage
let page: Page

beforeAll(async () => {
  s = await startServer()
  await clientFor(s, { apiKey: ADMIN_KEY }).storage.createBucket({
    name: 'files',
    rules: { read: '', write: '', delete: '' },
  })
  sdk = await openSdkPage()
  page = sdk.page
})
afterAll(async () => {
  await sdk?.close()
  await s?.close()
})

interface BrowserResult {
  events: { loaded: number; total: number }[]
  obj: { size: number; sha256: string; metadata: Record<string, unknown> }
  back: string
  aborted: string
  exists: boolean
  tus: { size: number; sha256: string }
  tusEvents: number[]
  tusBack: number
}

describe('uploads in a browser (XMLHttpRequest)', () => {
  it('reports progress, cancels, and runs tus chunks', async () => {
    const r = (await page.evaluate(
      async ({ url, key }) => {
        const B = (globalThis as any).Bastide
        const client = B.createClient({ url, apiKey: key })
        const files = client.storage.from('files')
        const hex = async (b: ArrayBuffer) =>
          [...new Uint8Array(await crypto.subtle.digest('SHA-256', b))]
            .map((x) => x.toString(16).padStart(2, '0'))
            .join('')
        const bytes = new Uint8Array(4 * 1024 * 1024).map((_, i) => (i * 31) % 251)
        const events: { loaded: number; total: number }[] = []
        const obj = await files.upload('xhr/big.bin', new Blob([bytes]), {
          onProgress: (p: { loaded: number; total: number }) => events.push(p),
          metadata: { note: 'résumé' },
        })
        const back = await hex(await (await files.download('xhr/big.bin')).arrayBuffer())

        const ctl = new AbortController()
        const aborted = await files
          .upload('xhr/cancelled.bin', new Blob([new Uint8Array(32 * 1024 * 1024)]), {
            signal: ctl.signal,
            onProgress: ({ loaded }: { loaded: number }) => {
              if (loaded > 0) ctl.abort()
            },
          })
          .then(
            () => 'uploaded',
            (e: { code: string }) => e.code,
          )
        await new Promise((res) => setTimeout(res, 300))
        const exists = await files.exists('xhr/cancelled.bin')

        const tusEvents: number[] = []
        const tus = await files.uploadResumable('xhr/tus.bin', bytes, {
          chunkSize: 1024 * 1024,
          onProgress: ({ loaded }: { loaded: number }) => tusEvents.push(loaded),
        }).done
        const tusBack = (await files.download('xhr/tus.bin')).size
        return {
          events,
          obj,
          back,
          aborted,
          exists,
          tus,
          tusEvents,
          tusBack,
          expected: await hex(bytes.buffer),
        }
      },
      { url: s.url, key: ADMIN_KEY },
    )) as BrowserResult & { expected: string }

    expect(r.obj).toMatchObject({ size: 4 * 1024 * 1024, sha256: r.expected, metadata: { note: 'résumé' } })
    expect(r.back).toBe(r.expected)
    expect(r.events[0]).toEqual({ loaded: 0, total: 4 * 1024 * 1024 })
    expect(r.events.at(-1)).toEqual({ loaded: 4 * 1024 * 1024, total: 4 * 1024 * 1024 })
    for (let i = 1; i < r.events.length; i++)
      expect(r.events[i]!.loaded).toBeGreaterThan(r.events[i - 1]!.loaded)
    expect(r.aborted).toBe('ABORTED')
    expect(r.exists).toBe(false)
    expect(r.tus).toMatchObject({ size: 4 * 1024 * 1024, sha256: r.expected })
    expect(r.tusEvents.at(-1)).toBe(4 * 1024 * 1024)
    expect(r.tusBack).toBe(4 * 1024 * 1024)
  })
})
