import pino from 'pino'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { createScheduler } from './scheduler.ts'

beforeEach(() => {
  vi.useFakeTimers()
})
afterEach(() => {
  vi.useRealTimers()
})

const quiet = pino({ level: 'silent' })

describe('the scheduler', () => {
  it('runs a job every `everyMs`, the first after `firstAfterMs`', async () => {
    const s = createScheduler(quiet)
    const runs: number[] = []
    s.add('m', { name: 'tick', firstAfterMs: 50, everyMs: 1000, run: async () => void runs.push(Date.now()) })
    const t0 = Date.now()
    await vi.advanceTimersByTimeAsync(49)
    expect(runs).toHaveLength(0)
    await vi.advanceTimersByTimeAsync(1)
    await vi.advanceTimersByTimeAsync(2000)
    expect(runs.map((t) => t - t0)).toEqual([50, 1050, 2050])
    await s.close()
  })

  it('with timers off, never runs a job on its own; runNow still runs it', async () => {
    const s = createScheduler(quiet, { timers: false })
    let runs = 0
    s.add('m', { name: 'tick', firstAfterMs: 10, everyMs: 100, run: async () => void runs++ })
    await vi.advanceTimersByTimeAsync(10_000)
    expect(runs).toBe(0)
    await s.runNow('m', 'tick')
    expect(runs).toBe(1)
    await s.close()
  })

  it('never overlaps a run with the next: a slow run makes the due one skip', async () => {
    const s = createScheduler(quiet)
    let running = 0
    let most = 0
    let started = 0
    s.add('m', {
      name: 'slow',
      everyMs: 100,
      run: async () => {
        started++
        running++
        most = Math.max(most, running)
        await new Promise((r) => setTimeout(r, 250))
        running--
      },
    })
    await vi.advanceTimersByTimeAsync(1000)
    expect(most).toBe(1)
    // Due at 100, 200... 1000; each run takes 250 ms, so only every third one starts.
    expect(started).toBe(4)
    const closing = s.close()
    await vi.advanceTimersByTimeAsync(250)
    await closing
  })

  it('logs a failure and keeps the schedule', async () => {
    const lines: string[] = []
    const log = pino({ level: 'warn' }, { write: (l: string) => void lines.push(l) })
    const s = createScheduler(log)
    let n = 0
    s.add('mod', {
      name: 'flaky',
      everyMs: 10,
      run: async () => {
        if (++n === 1) throw new Error('boom')
      },
    })
    await vi.advanceTimersByTimeAsync(30)
    expect(n).toBe(3)
    expect(lines).toHaveLength(1)
    expect(JSON.parse(lines[0]!)).toMatchObject({ job: 'mod/flaky', err: 'boom', msg: 'job failed' })
    await s.close()
  })

  it('close() stops every timer and waits for the runs in progress', async () => {
    const s = createScheduler(quiet)
    let finished = false
    let runs = 0
    s.add('m', {
      name: 'long',
      everyMs: 10,
      run: async () => {
        runs++
        await new Promise((r) => setTimeout(r, 500))
        finished = true
      },
    })
    await vi.advanceTimersByTimeAsync(10)
    const closing = s.close()
    let closed = false
    void closing.then(() => (closed = true))
    await vi.advanceTimersByTimeAsync(499)
    expect(closed).toBe(false)
    await vi.advanceTimersByTimeAsync(1)
    await closing
    expect(finished).toBe(true)
    await vi.advanceTimersByTimeAsync(1000)
    expect(runs).toBe(1)
    expect(() => s.add('m', { name: 'late', everyMs: 10, run: async () => {} })).toThrow(/closed/)
  })

  it('runNow runs a job at once, sharing the no-overlap rule; unknown jobs and duplicates are refused', async () => {
    const s = createScheduler(quiet)
    let runs = 0
    s.add('m', { name: 'j', everyMs: 60_000, run: async () => void runs++ })
    await s.runNow('m', 'j')
    expect(runs).toBe(1)
    await expect(s.runNow('m', 'nope')).rejects.toThrow(/No job m\/nope/)
    expect(() => s.add('m', { name: 'j', everyMs: 1, run: async () => {} })).toThrow(/twice/)
    await s.close()
  })
})
