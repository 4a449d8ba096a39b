/**
 * Event-loop delay and memory of a process, measured from inside it without touching its code: preloaded
 * with `node --import tsx --import ./bench/loop-probe.ts src/main.ts` by bench/realtime.ts.
 *
 * With BENCH_LOOP_PROBE_FILE set, it writes one JSON object to that file every second and on SIGUSR2:
 * `{ seq, p50, p99, max, mean, count, rss, maxRss }` — delays in ms over the current phase, RSS in bytes
 * (now, and the highest seen in the phase, sampled every 200 ms). SIGUSR2 first writes the phase that ends
 * (with `seq` incremented, so that the reader can tell the answer to its signal) and then starts a new one.
 *
 * The histogram (perf_hooks.monitorEventLoopDelay, 10 ms resolution) records the time between two ticks of a
 * 10 ms timer, so an idle loop reads 10 ms: the resolution is subtracted, leaving the delay itself.
 */
import fs from 'node:fs'
import { monitorEventLoopDelay } from 'node:perf_hooks'

const file = process.env.BENCH_LOOP_PROBE_FILE
const RESOLUTION_MS = 10

if (file) {
  const h = monitorEventLoopDelay({ resolution: RESOLUTION_MS })
  h.enable()
  let seq = 0
  // Reading RSS opens /proc/self/stat: with every descriptor taken it throws EMFILE, which must not reach
  // the process's own error handlers (the server would shut down); the last value stands in.
  let lastRss = 0
  const rssNow = () => {
    try {
      lastRss = process.memoryUsage.rss()
    } catch {}
    return lastRss
  }
  let maxRss = rssNow()
  const ms = (ns: number) => (Number.isFinite(ns) ? Math.max(0, ns / 1e6 - RESOLUTION_MS) : 0)
  const write = () => {
    const rss = rssNow()
    maxRss = Math.max(maxRss, rss)
    const out = {
      seq,
      p50: ms(h.percentile(50)),
      p99: ms(h.percentile(99)),
      max: ms(h.max),
      mean: ms(h.mean),
      count: h.count,
      rss,
      maxRss,
    }
    // Whole files only: the reader never sees half a write. A probe never takes its process down.
    try {
      fs.writeFileSync(`${file}.tmp`, JSON.stringify(out))
      fs.renameSync(`${file}.tmp`, file)
    } catch {}
  }
  setInterval(() => {
    maxRss = Math.max(maxRss, rssNow())
  }, 200).unref()
  setInterval(write, 1000).unref()
  process.on('SIGUSR2', () => {
    seq++
    write()
    h.reset()
    maxRss = rssNow()
  })
  write()
}
