/**
 * CSV (RFC 4180) for export and import: fields with commas, quotes, CR or LF are quoted, quotes doubled.
 * `parseCsv(toCsv(rows))` gives `rows` back.
 */

const NEEDS_QUOTES = /[",\r\n]|^\s|\s$/

/** One cell, quoted when it must be. */
export function csvCell(s: string): string {
  return NEEDS_QUOTES.test(s) ? `"${s.replaceAll('"', '""')}"` : s
}

/** Rows to CSV text, CRLF line ends (a lone empty cell is written `""` so the line is not lost). */
export function toCsv(rows: readonly (readonly string[])[]): string {
  let out = ''
  for (const row of rows) {
    out += row.length === 1 && row[0] === '' ? '""' : row.map(csvCell).join(',')
    out += '\r\n'
  }
  return out
}

/** A CSV parse problem: where, and why. */
export class CsvError extends Error {
  constructor(
    message: string,
    readonly line: number,
  ) {
    super(`Line ${line}: ${message}`)
  }
}

/** CSV text to rows (LF or CRLF; a BOM and a final line end are ignored; quoted cells may span lines). */
export function parseCsv(text: string): string[][] {
  const rows: string[][] = []
  let row: string[] = []
  let cell = ''
  let i = text.charCodeAt(0) === 0xfeff ? 1 : 0
  let line = 1
  let quotedCell = false
  const n = text.length
  const endCell = () => {
    row.push(cell)
    cell = ''
    quotedCell = false
  }
  const endRow = () => {
    endCell()
    rows.push(row)
    row = []
  }
  while (i < n) {
    const ch = text[i]!
    if (ch === '"' && cell === '' && !quotedCell) {
      // A quoted cell: up to the closing quote, "" for a quote.
      const startLine = line
      i++
      for (;;) {
        if (i >= n) throw new CsvError('a quoted cell is not closed', startLine)
        const c = text[i]!
        if (c === '"') {
          if (text[i + 1] === '"') {
            cell += '"'
            i += 2
            continue
          }
          i++
          break
        }
        if (c === '\n') line++
        cell += c
        i++
      }
      quotedCell = true
      const next = text[i]
      if (next !== undefined && next !== ',' && next !== '\n' && next !== '\r')
        throw new CsvError('text after a closing quote', line)
      continue
    }
    if (ch === ',') {
      endCell()
      i++
    } else if (ch === '\r' || ch === '\n') {
      endRow()
      i += ch === '\r' && text[i + 1] === '\n' ? 2 : 1
      line++
    } else {
      if (quotedCell) throw new CsvError('text after a closing quote', line)
      cell += ch
      i++
    }
  }
  // The last line, unless the text ended with a line end.
  if (cell !== '' || quotedCell || row.length > 0) endRow()
  return rows
}

/** A value of a record as CSV text: arrays and objects as JSON, null as empty. */
export function valueToCell(v: unknown): string {
  if (v === null || v === undefined) return ''
  if (typeof v === 'string') return v
  if (typeof v === 'number' || typeof v === 'boolean') return String(v)
  return JSON.stringify(v)
}

/** Records to CSV with a header line of `columns`. */
export function recordsToCsv(
  columns: readonly string[],
  records: readonly Record<string, unknown>[],
): string {
  return toCsv([columns, ...records.map((r) => columns.map((c) => valueToCell(r[c])))])
}
