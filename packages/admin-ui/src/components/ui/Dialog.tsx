import { type ReactNode, useEffect, useId, useRef } from 'react'

/**
 * A modal on the native <dialog>: focus moves in and back, Escape closes, the page behind is inert.
 * Rendered only while open.
 */
export function Dialog(props: {
  title: string
  onClose: () => void
  children: ReactNode
  footer?: ReactNode
  wide?: boolean
}) {
  const ref = useRef<HTMLDialogElement>(null)
  const titleId = useId()
  useEffect(() => {
    const d = ref.current
    if (d && !d.open) d.showModal()
    return () => d?.close()
  }, [])
  return (
    <dialog
      ref={ref}
      aria-labelledby={titleId}
      className={props.wide ? 'wide' : undefined}
      onCancel={(e) => {
        e.preventDefault()
        props.onClose()
      }}
    >
      <div className="dialog-head">
        <h2 id={titleId} className="grow">
          {props.title}
        </h2>
        <button type="button" className="btn small" onClick={props.onClose} aria-label="Close">
          ✕
        </button>
      </div>
      <div className="dialog-body">{props.children}</div>
      {props.footer ? <div className="dialog-foot">{props.footer}</div> : null}
    </dialog>
  )
}
