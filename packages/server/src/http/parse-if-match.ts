import { AppError } from '../errors/index.ts'

/** `If-Match` as a record version: `3`, `"3"` or `W/"3"`; undefined when the header is absent. */
export function parseIfMatch(v: string | undefined): number | undefined {
  if (v === undefined) return undefined
  const m = /^(?:W\/)?"?(\d{1,9})"?$/.exec(v.trim())
  // A precondition that cannot be evaluated fails as a precondition (HTTP 412), not as a bad request.
  if (!m)
    throw new AppError('PRECONDITION_FAILED', 'If-Match must be a record version, e.g. "3".', {
      header: 'If-Match',
    })
  return Number(m[1])
}
