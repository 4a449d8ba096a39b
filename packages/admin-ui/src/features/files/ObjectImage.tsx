import type { ImageTransform, StorageObject } from '@bastide/sdk'
import { useQuery } from '@tanstack/react-query'
import { useEffect, useState } from 'react'
import { useClient } from '../../lib/client.tsx'

/**
 * An image of a stored object, fetched through the SDK with the admin's credentials (an <img src> to the API
 * would carry none) and shown from a blob: URL, which the console's CSP allows. `transform` asks the server
 * for a variant (a thumbnail is a few KB, whatever the original weighs).
 */
export function ObjectImage(props: {
  object: StorageObject
  transform?: ImageTransform
  alt: string
  className?: string
}) {
  const client = useClient()
  const { object, transform } = props
  const blob = useQuery({
    // The version is part of the key: an overwritten object shows its new bytes.
    queryKey: ['files', 'image', object.bucket, object.key, object.version, transform ?? null],
    queryFn: ({ signal }) =>
      client.storage
        .from(object.bucket)
        .download(object.key, { signal, ...(transform ? { transform } : {}) }),
    staleTime: 5 * 60_000,
  })
  const url = useBlobUrl(blob.data)
  if (blob.isError) return <span className="muted files-thumb-missing">no preview</span>
  if (!url) return <span className={`files-thumb-placeholder ${props.className ?? ''}`} aria-hidden="true" />
  return <img src={url} alt={props.alt} className={props.className} />
}

/** A blob: URL for a Blob, revoked when the Blob changes or the component goes away. */
export function useBlobUrl(blob: Blob | undefined): string | undefined {
  const [url, setUrl] = useState<string>()
  useEffect(() => {
    if (!blob) return setUrl(undefined)
    const u = URL.createObjectURL(blob)
    setUrl(u)
    return () => URL.revokeObjectURL(u)
  }, [blob])
  return url
}
