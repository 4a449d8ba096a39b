/**
 * The source editor: CodeMirror 6 with TypeScript. Imported only with `import()` from CodeEditor, so that it
 * stays in a chunk of its own, out of the console's first load.
 *
 * The editor is mounted inside a shadow root: CodeMirror then installs its styles as a constructed stylesheet
 * (adoptedStyleSheets), which the console's CSP (`style-src 'self'`, no inline <style>) allows. The console's
 * theme variables inherit through the shadow boundary, so the editor follows the light and dark themes.
 */
import { javascript } from '@codemirror/lang-javascript'
import { HighlightStyle, syntaxHighlighting } from '@codemirror/language'
import { type Diagnostic, lintGutter, setDiagnostics } from '@codemirror/lint'
import { Compartment, EditorState } from '@codemirror/state'
import { EditorView, keymap } from '@codemirror/view'
import { tags } from '@lezer/highlight'
import { basicSetup } from 'codemirror'

export interface EditorHandle {
  /** Replaces the whole text (a version loaded, a template chosen); not reported through onChange. */
  setText(text: string): void
  /** Marks a problem at a 1-based line and column (null clears it), and scrolls it into view. */
  setProblem(p: { line: number; column: number; message: string } | null): void
  setReadOnly(readOnly: boolean): void
  /** The accessible name of the text area. */
  setLabel(label: string): void
  focus(): void
  destroy(): void
}

const theme = EditorView.theme({
  '&': {
    color: 'var(--text)',
    backgroundColor: 'var(--panel)',
    border: '1px solid var(--border)',
    borderRadius: 'var(--radius)',
    fontSize: '13px',
  },
  '&.cm-focused': { outline: '2px solid var(--focus)', outlineOffset: '2px' },
  '.cm-scroller': { fontFamily: 'var(--mono)', minHeight: '320px', maxHeight: '70vh' },
  '.cm-content': { caretColor: 'var(--text)' },
  '.cm-cursor, .cm-dropCursor': { borderLeftColor: 'var(--text)' },
  '.cm-gutters': {
    backgroundColor: 'var(--bg)',
    color: 'var(--muted)',
    borderRight: '1px solid var(--border)',
  },
  '.cm-activeLine': { backgroundColor: 'transparent' },
  '.cm-activeLineGutter': { backgroundColor: 'var(--hover)', color: 'var(--text)' },
  '&.cm-focused .cm-selectionBackground, .cm-selectionBackground, ::selection': {
    backgroundColor: 'var(--selected)',
  },
  '.cm-tooltip': { backgroundColor: 'var(--panel)', color: 'var(--text)', border: '1px solid var(--border)' },
  '.cm-tooltip-autocomplete ul li[aria-selected]': {
    backgroundColor: 'var(--selected)',
    color: 'var(--text)',
  },
  // Drawn with CSS instead of lint's SVG data URLs: an SVG image from a data: URL inherits the page's CSP, under
  // which Chromium refuses its inline styles (a console error per image).
  '.cm-lintRange-error': {
    backgroundImage: 'none',
    backgroundColor: 'var(--danger-bg)',
    textDecoration: 'underline wavy var(--danger)',
    textDecorationSkipInk: 'none',
  },
  '.cm-lint-marker-error': {
    content: 'normal',
    display: 'inline-block',
    width: '0.7em',
    height: '0.7em',
    margin: '0.15em',
    borderRadius: '50%',
    backgroundColor: 'var(--danger)',
  },
  '.cm-diagnostic-error': { borderLeftColor: 'var(--danger)' },
})

/** Token colours from the console's theme variables (defined in functions.css for both themes). */
const highlight = HighlightStyle.define([
  {
    tag: [tags.keyword, tags.modifier, tags.controlKeyword, tags.operatorKeyword],
    color: 'var(--code-keyword)',
  },
  { tag: [tags.string, tags.special(tags.string), tags.regexp], color: 'var(--code-string)' },
  { tag: [tags.number, tags.bool, tags.null, tags.atom], color: 'var(--code-literal)' },
  {
    tag: [tags.comment, tags.lineComment, tags.blockComment],
    color: 'var(--code-comment)',
    fontStyle: 'italic',
  },
  { tag: [tags.typeName, tags.className, tags.namespace], color: 'var(--code-type)' },
  {
    tag: [tags.function(tags.variableName), tags.function(tags.propertyName)],
    color: 'var(--code-function)',
  },
  { tag: tags.propertyName, color: 'var(--code-property)' },
  { tag: tags.invalid, color: 'var(--danger)' },
])

/** Mounts an editor on `host` (in a shadow root of its own) holding `text`. */
export function createEditor(
  host: HTMLElement,
  o: {
    text: string
    label: string
    readOnly: boolean
    onChange: (text: string) => void
    onSave?: () => void
  },
): EditorHandle {
  const shadow = host.shadowRoot ?? host.attachShadow({ mode: 'open' })
  const parent = document.createElement('div')
  shadow.replaceChildren(parent)
  const editable = new Compartment()
  const labelled = new Compartment()
  let silent = false
  const view = new EditorView({
    root: shadow,
    parent,
    state: EditorState.create({
      doc: o.text,
      extensions: [
        // Before basicSetup's keymap: Mod-s deploys instead of the browser's "save page".
        keymap.of([
          {
            key: 'Mod-s',
            preventDefault: true,
            run: () => {
              o.onSave?.()
              return true
            },
          },
        ]),
        basicSetup,
        javascript({ typescript: true }),
        syntaxHighlighting(highlight),
        lintGutter(),
        theme,
        editable.of([EditorState.readOnly.of(o.readOnly), EditorView.editable.of(!o.readOnly)]),
        labelled.of(EditorView.contentAttributes.of({ 'aria-label': o.label })),
        EditorView.updateListener.of((u) => {
          if (u.docChanged && !silent) o.onChange(u.state.doc.toString())
        }),
      ],
    }),
  })
  return {
    setText(text) {
      if (text === view.state.doc.toString()) return
      silent = true
      view.dispatch({ changes: { from: 0, to: view.state.doc.length, insert: text } })
      silent = false
    },
    setProblem(p) {
      if (!p) {
        view.dispatch(setDiagnostics(view.state, []))
        return
      }
      const doc = view.state.doc
      const line = doc.line(Math.min(Math.max(1, p.line), doc.lines))
      const from = Math.min(line.from + Math.max(0, p.column - 1), line.to)
      // The rest of the line from the column (the whole line when the column is unknown or at its end).
      const d: Diagnostic = {
        from: from === line.to ? line.from : from,
        to: line.to,
        severity: 'error',
        message: p.message,
      }
      view.dispatch(setDiagnostics(view.state, [d]), {
        selection: { anchor: from },
        effects: EditorView.scrollIntoView(from, { y: 'center' }),
      })
    },
    setReadOnly(readOnly) {
      view.dispatch({
        effects: editable.reconfigure([EditorState.readOnly.of(readOnly), EditorView.editable.of(!readOnly)]),
      })
    },
    setLabel(label) {
      view.dispatch({
        effects: labelled.reconfigure(EditorView.contentAttributes.of({ 'aria-label': label })),
      })
    },
    focus: () => view.focus(),
    destroy: () => view.destroy(),
  }
}
