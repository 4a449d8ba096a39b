import { appendFileSync } from 'node:fs'
import { relative } from 'node:path'
import type { Reporter, TestModule } from 'vitest/node'

/**
 * Ends the run with one plain line, `Tests: N passed, N failed, N skipped`, that any CI can read. When
 * BASTIDE_TEST_FAILURES names a file, each failure is also appended there as one line (file, test, first line
 * of the error), so that .ci/run can repeat every package's failures at the very end of its output.
 */
export default class SummaryReporter implements Reporter {
  onTestRunEnd(modules: ReadonlyArray<TestModule>): void {
    let passed = 0
    let failed = 0
    let skipped = 0
    const lines: string[] = []
    for (const m of modules) {
      const file = relative(process.cwd(), m.moduleId)
      let failedHere = 0
      for (const t of m.children.allTests()) {
        const result = t.result()
        if (result.state === 'passed') passed++
        else if (result.state === 'failed') {
          failedHere++
          lines.push(`${file} > ${t.fullName}: ${firstLine(result.errors?.[0]?.message)}`)
        } else skipped++
      }
      // A file that failed outside its tests (import, beforeAll, afterAll: e.g. the harness finding a 500 at
      // close) counts as one failure, so the closing line never says "0 failed" for a failed run.
      if (m.state() === 'failed' && failedHere === 0) {
        failedHere = 1
        lines.push(`${file} (outside its tests): ${firstLine(m.errors()[0]?.message)}`)
      }
      failed += failedHere
    }
    process.stdout.write(`\nTests: ${passed} passed, ${failed} failed, ${skipped} skipped\n`)
    const out = process.env.BASTIDE_TEST_FAILURES
    if (out && lines.length > 0) {
      const where = `${process.cwd().split('/').pop()}, ${process.env.DATABASE_URL ? 'DATABASE_URL' : 'embedded PostgreSQL'}`
      appendFileSync(out, `${lines.map((l) => `[${where}] ${l}`).join('\n')}\n`)
    }
  }
}

function firstLine(message: string | undefined): string {
  return (message ?? 'no message').split('\n')[0]!.slice(0, 300)
}
