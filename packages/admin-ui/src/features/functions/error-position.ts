import { BastideError } from '@bastide/sdk'

/** A 1-based line and column in a function's source. */
export interface SourcePosition {
  readonly line: number
  readonly column: number
}

/**
 * Where the server's FUNCTION_INVALID points in `source`: `details.line` / `details.column` when it sends them,
 * else the first position its message names (see positionInText).
 * Null when there is none, or it is outside the source.
 */
export function errorPosition(error: unknown, source: string): SourcePosition | null {
  const lines = source.split('\n').length
  const valid = (line: number, column: number): SourcePosition | null =>
    Number.isInteger(line) && line >= 1 && line <= lines
      ? { line, column: Number.isInteger(column) && column >= 1 ? column : 1 }
      : null
  if (error instanceof BastideError) {
    const d = (error.details ?? {}) as { line?: unknown; column?: unknown }
    if (typeof d.line === 'number') return valid(d.line, typeof d.column === 'number' ? d.column : 1)
  }
  const message = error instanceof Error ? error.message : typeof error === 'string' ? error : ''
  return positionInText(message, lines)
}

/**
 * The first `line:column` (or `line N`) in a message, within 1..lines: a stack frame of the module (`at
 * function:3:14`, `at blob:null/…:3:14`, `index.ts:3:14`), a parser's `(3:14)`, or `line 3, column 14`.
 */
export function positionInText(message: string, lines: number): SourcePosition | null {
  const patterns = [
    /\bline (\d+)(?:,? ?col(?:umn)? (\d+))?/i,
    /\((\d+):(\d+)\)/,
    /[^\s\d:]\S*:(\d+):(\d+)(?!\d)/,
  ]
  let best: { index: number; pos: SourcePosition } | null = null
  for (const re of patterns) {
    const m = re.exec(message)
    if (!m) continue
    const line = Number(m[1])
    const column = m[2] ? Number(m[2]) : 1
    if (line < 1 || line > lines) continue
    if (!best || m.index < best.index) best = { index: m.index, pos: { line, column } }
  }
  return best?.pos ?? null
}
