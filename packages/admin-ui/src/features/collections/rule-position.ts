/** Where an error sits in a (possibly multi-line) rule: its line, 1-based line and column, and a caret under it. */
export interface RulePosition {
  readonly line: number
  readonly column: number
  readonly lineText: string
  /** Spaces then `^`, to sit under `lineText` in a monospace font. */
  readonly caret: string
}

export function rulePosition(text: string, position: number): RulePosition {
  const at = Math.max(0, Math.min(Number.isFinite(position) ? Math.trunc(position) : 0, text.length))
  const start = text.lastIndexOf('\n', at - 1) + 1
  const endNl = text.indexOf('\n', at)
  const end = endNl === -1 ? text.length : endNl
  const line = text.slice(0, start).split('\n').length
  const lineText = text.slice(start, end)
  // Tabs stay tabs, so the caret lines up however wide the browser draws them.
  const pad = [...lineText.slice(0, at - start)].map((ch) => (ch === '\t' ? '\t' : ' ')).join('')
  return { line, column: at - start + 1, lineText, caret: `${pad}^` }
}

/** Field names a rule can use on this collection, for hints: its own, the system ones, and one hop of relations. */
export function ruleFieldHints(
  fields: readonly { name: string; type: string; options?: { collection?: string } }[],
  lookup: (name: string) => readonly { name: string }[] | undefined,
): string[] {
  const out = ['id', 'created', 'updated']
  for (const f of fields) {
    if (!f.name) continue
    out.push(f.name)
    if (f.type === 'relation' && f.options?.collection) {
      for (const g of lookup(f.options.collection) ?? []) out.push(`${f.name}.${g.name}`)
    }
  }
  out.push('@request.auth.id', '@request.body.', '@now')
  return [...new Set(out)]
}
