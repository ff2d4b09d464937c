/*
 * A stand-alone X client for the latency benchmark: covers one monitor with
 * busy, changing content and draws the timestamp pattern at a slightly
 * detuned rate (a source at exactly 30/60 Hz phase-locks with the viewer's
 * 60 Hz frame loop and skews the median by up to 8 ms).
 *
 *   node pattern-app.ts <display> <x> <y> <width> <height> <hz> [rects|scroll|photo|fullscreen|pattern]
 *
 * `rects`: 40 random solid rectangles a frame. `scroll`: a page of text
 * scrolling up 4 px a frame, a new line every 4 frames, the way a document
 * or a terminal scrolls (what remote desktops spend most bandwidth on).
 * `photo`: a photograph-like picture (soft colour fields, texture, grain)
 * panning 4 px a frame, the way an image-heavy page scrolls or a camera pans
 * in a video: every pixel changes every frame. `pattern`: nothing but the
 * timestamp squares (a few requests a frame, so a grab never lands in the
 * middle of a frame's drawing: for tests of the capture rate).
 */
import { X11Connection } from '../src/display/x11/connection.ts'
import { encodePattern, PATTERN } from './pattern.ts'
import { paintPhoto } from './photo.ts'
import { runStandalone } from './standalone.ts'

const INPUT_OUTPUT = 1

async function main(): Promise<X11Connection> {
  const [display = ':0', xs = '0', ys = '0', ws = '1280', hs = '720', hzs = '60.1', content = 'rects'] =
    process.argv.slice(2)
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
    CopyArea(
      src: number,
      dst: number,
      gc: number,
      sx: number,
      sy: number,
      dx: number,
      dy: number,
      w: number,
      h: number,
    ): void
    ImageText8(d: number, gc: number, x: number, y: number, text: string): void
  }
  const busyTop = PATTERN.y + PATTERN.cell + 24
  let seed = 1
  const random = () => {
    seed = (seed * 1103515245 + 12345) % 2 ** 31
    return seed / 2 ** 31
  }
  const WORDS =
    'lorem ipsum dolor sit amet consectetur adipiscing elit sed do eiusmod tempor incididunt ut labore et dolore magna aliqua remote desktop latency frame pixel encoder'.split(
      ' ',
    )
  const LINE = 16
  const STEP = 4
  const CHAR_W = 6 // the server's built-in "fixed" font
  let frame = 0
  /** One line of random words with its baseline at y (ImageText8 takes at most 255 characters). */
  const writeLine = (y: number) => {
    let text = ''
    while (text.length < width / CHAR_W) text += `${WORDS[Math.floor(random() * WORDS.length)]} `
    x11.ChangeGC(gc, { foreground: 0x101010, background: 0xf4f4f0 })
    for (let i = 0; i * 200 < text.length; i++) {
      x11.ImageText8(wid, gc, i * 200 * CHAR_W, y, text.slice(i * 200, (i + 1) * 200))
    }
  }
  const scroll = () => {
    // Move the page up, then write the next line into the strip that opened at the bottom.
    const areaHeight = height - busyTop
    x11.CopyArea(wid, wid, gc, 0, busyTop + STEP, 0, busyTop, width, areaHeight - STEP)
    x11.ChangeGC(gc, { foreground: 0xf4f4f0 })
    x11.PolyFillRectangle(wid, gc, [0, height - STEP, width, STEP])
    if (frame++ % (LINE / STEP) === 0) writeLine(height - 4)
  }
  const photo =
    content === 'photo' || content === 'fullscreen'
      ? paintPhoto(client, wid, gc, width, height - busyTop)
      : undefined
  const pan = () => {
    if (!photo) return
    const offset = (frame++ * STEP) % photo.period
    x11.CopyArea(photo.pixmap, wid, gc, offset, 0, 0, busyTop, width, height - busyTop)
  }
  /** Lines of text over the panning photo, moving up 4 px a frame: with the pan, every pixel changes. */
  const captions = () => {
    const travel = height - busyTop + LINE
    for (let line = 0; line * LINE * 2 < travel; line++) {
      const y = busyTop + LINE + ((((line * LINE * 2 - frame * STEP) % travel) + travel) % travel)
      if (y > height) continue
      seed = line * 7919 + 1 // each line keeps its words as it moves
      writeLine(y)
    }
  }
  const draw = () => {
    if (content === 'scroll') scroll()
    else if (content === 'photo') pan()
    else if (content === 'fullscreen') {
      pan()
      captions()
    } else if (content === 'rects') rects()
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
  const rects = () => {
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
  }
  if (content === 'scroll') {
    // Start from a full page of text.
    x11.ChangeGC(gc, { foreground: 0xf4f4f0 })
    x11.PolyFillRectangle(wid, gc, [0, busyTop, width, height - busyTop])
    for (let y = busyTop + LINE; y < height; y += LINE) writeLine(y - 4)
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
