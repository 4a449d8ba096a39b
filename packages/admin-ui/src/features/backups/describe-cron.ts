import { type CronFields, parseCron } from '@bastide/protocol'

const DAYS = ['Sunday', 'Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday']
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec']

const two = (n: number) => String(n).padStart(2, '0')
const ordinal = (n: number) =>
  `${n}${n % 10 === 1 && n !== 11 ? 'st' : n % 10 === 2 && n !== 12 ? 'nd' : n % 10 === 3 && n !== 13 ? 'rd' : 'th'}`
const single = (values: readonly number[]) => (values.length === 1 ? values[0] : undefined)

/** The step `n` when `values` are exactly 0, n, 2n... up to `max` (what `* /n` parses to); else undefined. */
function step(values: readonly number[], max: number): number | undefined {
  const n = values[1]
  if (values[0] !== 0 || n === undefined) return undefined
  return values.length === Math.floor(max / n) + 1 && values.every((v, i) => v === i * n) ? n : undefined
}

/** Days of week as words: runs of three or more as "Monday to Friday", others listed ("Sunday, Saturday"). */
function daysOfWeek(days: readonly number[]): string {
  const runs: number[][] = []
  for (const d of days) {
    const last = runs.at(-1)
    if (last && last.at(-1) === d - 1) last.push(d)
    else runs.push([d])
  }
  return runs
    .flatMap((r) => (r.length >= 3 ? [`${DAYS[r[0]!]} to ${DAYS[r.at(-1)!]}`] : r.map((d) => DAYS[d]!)))
    .join(', ')
}

/** Words for parsed fields, or undefined when they are not one of the shapes we can say exactly. */
function describeFields(f: CronFields): string | undefined {
  const allMonths = f.months.length === 12
  const month = single(f.months)
  const everyDayOfMonth = f.daysOfMonth.length === 31
  const everyDayOfWeek = f.daysOfWeek.length === 7
  // Both day fields restricted: a day matches either one, which no short phrase says.
  if (!f.anyDayOfMonth && !f.anyDayOfWeek) return undefined
  if (!allMonths && month === undefined) return undefined
  if (f.hours.length === 24 && everyDayOfMonth && everyDayOfWeek && allMonths) {
    if (f.minutes.length === 60) return 'every minute'
    const n = step(f.minutes, 59)
    if (n !== undefined) return `every ${n} minutes`
    const m = single(f.minutes)
    return m === undefined ? undefined : `every hour at ${two(m)} minutes past`
  }
  const m = single(f.minutes)
  const h = single(f.hours)
  if (m === undefined || h === undefined) return undefined
  const at = `at ${two(h)}:${two(m)} UTC`
  const inMonth = month === undefined ? '' : ` of ${MONTHS[month - 1]}`
  const dom = single(f.daysOfMonth)
  if (everyDayOfMonth && everyDayOfWeek) return `every day${inMonth} ${at}`
  if (everyDayOfWeek && dom !== undefined)
    return `on the ${ordinal(dom)}${inMonth || ' of every month'} ${at}`
  if (everyDayOfMonth && allMonths) return `every ${daysOfWeek(f.daysOfWeek)} ${at}`
  return undefined
}

/**
 * The common shapes of a (UTC) cron schedule as words: "every day at 03:00 UTC", "every 15 minutes", "every
 * Monday to Friday at 12:30 UTC". It describes what `parseCron` (the server's own parser) makes of the
 * expression; anything else answers undefined and the page shows the expression alone, rather than words that
 * might say something else than the server does.
 */
export function describeCron(expression: string): string | undefined {
  try {
    return describeFields(parseCron(expression).fields)
  } catch {
    return undefined
  }
}
