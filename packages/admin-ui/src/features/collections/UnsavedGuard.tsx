import { useBlocker } from '@tanstack/react-router'
import { Dialog } from '../../components/ui/Dialog.tsx'

/**
 * Asks before leaving a page with unsaved edits (links, back button; the browser asks on reload or close).
 * `dirty` is read when the navigation happens, so a save that navigates right after is not stopped.
 */
export function UnsavedGuard(props: { dirty: () => boolean }) {
  const blocker = useBlocker({
    shouldBlockFn: () => props.dirty(),
    enableBeforeUnload: props.dirty,
    withResolver: true,
  })
  if (blocker.status !== 'blocked') return null
  return (
    <Dialog
      title="Leave without saving?"
      onClose={() => blocker.reset()}
      footer={
        <>
          <button type="button" className="btn" onClick={() => blocker.reset()}>
            Stay
          </button>
          <button type="button" className="btn danger" onClick={() => blocker.proceed()}>
            Leave and discard
          </button>
        </>
      }
    >
      <p>Your changes to this collection are not saved yet.</p>
    </Dialog>
  )
}
