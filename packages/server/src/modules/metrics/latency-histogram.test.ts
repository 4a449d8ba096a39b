import fc from 'fast-check'
import { Histogram, Registry } from 'prom-client'
import { describe, expect, it } from 'vitest'
import { LatencyHistogram } from './latency-histogram.ts'

const BOUNDS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]
const LABELS = [
  { method: 'GET', route: '/api/collections/:collection/records/:id', status_class: '2xx' },
  { method: 'POST', route: '/api/collections/:collection/records', status_class: '4xx' },
  { method: 'GET', route: '/api/health', status_class: '5xx' },
]

/** The same observations into prom-client's Histogram and into ours: both registries' text and JSON. */
async function both(observations: readonly (readonly [number, number])[]) {
  const theirs = new Registry()
  const ours = new Registry()
  const h = new Histogram({
    name: 'http_request_duration_seconds',
    help: 'help text',
    labelNames: ['method', 'route', 'status_class'] as const,
    buckets: BOUNDS,
    registers: [theirs],
  })
  const l = new LatencyHistogram('http_request_duration_seconds', 'help text', BOUNDS, ours)
  const children = LABELS.map((x) => h.labels(x.method, x.route, x.status_class))
  const series = new Map<number, ReturnType<LatencyHistogram['series']>>()
  for (const [which, value] of observations) {
    children[which]!.observe(value)
    if (!series.has(which)) series.set(which, l.series(LABELS[which]!))
    series.get(which)!.observe(value)
  }
  return {
    text: [await theirs.metrics(), await ours.metrics()],
    json: [await theirs.getMetricsAsJSON(), await ours.getMetricsAsJSON()],
    reset: async () => {
      theirs.resetMetrics()
      ours.resetMetrics()
      return [await theirs.metrics(), await ours.metrics()]
    },
  }
}

describe('LatencyHistogram', () => {
  it('exports what prom-client’s Histogram exports for the same observations', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(
          fc.tuple(
            fc.integer({ min: 0, max: LABELS.length - 1 }),
            fc.oneof(fc.constantFrom(...BOUNDS, 0, 20), fc.double({ min: 0, max: 20, noNaN: true })),
          ),
          { maxLength: 60 },
        ),
        async (observations) => {
          const r = await both(observations)
          expect(r.text[1]).toBe(r.text[0])
          expect(r.json[1]).toEqual(r.json[0])
        },
      ),
      { numRuns: 200 },
    )
  })

  it('counts again from zero after a reset, on the series it handed out', async () => {
    const ours = new Registry()
    const l = new LatencyHistogram('h', 'help', [0.1, 1], ours)
    const s = l.series({ route: '/a' })
    s.observe(0.05)
    s.observe(2)
    ours.resetMetrics()
    s.observe(0.5)
    expect(await ours.metrics()).toBe(
      [
        '# HELP h help',
        '# TYPE h histogram',
        'h_bucket{le="0.1",route="/a"} 0',
        'h_bucket{le="1",route="/a"} 1',
        'h_bucket{le="+Inf",route="/a"} 1',
        'h_sum{route="/a"} 0.5',
        'h_count{route="/a"} 1',
        '',
      ].join('\n'),
    )
  })
})
