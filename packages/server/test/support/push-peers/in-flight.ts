/**
 * Counts requests a peer is answering at once. With `hold`, requests wait until `until` of them are in flight (or
 * the `expected` total arrived): the sender's concurrency bound is then reached for sure, without timing.
 */
export class InFlight {
  current = 0
  max = 0
  total = 0
  private held: (() => void)[] = []
  private hold: { until: number; expected: number } | undefined

  /** Holds the next requests in waves of `until` (the last wave is released when the `expected`-th arrives). */
  holdInWaves(until: number, expected: number): void {
    this.hold = { until, expected }
    this.total = 0
    this.max = 0
  }

  /** Back to answering at once (releases anything held). */
  stopHolding(): void {
    this.hold = undefined
    const wave = this.held
    this.held = []
    for (const r of wave) r()
  }

  async enter(): Promise<void> {
    this.current++
    this.total++
    this.max = Math.max(this.max, this.current)
    const hold = this.hold
    if (!hold) return
    await new Promise<void>((resolve) => {
      this.held.push(resolve)
      if (this.current >= hold.until || this.total >= hold.expected) {
        const wave = this.held
        this.held = []
        for (const r of wave) r()
      }
    })
  }

  leave(): void {
    this.current--
  }
}

/** The TLS certificate and key of the loopback peers (CN localhost, SAN 127.0.0.1), trusted through `ca`. */
export async function peerTls(): Promise<{ cert: string; key: string }> {
  const { readFile } = await import('node:fs/promises')
  const dir = new URL('../../fixtures/push-tls/', import.meta.url)
  return {
    cert: await readFile(new URL('cert.pem', dir), 'utf8'),
    key: await readFile(new URL('key.pem', dir), 'utf8'),
  }
}
