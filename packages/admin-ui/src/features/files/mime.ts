/**
 * MIME allow-lists as buckets hold them: exact types (`image/png`) or wildcards (`image/*`, `*`). The server
 * sniffs the type from the bytes and decides; the console uses this only to warn before an upload and to know
 * what it can preview. Same semantics as the server: wildcards never admit active content (SVG, HTML, XML,
 * scripts, PDF), which comes in only when listed by name.
 */

const ACTIVE = new Set([
  'text/html',
  'application/xhtml+xml',
  'image/svg+xml',
  'text/xml',
  'application/xml',
  'text/xsl',
  'application/xslt+xml',
  'application/javascript',
  'application/ecmascript',
  'application/x-javascript',
  'application/x-ecmascript',
  'text/javascript',
  'text/ecmascript',
  'text/jscript',
  'text/livescript',
  'text/x-javascript',
  'text/x-ecmascript',
  'application/pdf',
  'application/x-shockwave-flash',
  'multipart/x-mixed-replace',
])

/** `Image/PNG; charset=x` → `image/png`; anything that is not `type/subtype` → ''. */
export function baseType(type: string): string {
  const m = (type.split(';')[0] ?? '').trim().toLowerCase()
  return /^[a-z0-9!#$&^_.+-]+\/[a-z0-9!#$&^_.+-]+$/.test(m) ? m : ''
}

/** Whether a browser would run script or render a document of this type. */
export function isActiveContent(type: string): boolean {
  const m = baseType(type)
  return m !== '' && (ACTIVE.has(m) || m.endsWith('+xml'))
}

/** Whether `type` is admitted by `patterns`; an empty list admits anything. */
export function mimeAllowed(type: string, patterns: readonly string[]): boolean {
  if (patterns.length === 0) return true
  const m = baseType(type)
  if (!m) return false
  const family = m.slice(0, m.indexOf('/'))
  const active = isActiveContent(m)
  return patterns.some((raw) => {
    const p = (raw.split(';')[0] ?? '').trim().toLowerCase()
    if (p === m) return true
    return !active && (p === '*' || p === '*/*' || p === `${family}/*`)
  })
}

/** Types a browser shows as an <img> and the server makes variants of (`?width=`). */
export function isPreviewableImage(type: string): boolean {
  return /^image\/(png|jpeg|gif|webp|avif)$/.test(baseType(type))
}

/** The allow-list as typed in a text box: separated by commas, spaces or new lines, duplicates removed. */
export function parseMimeList(text: string): string[] {
  const out: string[] = []
  for (const part of text.split(/[\s,]+/)) {
    const p = part.trim()
    if (p && !out.includes(p)) out.push(p)
  }
  return out
}

/**
 * The file picker's `accept` for an allow-list (a hint to the picker, not a check): `*` admits anything, so
 * no filter then.
 */
export function acceptAttribute(patterns: readonly string[]): string | undefined {
  if (patterns.length === 0 || patterns.some((p) => p === '*' || p === '*/*')) return undefined
  return patterns.join(',')
}
