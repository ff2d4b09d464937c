/*
 * A stand-alone X client for the latency benchmark: covers one monitor with
 * busy, changing content and draws the timestamp pattern at a slightly
 * detuned rate (a source at exactly 30/60 Hz phase-locks with the viewer's
 * 60 Hz frame loop and skews the median by up to 8 ms).
 *
 *   node pattern-app.ts <display> <x> <y> <width> <height> <hz>
 */
import { X11Connection } from '../display/x11/connection.ts'
import { encodePattern, PATTERN } from './pattern.ts'
import { runStandalone } from './standalone.ts'

const INPUT_OUTPUT = 1

async function main(): Promise<X11Connection> {
  const [display = ':0', xs = '0', ys = '0', ws = '1280', hs = '720', hzs = '60.1'] = process.argv.slice(2)
  const [x, y, width, height, hz] = [xs, ys, ws, hs, hzs].map(Number) as [
    number,
    number,
    number,
    number,
    number,
  ]
  const conn = await X11Connection.open(display)
  const { client } = conn
  const wid = client.AllocID()
  client.CreateWindow(wid, conn.root, x, y, width, height, 0, 0, INPUT_OUTPUT, 0, {
    backgroundPixel: 0x202020,
    overrideRedirect: 1,
  })
  client.MapWindow(wid)
  const gc = client.AllocID()
  ;(client as unknown as { CreateGC(id: number, d: number, v: Record<string, number>): void }).CreateGC(
    gc,
    wid,
    {
      foreground: 0xffffff,
    },
  )
  const x11 = client as unknown as {
    ChangeGC(id: number, v: Record<string, number>): void
    PolyFillRectangle(d: number, gc: number, coords: number[]): void
  }
  const busyTop = PATTERN.y + PATTERN.cell + 24
  let seed = 1
  const random = () => {
    seed = (seed * 1103515245 + 12345) % 2 ** 31
    return seed / 2 ** 31
  }
  const draw = () => {
    // Busy content: 40 random rectangles a frame below the pattern, so the encoder has real work.
    for (let i = 0; i < 40; i++) {
      x11.ChangeGC(gc, { foreground: Math.floor(random() * 0xffffff) })
      const w = 20 + Math.floor(random() * 200)
      const h = 20 + Math.floor(random() * 120)
      x11.PolyFillRectangle(wid, gc, [
        Math.floor(random() * Math.max(1, width - w)),
        busyTop + Math.floor(random() * Math.max(1, height - busyTop - h)),
        w,
        h,
      ])
    }
    // The pattern last, stamped with the time right before it is sent.
    const bits = encodePattern(performance.timeOrigin + performance.now())
    const white: number[] = []
    const black: number[] = []
    for (const [i, bit] of bits.entries()) {
      ;(bit ? white : black).push(PATTERN.x + i * PATTERN.cell, PATTERN.y, PATTERN.cell, PATTERN.cell)
    }
    x11.ChangeGC(gc, { foreground: 0xffffff })
    x11.PolyFillRectangle(wid, gc, white)
    x11.ChangeGC(gc, { foreground: 0x000000 })
    x11.PolyFillRectangle(wid, gc, black)
  }
  const periodMs = 1000 / hz
  let next = performance.now()
  const tick = () => {
    draw()
    next += periodMs
    const delay = Math.max(0, next - performance.now())
    if (delay === 0) next = performance.now()
    setTimeout(tick, delay)
  }
  tick()
  return conn
}

runStandalone('pattern app', main)
