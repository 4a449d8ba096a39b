/** Secret values this long or longer are redacted wherever they appear; shorter ones only as whole words. */
const MIN_ANYWHERE = 4

/**
 * Replaces each secret's value in a text with `[redacted]`: as written, JSON-escaped (`JSON.stringify` of an
 * object holding it) and URI-encoded (encodeURIComponent, encodeURI, form encoding), longest first so that no
 * part of one is left. A value under 4 characters is only replaced where it stands alone (no letter or digit on either
 * side): replacing every "a" or "42" in every log line would hide the log and reveal the secret anyway.
 * Redact a text before cutting it to size, or the cut may leave a prefix of a value that no longer matches.
 */
export function secretRedactor(secrets: Readonly<Record<string, string>>): (s: string) => string {
  const forms = new Set<string>()
  for (const v of Object.values(secrets)) {
    if (v.length === 0) continue
    forms.add(v)
    forms.add(JSON.stringify(v).slice(1, -1))
    try {
      forms.add(encodeURIComponent(v))
      // As a URL keeps it (`new URL`, fetch's own messages) and as a form or URLSearchParams writes it.
      forms.add(encodeURI(v))
      forms.add(new URLSearchParams({ v }).toString().slice(2))
    } catch {
      // A lone surrogate: no URI form.
    }
  }
  const sorted = [...forms].sort((a, b) => b.length - a.length)
  const long = sorted.filter((v) => v.length >= MIN_ANYWHERE)
  const short = sorted.filter((v) => v.length < MIN_ANYWHERE)
  const alone =
    short.length === 0
      ? undefined
      : new RegExp(`(?<![\\p{L}\\p{N}])(?:${short.map(escapeRegExp).join('|')})(?![\\p{L}\\p{N}])`, 'gu')
  if (long.length === 0 && alone === undefined) return (s) => s
  return (s) => {
    let out = s
    for (const v of long) if (out.includes(v)) out = out.split(v).join('[redacted]')
    return alone === undefined ? out : out.replace(alone, '[redacted]')
  }
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')
}
