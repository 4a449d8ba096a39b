import type { CollectionSchema, FieldSchema } from '@bastide/sdk'
import { useVirtualizer } from '@tanstack/react-virtual'
import { type KeyboardEvent, memo, useEffect, useId, useMemo, useRef, useState } from 'react'
import { formatTime } from '../../lib/format.ts'
import {
  cellText,
  displayField,
  editText,
  fileName,
  inlineEditable,
  parseValue,
  type Rec,
  ValueError,
} from './values.ts'

/** A grid column: a field of the collection, or a system column. */
export interface Column {
  readonly name: string
  readonly field: FieldSchema
  readonly system?: boolean
}

const ROW_HEIGHT = 34
const WIDTH: Record<string, number> = {
  text: 200,
  email: 200,
  url: 200,
  number: 110,
  bool: 80,
  date: 180,
  json: 220,
  select: 150,
  relation: 190,
  file: 190,
}

export const columnWidth = (c: Column) =>
  c.name === 'id' ? 130 : c.name === 'version' ? 80 : c.system ? 175 : (WIDTH[c.field.type] ?? 180)

export interface GridProps {
  readonly collection: CollectionSchema
  readonly collections: readonly CollectionSchema[]
  readonly columns: readonly Column[]
  readonly rowCount: number
  readonly rowAt: (i: number) => Rec | undefined
  readonly ensureRows: (from: number, to: number) => void
  readonly deleted: ReadonlySet<string>
  readonly freshCount: number
  readonly sort: string
  readonly onSort: (column: string) => void
  readonly selected: ReadonlySet<string>
  readonly onToggle: (id: string) => void
  readonly onToggleAll: () => void
  readonly allSelected: boolean
  readonly expand: readonly string[]
  /** Saves one cell; resolves when done (errors are the page's to show). */
  readonly onEdit: (row: Rec, field: string, value: unknown) => Promise<void>
  readonly onOpen: (row: Rec) => void
}

/**
 * The records grid: virtualized rows (only the visible ones are in the DOM, their pages fetched as they come
 * into view), a sticky header with sortable columns, and keyboard navigation over cells (arrows, Home/End,
 * Page Up/Down; Enter edits a cell or opens the record, and on a header sorts; Space selects the row; Escape
 * cancels an edit).
 */
