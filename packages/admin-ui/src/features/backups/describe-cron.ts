const DAYS = ['Sunday', 'Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday']
const MONTHS = 'jan feb mar apr may jun jul aug sep oct nov dec'.split(' ')
const DAY_NAMES = 'sun mon tue wed thu fri sat'.split(' ')
const MACROS: Record<string, string> = {
  '@yearly': '0 0 1 1 *',
  '@annually': '0 0 1 1 *',
  '@monthly': '0 0 1 * *',
  '@weekly': '0 0 * * 0',
  '@daily': '0 0 * * *',
  '@midnight': '0 0 * * *',
  '@hourly': '0 * * * *',
}

const num = (s: string) => (/^\d+$/.test(s) ? Number(s) : undefined)
const two = (n: number) => String(n).padStart(2, '0')
const ordinal = (n: number) =>
  `${n}${n % 10 === 1 && n !== 11 ? 'st' : n % 10 === 2 && n !== 12 ? 'nd' : n % 10 === 3 && n !== 13 ? 'rd' : 'th'}`

/** One day-of-week value (0-7 or sun-sat) as its name; undefined for anything else. */
function dayName(s: string): string | undefined {
  const i = DAY_NAMES.indexOf(s.toLowerCase())
  const n = i >= 0 ? i : num(s)
  return n !== undefined && n <= 7 ? DAYS[n % 7] : undefined
}

/** `mon-fri`, `1,3,5`, `sat`: day names joined; undefined when the field is something else (a step). */
function daysOfWeek(field: string): string | undefined {
  const parts = field.split(',').map((item) => {
    const [a, b, extra] = item.split('-')
    if (extra !== undefined || a === undefined) return undefined
    const from = dayName(a)
    if (b === undefined) return from
    const to = dayName(b)
    return from && to ? `${from} to ${to}` : undefined
  })
  return parts.every(Boolean) ? parts.join(', ') : undefined
}

/**
 * The common shapes of a (UTC) cron schedule as words: "every day at 03:00 UTC", "every 15 minutes", "every
 * Monday to Friday at 12:30 UTC". Anything else answers undefined: the page then shows the expression alone,
 * rather than words that might say something else than the server does.
 */
export function describeCron(expression: string): string | undefined {
  const text = MACROS[expression.trim().toLowerCase()] ?? expression.trim()
  const f = text.split(/\s+/)
  if (f.length !== 5) return undefined
  const [min, hour, dom, month, dow] = f as [string, string, string, string, string]
  if (month !== '*' && !(num(month) || MONTHS.includes(month.toLowerCase()))) return undefined
  const m = num(min)
  const h = num(hour)
  const stepMin = /^\*\/(\d+)$/.exec(min)
  if (hour === '*' && dom === '*' && month === '*' && dow === '*') {
    if (min === '*') return 'every minute'
    if (stepMin) return `every ${stepMin[1]} minutes`
    if (m !== undefined) return `every hour at ${two(m)} minutes past`
    return undefined
  }
  if (m === undefined || h === undefined || m > 59 || h > 23) return undefined
  const at = `at ${two(h)}:${two(m)} UTC`
  const monthName =
    month === '*' ? '' : (MONTHS[(num(month) ?? MONTHS.indexOf(month.toLowerCase()) + 1) - 1] ?? '')
  const inMonth = monthName ? ` of ${monthName.charAt(0).toUpperCase()}${monthName.slice(1)}` : ''
  if (dom === '*' && dow === '*') return month === '*' ? `every day ${at}` : `every day${inMonth} ${at}`
  if (dow === '*' && num(dom) !== undefined) {
    const d = num(dom)!
    return month === '*'
      ? `on the ${ordinal(d)} of every month ${at}`
      : `on the ${ordinal(d)}${inMonth} ${at}`
  }
  if (dom === '*' && month === '*') {
    const days = daysOfWeek(dow)
    return days ? `every ${days} ${at}` : undefined
  }
  return undefined
}
