/*
 * A photograph-like picture for the latency benchmark's `photo` scene, drawn
 * once into a server-side pixmap twice the monitor's width; the pattern app
 * pans across it with CopyArea (cheap: the copy stays inside the X server).
 * Soft colour fields, a mid-scale texture and fine grain: what JPEG-based
 * remote desktops pay for on every changed rectangle, and what a video
 * encoder's motion search carries from frame to frame.
 */
import type { XClient } from 'x11'

const ZPIXMAP = 2
const DEPTH = 24
/** PutImage requests stay below the core protocol's 256 KiB limit (no BIG-REQUESTS needed). */
const MAX_REQUEST_BYTES = 200_000

interface PixmapClient {
  AllocID(): number
  CreatePixmap(pid: number, drawable: number, depth: number, width: number, height: number): void
  PutImage(
    format: number,
    drawable: number,
    gc: number,
    width: number,
    height: number,
    x: number,
    y: number,
    leftPad: number,
    depth: number,
    data: Buffer,
  ): void
}

/** A repeatable hash of a lattice point to 0…1 (no Math.random: every run draws the same picture). */
function hash(x: number, y: number): number {
  let h = Math.imul(x | 0, 0x27d4eb2d) ^ Math.imul((y | 0) + 0x165667b1, 0x85ebca6b)
  h = Math.imul(h ^ (h >>> 15), 0x2c1b3c6d)
  h = Math.imul(h ^ (h >>> 12), 0x297a2d39)
  return ((h ^ (h >>> 15)) >>> 0) / 4294967296
}

/** Smooth value noise on a lattice of `cell` px, periodic in x with `period` px. */
function valueNoise(x: number, y: number, cell: number, period: number): number {
  const cells = Math.max(1, Math.round(period / cell))
  const gx = x / cell
  const gy = y / cell
  const x0 = Math.floor(gx)
  const y0 = Math.floor(gy)
  const fx = gx - x0
  const fy = gy - y0
  const sx = fx * fx * (3 - 2 * fx)
  const sy = fy * fy * (3 - 2 * fy)
  const at = (i: number, j: number) => hash(((i % cells) + cells) % cells, j)
  const top = at(x0, y0) + (at(x0 + 1, y0) - at(x0, y0)) * sx
  const bottom = at(x0, y0 + 1) + (at(x0 + 1, y0 + 1) - at(x0, y0 + 1)) * sx
  return top + (bottom - top) * sy
}

/**
 * The picture as raw BGRx, `width` × `height`, repeating every `width` px
 * (the Wayland scene pans across this same picture).
 */
export function photoBgrx(width: number, height: number): Buffer {
  const data = Buffer.alloc(width * height * 4)
  for (let y = 0; y < height; y++) {
    for (let px = 0; px < width; px++) {
      // Large soft fields (sky, ground, subject), texture in three octaves, and per-pixel grain.
      const field = valueNoise(px, y, 240, width)
      const hue = valueNoise(px, y + 5000, 400, width)
      const texture =
        valueNoise(px, y + 1000, 64, width) * 0.5 +
        valueNoise(px, y + 2000, 20, width) * 0.3 +
        valueNoise(px, y + 3000, 6, width) * 0.2 -
        0.5
      const grain = hash(px, y + 7919) - 0.5
      const light = 0.2 + 0.6 * field + 0.3 * texture + 0.04 * grain
      const i = (y * width + px) * 4
      const channel = (tint: number) => Math.max(0, Math.min(255, Math.round(255 * light * tint)))
      data[i] = channel(0.55 + 0.45 * (1 - hue)) // blue
      data[i + 1] = channel(0.7 + 0.3 * field) // green
      data[i + 2] = channel(0.55 + 0.45 * hue) // red
    }
  }
  return data
}

/**
 * Paints a `2 × width` by `height` pixmap whose picture repeats every `width`
 * px, so panning by any offset modulo `width` never shows a seam.
 */
export function paintPhoto(
  client: XClient,
  drawable: number,
  gc: number,
  width: number,
  height: number,
): { pixmap: number; period: number } {
  const x11 = client as unknown as PixmapClient
  const pixmapWidth = width * 2
  const pixmap = x11.AllocID()
  x11.CreatePixmap(pixmap, drawable, DEPTH, pixmapWidth, height)
  const picture = photoBgrx(width, height)
  const rowBytes = width * 4
  const rows = Math.max(1, Math.floor(MAX_REQUEST_BYTES / (pixmapWidth * 4)))
  for (let y0 = 0; y0 < height; y0 += rows) {
    const h = Math.min(rows, height - y0)
    const data = Buffer.alloc(pixmapWidth * h * 4)
    for (let dy = 0; dy < h; dy++) {
      const row = picture.subarray((y0 + dy) * rowBytes, (y0 + dy + 1) * rowBytes)
      row.copy(data, dy * rowBytes * 2)
      row.copy(data, dy * rowBytes * 2 + rowBytes)
    }
    x11.PutImage(ZPIXMAP, pixmap, gc, pixmapWidth, h, 0, y0, 0, DEPTH, data)
  }
  return { pixmap, period: width }
}
