import { styleText } from 'node:util'

type Style = Parameters<typeof styleText>[0]

/**
 * Where commands write. Results go to stdout — as JSON with `--json`, for scripts — and everything else (progress,
 * notes) to stderr, so that `bastide … --json | jq` always reads one JSON document. Colours and progress bars only
 * when the stream is a terminal and NO_COLOR is unset.
 */
export class Output {
  readonly color: boolean
  readonly interactive: boolean

  constructor(
    readonly json: boolean,
    private readonly stdout: NodeJS.WriteStream = process.stdout,
    private readonly stderr: NodeJS.WriteStream = process.stderr,
    env: NodeJS.ProcessEnv = process.env,
  ) {
    this.interactive = Boolean(stderr.isTTY) && !json
    this.color = Boolean(stdout.isTTY) && !('NO_COLOR' in env) && env.TERM !== 'dumb'
  }

  /**
   * The command's result: `data` as JSON with --json, otherwise `human` (text, or lines) when given, else
   * nothing.
   */
  result(
    data: unknown,
    human?: string | readonly string[] | (() => string | readonly string[] | undefined),
  ): void {
    if (this.json) {
      this.stdout.write(`${JSON.stringify(data, null, 2)}\n`)
      return
    }
    const text = typeof human === 'function' ? human() : human
    if (text === undefined) return
    const lines = typeof text === 'string' ? [text] : text
    if (lines.length > 0) this.stdout.write(`${lines.join('\n')}\n`)
  }

  /** A note for the person at the terminal (stderr; silent with --json). */
  note(message: string): void {
    if (!this.json) this.stderr.write(`${message}\n`)
  }

  /** A warning (stderr, even with --json: a script's log should show it). */
  warn(message: string): void {
    this.stderr.write(`${this.paint('yellow', 'warning:')} ${message}\n`)
  }

  /** `text` in a colour when colours are on. */
  paint(style: Style, text: string): string {
    return this.color ? styleText(style, text) : text
  }

  /** Rows as aligned columns (text mode). */
  table(rows: readonly Record<string, unknown>[], columns: readonly string[]): string[] {
    const cell = (v: unknown) =>
      v === null || v === undefined ? '' : typeof v === 'string' ? v : JSON.stringify(v)
    const widths = columns.map((c) => Math.max(c.length, ...rows.map((r) => cell(r[c]).length)))
    const line = (values: string[]) =>
      values
        .map((v, i) => v.padEnd(widths[i] ?? 0))
        .join('  ')
        .trimEnd()
    return [
      this.paint('bold', line(columns.map((c) => c.toUpperCase()))),
      ...rows.map((r) => line(columns.map((c) => cell(r[c])))),
    ]
  }

  /**
   * A progress bar on stderr for long work (`total` units, e.g. bytes or rows); draws only on a terminal, at most
   * ten times a second, and clears itself when done.
   */
  progress(label: string, total?: number): Progress {
    if (!this.interactive) return { tick() {}, done() {} }
    let current = 0
    let last = 0
    const draw = (force = false) => {
      const now = Date.now()
      if (!force && now - last < 100) return
      last = now
      const width = 24
      const ratio = total ? Math.min(1, current / total) : 0
      const bar = total
        ? `[${'#'.repeat(Math.round(ratio * width)).padEnd(width, '.')}] ${Math.floor(ratio * 100)}%`
        : `${current}`
      this.stderr.write(`\r${label} ${bar}`)
    }
    return {
      tick(n = 1) {
        current += n
        draw()
      },
      done: () => {
        draw(true)
        this.stderr.write('\r\u001b[2K')
      },
    }
  }
}

export interface Progress {
  tick(n?: number): void
  done(): void
}
