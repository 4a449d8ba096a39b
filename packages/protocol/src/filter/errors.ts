/**
 * A filter or rule the language refuses: a syntax error, an unknown field, a type mismatch. The server answers it
 * as 400 INVALID_FILTER with `details.position`; the SDK throws it as is.
 */
export class FilterError extends Error {
  readonly code = 'INVALID_FILTER' as const
  /** 0-based offset into the filter text. */
  readonly position?: number
  /** The text at `position` (up to 20 characters), for syntax errors. */
  readonly near?: string

  constructor(message: string, position?: number, near?: string) {
    super(message)
    this.name = 'FilterError'
    if (position !== undefined) this.position = position
    if (near !== undefined) this.near = near
  }
}
