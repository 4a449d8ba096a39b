import { encode } from 'uqr'

/** A QR code as one SVG path: a 1×1 square per dark module, on a grid `size` modules wide (quiet zone included). */
export interface QrShape {
  readonly size: number
  readonly path: string
}

/** The squares of the dark modules of `modules` (rows of booleans, `true` dark), as SVG path data. */
export function modulesPath(modules: readonly (readonly boolean[])[]): string {
  const parts: string[] = []
  modules.forEach((row, y) => {
    // Runs of dark modules in a row become one rectangle: a shorter path than one square each.
    let x = 0
    while (x < row.length) {
      if (!row[x]) {
        x++
        continue
      }
      const start = x
      while (x < row.length && row[x]) x++
      parts.push(`M${start} ${y}h${x - start}v1h${start - x}z`)
    }
  })
  return parts.join('')
}

/**
 * Encodes `text` (an otpauth:// URI) as a QR code, error correction M, with the 4-module quiet zone scanners
 * expect. Pure computation: no canvas, no data: URL, nothing the console's CSP would refuse.
 */
export function qrShape(text: string): QrShape {
  const qr = encode(text, { ecc: 'M', border: 4 })
  return { size: qr.size, path: modulesPath(qr.data) }
}
