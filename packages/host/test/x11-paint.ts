import { X11Connection } from '../src/display/x11/connection.ts'

export type Rgb = readonly [number, number, number]
const INPUT_OUTPUT = 1

/** Solid-colour windows on a real X server, for tests that check which pixels reached the viewer. */
export class Painter {
  readonly #conn: X11Connection

  private constructor(conn: X11Connection) {
    this.#conn = conn
  }

  static async open(display: string): Promise<Painter> {
    return new Painter(await X11Connection.open(display))
  }

  /** An override-redirect window (no window manager involved) covering the rectangle. */
  async fill(rect: { x: number; y: number; width: number; height: number }, colour: Rgb): Promise<Panel> {
    const { client } = this.#conn
    const wid = client.AllocID()
    client.CreateWindow(
      wid,
      this.#conn.root,
      rect.x,
      rect.y,
      rect.width,
      rect.height,
      0,
      0,
      INPUT_OUTPUT,
      0,
      {
        backgroundPixel: pixel(colour),
        overrideRedirect: 1,
      },
    )
    client.MapWindow(wid)
    await this.#conn.sync()
    return new Panel(this.#conn, wid, rect)
  }

  close(): void {
    this.#conn.close()
  }
}

export class Panel {
  readonly #conn: X11Connection
  readonly #wid: number
  readonly #rect: { width: number; height: number }

  constructor(conn: X11Connection, wid: number, rect: { width: number; height: number }) {
    this.#conn = conn
    this.#wid = wid
    this.#rect = rect
  }

  async setColour(colour: Rgb): Promise<void> {
    this.#conn.client.ChangeWindowAttributes(this.#wid, { backgroundPixel: pixel(colour) })
    this.#conn.client.ClearArea(this.#wid, 0, 0, this.#rect.width, this.#rect.height, 0)
    await this.#conn.sync()
  }
}

/** TrueColor 24-bit visual: 0xRRGGBB. */
function pixel([r, g, b]: Rgb): number {
  return (r << 16) | (g << 8) | b
}
