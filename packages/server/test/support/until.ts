/**
 * Polls `f` every 50 ms until it answers something truthy, which it resolves with; rejects naming `what` after
 * `tries` polls (a minute by default): a condition a test waits for, never a timing it asserts.
 */
export async function until<T>(
  what: string,
  f: () => Promise<T | undefined | false>,
  tries = 1200,
): Promise<T> {
  for (let i = 0; i < tries; i++) {
    const v = await f()
    if (v) return v
    await new Promise((r) => setTimeout(r, 50))
  }
  throw new Error(`timed out waiting for ${what}`)
}