export function Grid(props: GridProps) {
  const { columns, rowCount, rowAt } = props
  const scrollRef = useRef<HTMLDivElement>(null)
  const gridId = useId()
  const [active, setActive] = useState<{ row: number; col: number }>({ row: 0, col: 1 })
  const [editing, setEditing] = useState<{ row: number; col: number } | null>(null)
  const virtualizer = useVirtualizer({
    count: rowCount,
    getScrollElement: () => scrollRef.current,
    estimateSize: () => ROW_HEIGHT,
    overscan: 12,
  })
  const items = virtualizer.getVirtualItems()
  const first = items[0]?.index ?? 0
  const last = items[items.length - 1]?.index ?? -1
  const { ensureRows } = props
  // Pages are asked for once the view settles: a scrollbar dragged across 100,000 rows fetches where it stops,
  // not every page it passed.
  useEffect(() => {
    if (last < first) return
    const t = setTimeout(() => ensureRows(first, last), 60)
    return () => clearTimeout(t)
  }, [first, last, ensureRows])

  // Only a cell in the DOM can be the active descendant (the header, or a row in view).
  const activeShown =
    active.row < 0 ||
    (active.row < rowCount && active.row >= first && active.row <= last && !!rowAt(active.row))
  const template = `40px ${columns.map((c) => `${columnWidth(c)}px`).join(' ')}`
  const width = 40 + columns.reduce((n, c) => n + columnWidth(c), 0)
  const cellId = (row: number, col: number) => `${gridId}-r${row}-c${col}`
  const colCount = columns.length + 1

  // Row -1 is the header: Enter there sorts by the column (or selects every loaded row).
  const move = (row: number, col: number) => {
    const r = Math.max(-1, Math.min(rowCount - 1, row))
    const c = Math.max(0, Math.min(colCount - 1, col))
    setActive({ row: r, col: c })
    if (r >= 0) virtualizer.scrollToIndex(r, { align: 'auto' })
  }
  const startEdit = (row: number, col: number) => {
    if (row < 0) {
      if (col === 0) props.onToggleAll()
      else props.onSort(columns[col - 1]!.name)
      return
    }
    const rec = rowAt(row)
    if (!rec || props.deleted.has(rec.id)) return
    if (col === 0) return props.onToggle(rec.id)
    const column = columns[col - 1]!
    if (column.system || !inlineEditable(column.field)) return props.onOpen(rec)
    if (column.field.type === 'bool') {
      void props.onEdit(rec, column.name, !rec[column.name])
      return
    }
    setEditing({ row, col })
  }
  const onKeyDown = (e: KeyboardEvent<HTMLDivElement>) => {
    if (editing) return
    const page = Math.max(1, Math.floor((scrollRef.current?.clientHeight ?? 400) / ROW_HEIGHT) - 1)
    const go = (): boolean => {
      switch (e.key) {
        case 'ArrowDown':
          move(active.row + 1, active.col)
          return true
        case 'ArrowUp':
          move(active.row - 1, active.col)
          return true
        case 'ArrowRight':
          move(active.row, active.col + 1)
          return true
        case 'ArrowLeft':
          move(active.row, active.col - 1)
          return true
        case 'PageDown':
          move(active.row + page, active.col)
          return true
        case 'PageUp':
          move(active.row - page, active.col)
          return true
        case 'Home':
          move(e.ctrlKey ? 0 : active.row, e.ctrlKey ? active.col : 0)
          return true
        case 'End':
          move(e.ctrlKey ? rowCount - 1 : active.row, e.ctrlKey ? active.col : colCount - 1)
          return true
        case 'Enter':
        case 'F2':
          startEdit(active.row, active.col)
          return true
        case ' ': {
          if (active.row < 0) {
            startEdit(active.row, active.col)
            return true
          }
          const rec = rowAt(active.row)
          if (rec) props.onToggle(rec.id)
          return true
        }
        default:
          return false
      }
    }
    if (go()) e.preventDefault()
  }

  // One stable set of handlers for every row, so a row re-renders only when its own data changes.
  const latest = useRef({ startEdit, props, setActive, setEditing })
  latest.current = { startEdit, props, setActive, setEditing }
  const events: RowEvents = useMemo(
    () => ({
      click: (row, col) => latest.current.setActive({ row, col }),
      dblclick: (row, col) => {
        latest.current.setActive({ row, col })
        latest.current.startEdit(row, col)
      },
      toggle: (id) => latest.current.props.onToggle(id),
      editDone: (rec, name, value) => {
        latest.current.setEditing(null)
        scrollRef.current?.querySelector('table')?.focus()
        if (value !== undefined) void latest.current.props.onEdit(rec, name, value)
      },
    }),
    [],
  )

  const ariaSort = (name: string): 'ascending' | 'descending' | 'none' =>
    props.sort === name ? 'ascending' : props.sort === `-${name}` ? 'descending' : 'none'

  return (
    <div ref={scrollRef} className="records-scroll">
      <table
        className="records-grid"
        // biome-ignore lint/a11y/noNoninteractiveElementToInteractiveRole: the ARIA grid pattern over a real table
        role="grid"
        tabIndex={0}
        aria-label={`Records of ${props.collection.name}`}
        aria-rowcount={rowCount + 1}
        aria-colcount={colCount}
        aria-multiselectable="true"
        aria-activedescendant={activeShown && !editing ? cellId(active.row, active.col) : undefined}
        onKeyDown={onKeyDown}
        style={{ width }}
      >
        <thead className="records-head">
          <tr className="records-row" aria-rowindex={1} style={{ gridTemplateColumns: template }}>
            <th
              scope="col"
              id={cellId(-1, 0)}
              className={`records-cell records-check${isActive(active, -1, 0) ? ' records-active' : ''}`}
            >
              <input
                type="checkbox"
                tabIndex={-1}
                aria-label="Select all loaded rows"
                checked={props.allSelected}
                onChange={props.onToggleAll}
              />
            </th>
            {columns.map((c, ci) => (
              <th
                key={c.name}
                scope="col"
                id={cellId(-1, ci + 1)}
                aria-sort={ariaSort(c.name)}
                className={`records-cell${isActive(active, -1, ci + 1) ? ' records-active' : ''}`}
              >
                <button
                  type="button"
                  className="records-sort"
                  tabIndex={-1}
                  onClick={() => props.onSort(c.name)}
                  title={`Sort by ${c.name}`}
                >
                  <span className="grow">{c.name}</span>
                  <span className="muted records-type">{c.system ? '' : c.field.type}</span>
                  <span aria-hidden="true">
                    {ariaSort(c.name) === 'ascending' ? '▲' : ariaSort(c.name) === 'descending' ? '▼' : ''}
                  </span>
                </button>
              </th>
            ))}
          </tr>
        </thead>
        <tbody className="records-body" style={{ height: virtualizer.getTotalSize() }}>
          {items.map((v) => {
            const rec = rowAt(v.index)
            return (
              <Row
                key={v.key}
                index={v.index}
                start={v.start}
                rec={rec}
                template={template}
                columns={columns}
                cellIdBase={gridId}
                activeCol={active.row === v.index ? active.col : -1}
                editingCol={editing?.row === v.index ? editing.col : -1}
                selected={rec ? props.selected.has(rec.id) : false}
                gone={rec ? props.deleted.has(rec.id) : false}
                fresh={v.index < props.freshCount}
                expand={props.expand}
                collections={props.collections}
                on={events}
              />
            )
          })}
        </tbody>
      </table>
    </div>
  )
}

