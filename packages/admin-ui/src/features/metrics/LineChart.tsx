/** One line of a chart: its name, its colour (a CSS value) and one value per x position (null: no data). */
export interface ChartSeries {
  readonly label: string
  readonly color: string
  readonly values: readonly (number | null)[]
}

const W = 320
const H = 130
const PAD = { top: 8, right: 6, bottom: 18, left: 40 }

/** A round maximum for the y axis (1, 2 or 5 times a power of ten), so the top label reads well. */
export function niceMax(max: number): number {
  if (!(max > 0)) return 1
  const p = 10 ** Math.floor(Math.log10(max))
  for (const m of [1, 2, 5, 10]) if (m * p >= max) return m * p
  return 10 * p
}

/** The polyline points of `values` (gaps skipped by starting a new segment). */
function segments(values: readonly (number | null)[], max: number): string[] {
  const out: string[] = []
  let current: string[] = []
  const step = values.length > 1 ? (W - PAD.left - PAD.right) / (values.length - 1) : 0
  values.forEach((v, i) => {
    if (v === null) {
      if (current.length) out.push(current.join(' '))
      current = []
      return
    }
    const x = PAD.left + i * step
    const y = PAD.top + (1 - v / max) * (H - PAD.top - PAD.bottom)
    current.push(`${x.toFixed(1)},${y.toFixed(1)}`)
  })
  if (current.length) out.push(current.join(' '))
  return out
}

/**
 * A small line chart in plain SVG (no chart library: the console's first load stays small). Named for screen
 * readers by `title` and each series' latest value; the legend repeats the colours in text.
 */
export function LineChart(props: {
  title: string
  series: readonly ChartSeries[]
  /** Labels under the first and last x positions. */
  from: string
  to: string
  format: (v: number) => string
}) {
  const all = props.series.flatMap((s) => s.values.filter((v): v is number => v !== null))
  const max = niceMax(Math.max(0, ...all))
  const latest = props.series
    .map((s) => {
      const last = [...s.values].reverse().find((v) => v !== null)
      return `${s.label} ${last === undefined || last === null ? 'no data' : props.format(last)}`
    })
    .join(', ')
  return (
    <figure className="panel" style={{ margin: 0 }}>
      <figcaption style={{ fontWeight: 600, marginBottom: 6 }}>{props.title}</figcaption>
      <svg
        viewBox={`0 0 ${W} ${H}`}
        role="img"
        aria-label={`${props.title}: ${latest}`}
        style={{ width: '100%', height: 'auto', display: 'block' }}
      >
        <line x1={PAD.left} x2={W - PAD.right} y1={PAD.top} y2={PAD.top} stroke="var(--border)" />
        <line
          x1={PAD.left}
          x2={W - PAD.right}
          y1={H - PAD.bottom}
          y2={H - PAD.bottom}
          stroke="var(--border)"
        />
        <text x={PAD.left - 4} y={PAD.top + 4} textAnchor="end" fontSize="10" fill="var(--muted)">
          {props.format(max)}
        </text>
        <text x={PAD.left - 4} y={H - PAD.bottom + 4} textAnchor="end" fontSize="10" fill="var(--muted)">
          {props.format(0)}
        </text>
        <text x={PAD.left} y={H - 4} fontSize="10" fill="var(--muted)">
          {props.from}
        </text>
        <text x={W - PAD.right} y={H - 4} textAnchor="end" fontSize="10" fill="var(--muted)">
          {props.to}
        </text>
        {props.series.map((s) =>
          segments(s.values, max).map((points) =>
            // A lone point (one minute with data) has no line to draw: a dot shows it.
            points.includes(' ') ? (
              <polyline
                key={`${s.label}:${points.slice(0, 24)}`}
                points={points}
                fill="none"
                stroke={s.color}
                strokeWidth="1.6"
                strokeLinejoin="round"
              />
            ) : (
              <circle
                key={`${s.label}:${points}`}
                cx={points.split(',')[0]}
                cy={points.split(',')[1]}
                r="2.5"
                fill={s.color}
              />
            ),
          ),
        )}
      </svg>
      <div className="row" aria-hidden="true" style={{ fontSize: 12 }}>
        {props.series.map((s) => (
          <span key={s.label}>
            <span style={{ color: s.color }}>■</span> {s.label}
          </span>
        ))}
      </div>
    </figure>
  )
}
