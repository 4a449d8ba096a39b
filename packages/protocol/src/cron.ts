/**
 * A 5-field cron schedule (minute hour day-of-month month day-of-week), evaluated in UTC. Shared so the server
 * (which runs it) and the console (which says it in words) read an expression the same way.
 */
export interface CronSchedule {
  readonly source: string
  /** The parsed fields: what the console describes, so its words cannot differ from what runs. */
  readonly fields: CronFields
  /** Whether the schedule fires in the minute `d` falls in. */
  matches(d: Date): boolean
  /** The first minute strictly after `after` the schedule fires at; undefined if it never does (Feb 30). */
  next(after: Date): Date | undefined
}

/** Each field's values, ascending. */
export interface CronFields {
  readonly minutes: readonly number[]
  readonly hours: readonly number[]
  readonly daysOfMonth: readonly number[]
  /** 1 (January) to 12. */
  readonly months: readonly number[]
  /** 0 (Sunday) to 6; a 7 in the expression is Sunday too. */
  readonly daysOfWeek: readonly number[]
  /**
   * Whether the day-of-month / day-of-week field was `*`. As in Vixie cron, when both are restricted a day
   * matches either of them, otherwise it must match both.
   */
  readonly anyDayOfMonth: boolean
  readonly anyDayOfWeek: boolean
}

const MACROS: Record<string, string> = {
  '@yearly': '0 0 1 1 *',
  '@annually': '0 0 1 1 *',
  '@monthly': '0 0 1 * *',
  '@weekly': '0 0 * * 0',
  '@daily': '0 0 * * *',
  '@midnight': '0 0 * * *',
  '@hourly': '0 * * * *',
}
const MONTHS = ['jan', 'feb', 'mar', 'apr', 'may', 'jun', 'jul', 'aug', 'sep', 'oct', 'nov', 'dec']
const DAYS = ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat']

interface FieldSpec {
  readonly name: string
  readonly min: number
  readonly max: number
  readonly names?: readonly string[]
  /** Where the first name maps to (months start at 1). */
  readonly nameBase?: number
}
const FIELDS: readonly FieldSpec[] = [
  { name: 'minute', min: 0, max: 59 },
  { name: 'hour', min: 0, max: 23 },
  { name: 'day of month', min: 1, max: 31 },
  { name: 'month', min: 1, max: 12, names: MONTHS, nameBase: 1 },
  // 7 is Sunday too, as in Vixie cron.
  { name: 'day of week', min: 0, max: 7, names: DAYS, nameBase: 0 },
]

/**
 * Parses a cron expression: five fields of `*`, numbers, names (jan, mon), ranges `a-b`, steps `* /n` and
 * `a-b/n`, lists `a,b`; or a macro (@daily, @hourly...). As in Vixie cron, when both day fields are restricted a
 * day matches either. Throws an Error saying which field is wrong.
 */
export function parseCron(expr: string): CronSchedule {
  const source = expr.trim()
  const parts = (MACROS[source.toLowerCase()] ?? source).split(/\s+/)
  if (parts.length !== 5) throw new Error(`"${source}" has ${parts.length} fields; a cron expression has 5`)
  const sets = parts.map((p, i) => parseField(p, FIELDS[i]!))
  const [minutes, hours, doms, months, dows] = sets as [
    Set<number>,
    Set<number>,
    Set<number>,
    Set<number>,
    Set<number>,
  ]
  if (dows.has(7)) dows.add(0)
  dows.delete(7)
  const domAny = parts[2] === '*'
  const dowAny = parts[4] === '*'
  const sorted = (s: Set<number>) => [...s].sort((a, b) => a - b)
  const fields: CronFields = {
    minutes: sorted(minutes),
    hours: sorted(hours),
    daysOfMonth: sorted(doms),
    months: sorted(months),
    daysOfWeek: sorted(dows),
    anyDayOfMonth: domAny,
    anyDayOfWeek: dowAny,
  }
  const dayMatches = (d: Date) => {
    const dom = doms.has(d.getUTCDate())
    const dow = dows.has(d.getUTCDay())
    if (domAny || dowAny) return dom && dow
    return dom || dow
  }
  const matches = (d: Date) =>
    minutes.has(d.getUTCMinutes()) &&
    hours.has(d.getUTCHours()) &&
    months.has(d.getUTCMonth() + 1) &&
    dayMatches(d)
  return {
    source,
    fields,
    matches,
    next(after) {
      const d = new Date(Math.floor(after.getTime() / 60_000) * 60_000 + 60_000)
      // Steps skip whole months, days and hours that cannot match: a few hundred steps cover years.
      for (let i = 0; i < 100_000; i++) {
        if (d.getUTCFullYear() > after.getUTCFullYear() + 8) return undefined
        if (!months.has(d.getUTCMonth() + 1)) {
          d.setUTCMonth(d.getUTCMonth() + 1, 1)
          d.setUTCHours(0, 0)
        } else if (!dayMatches(d)) {
          d.setUTCDate(d.getUTCDate() + 1)
          d.setUTCHours(0, 0)
        } else if (!hours.has(d.getUTCHours())) d.setUTCHours(d.getUTCHours() + 1, 0)
        else if (!minutes.has(d.getUTCMinutes())) d.setUTCMinutes(d.getUTCMinutes() + 1)
        else return d
      }
      return undefined
    },
  }
}

function parseField(text: string, f: FieldSpec): Set<number> {
  const out = new Set<number>()
  const bad = (why: string) => new Error(`${f.name} "${text}": ${why}`)
  for (const item of text.split(',')) {
    const m = /^(\*|[a-z0-9]+(?:-[a-z0-9]+)?)(?:\/(\d+))?$/i.exec(item)
    if (!m) throw bad('expected *, a value, a range a-b, a step /n or a list')
    const step = m[2] === undefined ? 1 : Number(m[2])
    if (step < 1 || step > f.max) throw bad(`step ${m[2]} is out of range`)
    let lo = f.min
    let hi = f.max
    if (m[1] !== '*') {
      const [a, b] = m[1]!.split('-')
      lo = value(a!, f, bad)
      // `a/n` runs from a to the end of the range.
      hi = b !== undefined ? value(b, f, bad) : m[2] !== undefined ? f.max : lo
      if (hi < lo) throw bad(`range ${lo}-${hi} is backwards`)
    }
    for (let v = lo; v <= hi; v += step) out.add(v)
  }
  return out
}

function value(s: string, f: FieldSpec, bad: (why: string) => Error): number {
  const named = f.names?.indexOf(s.toLowerCase()) ?? -1
  const v = named >= 0 ? named + (f.nameBase ?? 0) : /^\d+$/.test(s) ? Number(s) : Number.NaN
  if (!Number.isInteger(v) || v < f.min || v > f.max) throw bad(`${s} is not in ${f.min}-${f.max}`)
  return v
}
