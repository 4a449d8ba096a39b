import type { Registry } from 'prom-client'

/** One label set's counts: per bucket (the last one +Inf, not cumulative), sum and count. */
export interface Series {
  observe(value: number): void
}

interface Values {
  readonly labels: Readonly<Record<string, string>>
  readonly counts: Float64Array
  sum: number
  count: number
}

/** A sample as prom-client's Histogram gives it to the Registry: `le` in labels, the series' own in sharedLabels. */
interface Sample {
  readonly labels: Record<string, string | number>
  readonly sharedLabels: Readonly<Record<string, string>>
  readonly value: number
  readonly metricName: string
  readonly exemplar: null | undefined
}

interface Export<V> {
  name: string
  help: string
  type: string
  aggregator: string
  values: V[]
}

/**
 * A Prometheus histogram for the one observation every request makes, registered in a prom-client Registry and
 * exported exactly as prom-client's Histogram exports (`_bucket` with `le`, cumulative, then `+Inf`, `_sum`,
 * `_count`, per label set, in the order the label sets were first seen; latency-histogram.test.ts compares). prom-client's child `observe` rebuilds and hashes the label set and validates it on
 * every call (a fiftieth of a GET by id); here a label set's series is looked up once by its caller and an
 * observation is a bucket search and three additions.
 */
export class LatencyHistogram {
  readonly type = 'histogram'
  readonly aggregator = 'sum'
  readonly #bounds: readonly number[]
  #series: Values[] = []

  constructor(
    readonly name: string,
    readonly help: string,
    bounds: readonly number[],
    registry: Registry,
  ) {
    this.#bounds = [...bounds].sort((a, b) => a - b)
    registry.registerMetric(this as never)
  }

  /** The series of one label set (kept: the caller caches it per label set, which must be bounded). */
  series(labels: Readonly<Record<string, string>>): Series {
    const v: Values = { labels, counts: new Float64Array(this.#bounds.length + 1), sum: 0, count: 0 }
    this.#series.push(v)
    const bounds = this.#bounds
    const n = bounds.length
    return {
      observe(value: number) {
        let i = 0
        while (i < n && value > bounds[i]!) i++
        v.counts[i]!++
        v.sum += value
        v.count++
      },
    }
  }

  /** What the Registry formats as text (prom-client's Histogram.getForPromString, sample for sample). */
  getForPromString(): Export<Sample> {
    const values: Sample[] = []
    const bucket = `${this.name}_bucket`
    for (const s of this.#series) {
      let acc = 0
      this.#bounds.forEach((le, i) => {
        acc += s.counts[i]!
        values.push({
          labels: { le },
          sharedLabels: s.labels,
          value: acc,
          metricName: bucket,
          exemplar: null,
        })
      })
      const shared = s.labels
      values.push({
        labels: { le: '+Inf' },
        sharedLabels: shared,
        value: s.count,
        metricName: bucket,
        exemplar: null,
      })
      values.push({
        labels: {},
        sharedLabels: shared,
        value: s.sum,
        metricName: `${this.name}_sum`,
        exemplar: undefined,
      })
      values.push({
        labels: {},
        sharedLabels: shared,
        value: s.count,
        metricName: `${this.name}_count`,
        exemplar: undefined,
      })
    }
    return { name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values }
  }

  /** As JSON (Registry.getMetricsAsJSON): each sample's labels with its series' labels in them, as prom-client's. */
  get(): Export<Omit<Sample, 'sharedLabels'>> {
    const e = this.getForPromString()
    return {
      ...e,
      values: e.values.map(({ sharedLabels, labels, ...rest }) => ({
        ...rest,
        labels: { ...labels, ...sharedLabels },
      })),
    }
  }

  /** Counts back to zero (Registry.resetMetrics); series handed out keep counting from there. */
  reset(): void {
    for (const s of this.#series) {
      s.counts.fill(0)
      s.sum = 0
      s.count = 0
    }
  }
}
