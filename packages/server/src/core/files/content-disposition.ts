/** Longest file name offered to the browser, in characters (the extension is kept when cutting). */
export const MAX_FILENAME_LENGTH = 200

const FALLBACK_NAME = 'download'

/**
 * An RFC 6266 `Content-Disposition` value for an object, named after the last segment of its key.
 *
 * The name is cleaned first: control characters and bidi overrides (which can disguise `exe` as `gnp`)
 * are removed, `\` counts as a path separator, and the result is capped at `MAX_FILENAME_LENGTH`
 * characters keeping the extension. `filename="…"` is an ASCII fallback where `"`, `\`, `%` and non-ASCII
 * characters become `_` (some browsers percent-decode it, and escapes inside quotes are poorly supported);
 * `filename*=UTF-8''…` (RFC 5987) carries the exact name whenever the fallback differs.
 *
 * @example
 * contentDisposition('attachment', 'invoices/2024/naïve.pdf')
 * // → `attachment; filename="na_ve.pdf"; filename*=UTF-8''na%C3%AFve.pdf`
 */
export function contentDisposition(kind: 'inline' | 'attachment', filename: string): string {
  const name = cleanFilename(filename)
  const ascii = name.replace(/[^\x20-\x7e]|["\\%]/gu, '_')
  const header = `${kind}; filename="${ascii}"`
  return ascii === name ? header : `${header}; filename*=UTF-8''${encodeRfc5987(name)}`
}

function cleanFilename(keyOrName: string): string {
  const lastSegment = keyOrName.split(/[/\\]/).pop() ?? ''
  const cleaned = lastSegment
    // Lone surrogates cannot be encoded as UTF-8 (encodeURIComponent would throw).
    .replace(/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g, '\uFFFD')
    // biome-ignore lint/suspicious/noControlCharactersInRegex: removing control characters is the point.
    .replace(/[\u0000-\u001f\u007f-\u009f\u200e\u200f\u202a-\u202e\u2066-\u2069]/g, '')
    .trim()
    // Windows drops trailing dots and spaces; leading and trailing dots alone are no name.
    .replace(/[. ]+$/, '')
  if (cleaned === '' || /^\.+$/.test(cleaned)) return FALLBACK_NAME
  return truncateKeepingExtension(cleaned)
}

function truncateKeepingExtension(name: string): string {
  const chars = Array.from(name) // code points, so a surrogate pair is never cut in half
  if (chars.length <= MAX_FILENAME_LENGTH) return name
  const dot = name.lastIndexOf('.')
  const ext = dot > 0 ? Array.from(name.slice(dot)) : []
  // A "extension" longer than 20 characters is part of the name, not a type hint worth keeping.
  const keep = ext.length > 1 && ext.length <= 20 ? ext : []
  return chars
    .slice(0, MAX_FILENAME_LENGTH - keep.length)
    .concat(keep)
    .join('')
}

/** RFC 5987 `value-chars`: encodeURIComponent leaves `'()*` and `!` alone; attr-char allows only `!`. */
function encodeRfc5987(value: string): string {
  return encodeURIComponent(value).replace(/['()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`)
}