interface RowEvents {
  click(row: number, col: number): void
  dblclick(row: number, col: number): void
  toggle(id: string): void
  editDone(rec: Rec, field: string, value: unknown): void
}

/** One row of the grid; memoized, so scrolling renders only the rows that come into view. */
const Row = memo(function Row(p: {
  index: number
  start: number
  rec: Rec | undefined
  template: string
  columns: readonly Column[]
  cellIdBase: string
  activeCol: number
  editingCol: number
  selected: boolean
  gone: boolean
  fresh: boolean
  expand: readonly string[]
  collections: readonly CollectionSchema[]
  on: RowEvents
}) {
  const { rec, index } = p
  const id = (col: number) => `${p.cellIdBase}-r${index}-c${col}`
  const cls = [
    'records-row',
    p.fresh ? 'records-fresh' : '',
    p.gone ? 'records-gone' : '',
    p.selected ? 'records-selected' : '',
  ].join(' ')
  return (
    <tr
      aria-rowindex={index + 2}
      aria-selected={p.selected}
      className={cls}
      style={{ transform: `translateY(${p.start}px)`, gridTemplateColumns: p.template }}
    >
      <td id={id(0)} className={`records-cell records-check${p.activeCol === 0 ? ' records-active' : ''}`}>
        {rec ? (
          <input
            type="checkbox"
            tabIndex={-1}
            aria-label={`Select record ${rec.id}`}
            checked={p.selected}
            disabled={p.gone}
            onChange={() => p.on.toggle(rec.id)}
          />
        ) : null}
      </td>
      {p.columns.map((c, ci) => {
        const col = ci + 1
        return (
          // biome-ignore lint/a11y/useKeyWithClickEvents: the keyboard drives cells from the grid (arrows, Enter)
          <td
            key={c.name}
            id={id(col)}
            className={`records-cell${p.activeCol === col ? ' records-active' : ''}`}
            onClick={() => p.on.click(index, col)}
            onDoubleClick={() => p.on.dblclick(index, col)}
          >
            {!rec ? (
              <span className="records-skeleton" aria-hidden="true" />
            ) : p.editingCol === col ? (
              <CellEditor
                field={c.field}
                record={rec}
                onDone={(value, base) => p.on.editDone(base, c.name, value)}
              />
            ) : (
              <CellValue column={c} rec={rec} expand={p.expand} collections={p.collections} />
            )}
            {p.gone && col === 1 ? <span className="badge danger">deleted</span> : null}
            {p.fresh && col === 1 && rec ? <span className="badge ok">new</span> : null}
          </td>
        )
      })}
    </tr>
  )
})

const isActive = (a: { row: number; col: number }, row: number, col: number) => a.row === row && a.col === col

