/** A value a filter placeholder takes: rendered as a literal of the filter language, escaped. */
export type FilterValue = string | number | boolean | null | Date

type PlaceholderNames<T extends string> = T extends `${string}{:${infer Name}}${infer Rest}`
  ? Name | PlaceholderNames<Rest>
  : never

/** The params a template needs: one key per `{:name}` placeholder, checked at compile time. */
export type FilterParams<T extends string> = string extends T
  ? Readonly<Record<string, FilterValue>>
  : Readonly<Record<PlaceholderNames<T>, FilterValue>>

const PLACEHOLDER = /\{:([A-Za-z_][A-Za-z0-9_]*)\}/y

/**
 * Builds a filter (or rule) expression with values escaped safely: each `{:name}` placeholder outside a quoted
 * string becomes the literal of `params[name]`. Strings are quoted and escaped, numbers written without
 * exponents, dates as ISO-8601 strings, `null`, `true` and `false` as keywords. Never concatenate user input
 * into a filter: pass it here.
 *
 * @example
 * const filter = f('author = {:id} && views > {:n}', { id: user.id, n: 10 })
 * await client.collection('posts').list({ filter })
 */
export function f<const T extends string>(template: T, params: FilterParams<T>): string {
  let out = ''
  let quote: string | undefined
  for (let i = 0; i < template.length; ) {
    const c = template[i]!
    if (quote) {
      out += c
      if (c === '\\' && i + 1 < template.length) {
        out += template[i + 1]
        i += 2
        continue
      }
      if (c === quote) quote = undefined
      i++
      continue
    }
    if (c === "'" || c === '"') {
      quote = c
      out += c
      i++
      continue
    }
    PLACEHOLDER.lastIndex = i
    const m = c === '{' ? PLACEHOLDER.exec(template) : null
    if (m) {
      const name = m[1]!
      if (!Object.hasOwn(params, name)) throw new TypeError(`f(): no value for {:${name}}.`)
      out += literal((params as Record<string, FilterValue>)[name] as FilterValue, name)
      i = PLACEHOLDER.lastIndex
      continue
    }
    out += c
    i++
  }
  return out
}

/**
 * The filter-language literal for one value.
 *
 * @example
 * literal("O'Brien") // → 'O\'Brien'
 */
export function literal(v: FilterValue, name = 'value'): string {
  if (v === null) return 'null'
  if (typeof v === 'boolean') return v ? 'true' : 'false'
  if (typeof v === 'number') return numberLiteral(v, name)
  if (v instanceof Date) {
    if (Number.isNaN(v.getTime())) throw new TypeError(`f(): {:${name}} is an invalid Date.`)
    return `'${v.toISOString()}'`
  }
  if (typeof v === 'string') {
    if (v.includes('\u0000')) throw new TypeError(`f(): {:${name}} contains a NUL character.`)
    return `'${v.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`
  }
  throw new TypeError(`f(): {:${name}} must be a string, number, boolean, Date or null (got ${typeof v}).`)
}

/** Decimal notation (the language has no exponents): 1e-7 → 0.0000001, 1e21 → 1000000000000000000000. */
function numberLiteral(n: number, name: string): string {
  if (!Number.isFinite(n)) throw new TypeError(`f(): {:${name}} is not a finite number.`)
  if (Object.is(n, -0)) return '0'
  const s = String(n)
  const m = /^(-?)(\d)(?:\.(\d+))?e([+-]\d+)$/.exec(s)
  if (!m) return s
  const [, sign, lead, frac = '', expStr] = m
  const digits = lead! + frac
  const exp = Number(expStr)
  if (exp < 0) return `${sign}0.${'0'.repeat(-exp - 1)}${digits}`
  const intLen = exp + 1
  return intLen >= digits.length
    ? `${sign}${digits}${'0'.repeat(intLen - digits.length)}`
    : `${sign}${digits.slice(0, intLen)}.${digits.slice(intLen)}`
}
