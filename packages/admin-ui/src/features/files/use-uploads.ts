import {
  BastideError,
  type BucketApi,
  ErrorCodes,
  localStorageAdapter,
  type ResumableUpload,
  type StorageObject,
} from '@bastide/sdk'
import { useCallback, useEffect, useRef, useState } from 'react'

const RESUME_STORE = localStorageAdapter()

/** Files above this go through tus (resumable, chunked, pausable); below, one PUT. */
export const RESUMABLE_THRESHOLD = 8 * 1024 * 1024

export type UploadStatus = 'uploading' | 'paused' | 'done' | 'failed' | 'canceled'

export interface UploadItem {
  readonly id: number
  readonly bucket: string
  readonly key: string
  readonly size: number
  readonly loaded: number
  readonly status: UploadStatus
  readonly resumable: boolean
  readonly error?: unknown
  readonly object?: StorageObject
  /** Said before the upload (e.g. the browser's type for it is not in the allow-list); the server decides. */
  readonly note?: string | undefined
}

interface Running {
  file: File
  key: string
  api: BucketApi
  ctl?: AbortController
  up?: ResumableUpload
  /** The tus upload URL once known: what a resume continues. */
  url?: string
  pausing?: boolean
}

/**
 * The console's uploads: each file with its progress; small ones in one request (cancel), large ones resumable
 * through tus (pause, resume, cancel). `onDone` runs after each finished upload (to refresh the listing).
 */
export function useUploads(onDone: (obj: StorageObject) => void) {
  const [items, setItems] = useState<UploadItem[]>([])
  const running = useRef(new Map<number, Running>())
  const nextId = useRef(1)
  const onDoneRef = useRef(onDone)
  onDoneRef.current = onDone

  const patch = useCallback((id: number, p: Partial<UploadItem>) => {
    setItems((all) => all.map((u) => (u.id === id ? { ...u, ...p } : u)))
  }, [])

  const runUpload = useCallback(
    async (id: number, r: Running) => {
      const onProgress = ({ loaded }: { loaded: number }) => patch(id, { loaded })
      patch(id, { status: 'uploading', error: undefined })
      try {
        let obj: StorageObject
        if (r.file.size > RESUMABLE_THRESHOLD) {
          r.pausing = false
          r.up = r.api.uploadResumable(r.key, r.file, {
            onProgress,
            ...(r.url ? { resumeFrom: r.url } : {}),
            // Remembered by file: after a reload, the same file dropped again continues where it stopped.
            resume: { storage: RESUME_STORE },
            onUrl: (url) => {
              r.url = url
            },
          })
          obj = await r.up.done
        } else {
          r.ctl = new AbortController()
          obj = await r.api.upload(r.key, r.file, { onProgress, signal: r.ctl.signal })
        }
        running.current.delete(id)
        patch(id, { status: 'done', loaded: obj.size, object: obj })
        onDoneRef.current(obj)
      } catch (e) {
        const aborted = e instanceof BastideError && e.code === ErrorCodes.ABORTED
        if (aborted && r.pausing) patch(id, { status: 'paused' })
        else if (aborted) {
          running.current.delete(id)
          patch(id, { status: 'canceled' })
        } else patch(id, { status: 'failed', error: e })
      }
    },
    [patch],
  )

  /** Starts uploading each file to its key. */
  const add = useCallback(
    (api: BucketApi, files: readonly { file: File; key: string; note?: string | undefined }[]) => {
      for (const { file, key, note } of files) {
        const id = nextId.current++
        const r: Running = { file, key, api }
        running.current.set(id, r)
        setItems((all) => [
          ...all,
          {
            id,
            bucket: api.bucket,
            key,
            size: file.size,
            loaded: 0,
            status: 'uploading',
            resumable: file.size > RESUMABLE_THRESHOLD,
            note,
          },
        ])
        void runUpload(id, r)
      }
    },
    [runUpload],
  )

  /** Continues a paused upload, or retries a failed one (a resumable one from where the server stands). */
  const resume = useCallback(
    (id: number) => {
      const r = running.current.get(id)
      if (r) void runUpload(id, r)
    },
    [runUpload],
  )

  /** Stops a resumable upload; the server keeps what it has (resume continues from there). */
  const pause = useCallback((id: number) => {
    const r = running.current.get(id)
    if (!r?.up) return
    r.pausing = true
    r.up.abort()
  }, [])

  /** Stops an upload for good (a resumable one is deleted on the server). */
  const cancel = useCallback(
    async (id: number) => {
      const r = running.current.get(id)
      if (!r) return
      r.pausing = false
      running.current.delete(id)
      if (r.up) await r.up.cancel()
      else r.ctl?.abort()
      patch(id, { status: 'canceled' })
    },
    [patch],
  )

  /** Forgets finished, failed and canceled uploads. */
  const clearFinished = useCallback(() => {
    setItems((all) => all.filter((u) => u.status === 'uploading' || u.status === 'paused'))
  }, [])

  // Leaving the page stops what is still running (resumable ones stay resumable on the server for a while).
  useEffect(
    () => () => {
      for (const r of running.current.values()) {
        r.pausing = true
        r.up?.abort()
        r.ctl?.abort()
      }
    },
    [],
  )

  // Closing the tab would cut running uploads: the browser asks first.
  const busy = items.some((u) => u.status === 'uploading')
  useEffect(() => {
    if (!busy) return
    const warn = (e: BeforeUnloadEvent) => e.preventDefault()
    window.addEventListener('beforeunload', warn)
    return () => window.removeEventListener('beforeunload', warn)
  }, [busy])

  return { items, add, pause, resume, cancel, clearFinished }
}
