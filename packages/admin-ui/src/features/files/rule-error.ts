/**
 * Bucket rule errors as the server words them: `rules.write` → "Unknown field 'ownr'. (at 12)". The position
 * is an offset into the rule's text; the console points at it under the rule.
 */
export interface RuleError {
  readonly message: string
  /** Offset into the rule, when the server gave one. */
  readonly position: number | undefined
}

/** Splits "message (at 12)" into the message and 12. */
export function parseRuleError(text: string): RuleError {
  const m = /^(.*?)\s*\(at (\d+)\)\s*$/s.exec(text)
  if (!m) return { message: text, position: undefined }
  return { message: m[1]!, position: Number(m[2]) }
}

/**
 * The line of `source` holding `position` and a caret line under it (`   ^`), for a monospace display.
 * Positions past the end point just after the last character.
 */
export function caretLines(
  source: string,
  position: number,
): { line: string; caret: string; lineNo: number } {
  const at = Math.max(0, Math.min(position, source.length))
  const start = source.lastIndexOf('\n', at - 1) + 1
  const endNl = source.indexOf('\n', at)
  const end = endNl < 0 ? source.length : endNl
  const lineNo = source.slice(0, start).split('\n').length
  return { line: source.slice(start, end), caret: `${' '.repeat(at - start)}^`, lineNo }
}

/**
 * A VALIDATION_FAILED answer's per-field messages: `details.fields` maps a path (`rules.write`, `name`) to
 * `{ code, message }` (or, from older servers, a plain message).
 */
export function fieldMessages(details: unknown): Map<string, string> {
  const out = new Map<string, string>()
  const fields = (details as { fields?: unknown } | null | undefined)?.fields
  if (!fields || typeof fields !== 'object') return out
  for (const [k, v] of Object.entries(fields as Record<string, unknown>)) {
    if (typeof v === 'string') out.set(k, v)
    else if (v && typeof v === 'object' && typeof (v as { message?: unknown }).message === 'string')
      out.set(k, (v as { message: string }).message)
    else out.set(k, JSON.stringify(v))
  }
  return out
}
