/**
 * Offers a Blob as a file download: an object URL on a link (no navigation, nothing inline for the CSP). The URL is
 * revoked a minute later, not at once: the browser may still be starting the download when click() returns.
 */
export function download(blob: Blob, name: string): void {
  const url = URL.createObjectURL(blob)
  const a = document.createElement('a')
  a.href = url
  a.download = name
  document.body.append(a)
  a.click()
  a.remove()
  setTimeout(() => URL.revokeObjectURL(url), 60_000)
}
