/** The event as a JSON object, or why it is not one. */
export function parseEvent(
  text: string,
): { ok: true; value: Readonly<Record<string, unknown>> } | { ok: false; message: string } {
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch (e) {
    return { ok: false, message: `The event is not JSON: ${e instanceof Error ? e.message : String(e)}` }
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value))
    return { ok: false, message: 'The event must be a JSON object, like {"trigger": "record", …}.' }
  return { ok: true, value: value as Record<string, unknown> }
}