function CellValue(props: {
  column: Column
  rec: Rec
  expand: readonly string[]
  collections: readonly CollectionSchema[]
}) {
  const { column, rec } = props
  const v = rec[column.name]
  const f = column.field
  if (column.name === 'id') return <span className="mono records-id">{rec.id}</span>
  if (column.name === 'created' || column.name === 'updated') return <span>{formatTime(v as string)}</span>
  if (v === null || v === undefined || (Array.isArray(v) && v.length === 0))
    return <span className="muted records-null">{f.type === 'bool' ? 'false' : 'null'}</span>
  if (f.type === 'bool') return <span className={v ? 'badge ok' : 'badge'}>{String(v)}</span>
  if (f.type === 'date') return <span>{formatTime(v as string)}</span>
  if (f.type === 'file')
    return (
      <span className="records-files">
        {(Array.isArray(v) ? v : [v]).map((k) => (
          <span key={String(k)} className="badge">
            <span className="badge">file</span> {fileName(String(k))}
          </span>
        ))}
      </span>
    )
  if (f.type === 'select')
    return (
      <span className="records-files">
        {(Array.isArray(v) ? v : [v]).map((k) => (
          <span key={String(k)} className="badge">
            {String(k)}
          </span>
        ))}
      </span>
    )
  if (f.type === 'relation') {
    const exp = props.expand.includes(column.name) ? rec.expand?.[column.name] : undefined
    if (exp) {
      const target = props.collections.find((c) => c.name === f.options?.collection)
      const shown = displayField(target)
      const list = (Array.isArray(exp) ? exp : [exp]) as Rec[]
      return (
        <span className="records-files">
          {list.map((r) => (
            <span key={r.id} className="badge records-rel" title={r.id}>
              {cellText(r[shown]) || r.id}
            </span>
          ))}
        </span>
      )
    }
    return <span className="mono records-id">{cellText(v)}</span>
  }
  return <span className={f.type === 'json' || f.type === 'number' ? 'mono' : undefined}>{cellText(v)}</span>
}

/** An input in place of a cell: Enter or leaving saves, Escape cancels. `onDone(undefined)` is a cancel. */
function CellEditor(props: { field: FieldSchema; record: Rec; onDone: (value: unknown, base: Rec) => void }) {
  const { field } = props
  // The record as it was when editing began: its version goes with the save, so a change that arrives live
  // meanwhile (someone else's) answers 409 and the conflict dialog, instead of being overwritten unseen.
  const [base] = useState(props.record)
  const [text, setText] = useState(() => editText(field, base[field.name]))
  const [problem, setProblem] = useState<string | null>(null)
  const done = useRef(false)
  const inputRef = useRef<HTMLInputElement & HTMLSelectElement>(null)
  useEffect(() => inputRef.current?.focus(), [])
  const finish = (commit: boolean) => {
    if (done.current) return
    if (!commit) {
      done.current = true
      return props.onDone(undefined, base)
    }
    try {
      const value = parseValue(field, text, { dateIsLocal: true })
      done.current = true
      props.onDone(value, base)
    } catch (e) {
      if (e instanceof ValueError) setProblem(e.message)
      else throw e
    }
  }
  const onKeyDown = (e: KeyboardEvent) => {
    e.stopPropagation()
    if (e.key === 'Enter') {
      e.preventDefault()
      finish(true)
    } else if (e.key === 'Escape') {
      e.preventDefault()
      finish(false)
    }
  }
  const label = `Edit ${field.name}`
  if (field.type === 'select')
    return (
      <select
        className="records-editor"
        aria-label={label}
        ref={inputRef}
        value={text}
        onChange={(e) => setText(e.target.value)}
        onKeyDown={onKeyDown}
        onBlur={() => finish(true)}
      >
        <option value="">(none)</option>
        {(field.options?.values ?? []).map((v) => (
          <option key={v} value={v}>
            {v}
          </option>
        ))}
      </select>
    )
  const type =
    field.type === 'number'
      ? 'number'
      : field.type === 'date'
        ? 'datetime-local'
        : field.type === 'email'
          ? 'email'
          : field.type === 'url'
            ? 'url'
            : 'text'
  return (
    <input
      className="records-editor"
      aria-label={label}
      aria-invalid={problem ? true : undefined}
      title={problem ?? undefined}
      ref={inputRef}
      type={type}
      step={field.type === 'number' ? 'any' : undefined}
      value={text}
      onChange={(e) => {
        setText(e.target.value)
        setProblem(null)
      }}
      onKeyDown={onKeyDown}
      onBlur={() => finish(true)}
    />
  )
}
