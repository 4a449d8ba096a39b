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
  const url = URL.createObjectURL(blob)
  const a = document.createElement('a')
  a.href = url
  a.download = name
  document.body.append(a)
  a.click()
  a.remove()
  // Revoked later, not now: the browser may still be starting the download when click() returns.
  setTimeout(() => URL.revokeObjectURL(url), 60_000)
  return { name, size: blob.size }
}
