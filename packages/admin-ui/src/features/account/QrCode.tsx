import { useMemo } from 'react'
import { qrShape } from './qr.ts'

/**
 * A QR code drawn as inline SVG (one path, dark on a white plate in both themes: scanners want contrast), named
 * for screen readers by `label`.
 */
export function QrCode(props: { value: string; label: string; size?: number }) {
  const shape = useMemo(() => qrShape(props.value), [props.value])
  const px = props.size ?? 200
  return (
    <svg
      className="account-qr"
      role="img"
      aria-label={props.label}
      width={px}
      height={px}
      viewBox={`0 0 ${shape.size} ${shape.size}`}
      shapeRendering="crispEdges"
    >
      <rect width={shape.size} height={shape.size} fill="#ffffff" />
      <path d={shape.path} fill="#000000" />
    </svg>
  )
}
