import { encode } from 'uqr'

/** A QR code of `text` as SVG squares (no HTML injected), for a phone's camera. */
export function QrCode({ text, size = 176 }: { text: string; size?: number }) {
  const { data } = encode(text, { ecc: 'M', border: 2 })
  const n = data.length
  const cells: string[] = []
  data.forEach((row, y) => {
    row.forEach((dark, x) => {
      if (dark) cells.push(`M${x} ${y}h1v1h-1z`)
    })
  })
  return (
    <svg
      role="img"
      aria-label="QR code of the share link"
      width={size}
      height={size}
      viewBox={`0 0 ${n} ${n}`}
      shapeRendering="crispEdges"
    >
      <rect width={n} height={n} fill="#fff" />
      <path d={cells.join('')} fill="#000" />
    </svg>
  )
}
