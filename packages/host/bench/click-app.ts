/*
 * A stand-alone X client for the input benchmark: one window covering the
 * given rectangle that flips between black and white on every mouse button
 * press it receives, so a click's effect is visible in the video.
 *
 *   node click-app.ts <display> <x> <y> <width> <height>
 */
import type { XEvent } from 'x11'
import { X11Connection } from '../src/display/x11/connection.ts'
import { runStandalone } from './standalone.ts'

const INPUT_OUTPUT = 1
const BUTTON_PRESS_MASK = 0x4

async function main(): Promise<X11Connection> {
  const [display = ':0', ...rest] = process.argv.slice(2)
  const [x = 0, y = 0, width = 1920, height = 1080] = rest.map(Number)
  const conn = await X11Connection.open(display)
  const { client } = conn
  const wid = client.AllocID()
  let white = false
  client.CreateWindow(wid, conn.root, x, y, width, height, 0, 0, INPUT_OUTPUT, 0, {
    backgroundPixel: 0x000000,
    overrideRedirect: 1,
    eventMask: BUTTON_PRESS_MASK,
  })
  client.MapWindow(wid)
  conn.on('event', (ev: XEvent) => {
    if (ev.name !== 'ButtonPress') return
    white = !white
    client.ChangeWindowAttributes(wid, { backgroundPixel: white ? 0xffffff : 0x000000 })
    client.ClearArea(wid, 0, 0, width, height, 0)
  })
  return conn
}

runStandalone('click app', main)
