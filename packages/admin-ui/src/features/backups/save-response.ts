import { download } from '../../lib/download.ts'

/** The file name a response's `content-disposition: attachment; filename="…"` gives; `fallback` otherwise. */
export function attachmentName(res: Response, fallback: string): string {
  const m = /filename="([^"/\\]+)"/.exec(res.headers.get('content-disposition') ?? '')
  return m?.[1] ?? fallback
}

/**
 * Offers a response's body as a file download (an object URL on a link: no navigation, nothing inline for the
 * CSP). The body is read whole first: the admin's credentials go in a header, which a plain link cannot send.
 */
export async function saveResponse(res: Response, fallback: string): Promise<{ name: string; size: number }> {
  const blob = await res.blob()
  const name = attachmentName(res, fallback)
  download(blob, name)
  return { name, size: blob.size }
}
