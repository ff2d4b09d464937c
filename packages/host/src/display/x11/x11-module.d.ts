// Just the parts of the untyped `x11` package (node-x11) that SmolDesk uses.
declare module 'x11' {
  import type { EventEmitter } from 'node:events'

  type Callback<T> = (err: Error | null, result: T) => void

  interface XScreen {
    root: number
    width_in_pixels: number
    height_in_pixels: number
    width_in_millimeters: number
    height_in_millimeters: number
    root_depth: number
    root_visual: number
  }

  interface XDisplay {
    min_keycode: number
    max_keycode: number
    client: XClient
    screen: XScreen[]
    major: number
    minor: number
    vendor: string
  }

  interface XPropertyReply {
    type: number
    format: number
    bytesAfter: number
    data: Buffer
  }

  export interface XEvent {
    name: string
    type: number
    seq: number
    [field: string]: unknown
  }

  interface XFixes {
    firstEvent: number
    SelectSelectionInput(window: number, selection: number, eventMask: number): void
  }

  interface XTest {
    FakeInput(type: number, detail: number, time: number, window: number, x: number, y: number): void
    KeyPress: number
    KeyRelease: number
    ButtonPress: number
    ButtonRelease: number
    MotionNotify: number
  }

  /** The part of node-x11's XKEYBOARD module SmolDesk uses. */
  interface Xkb {
    UseCoreKbd: number
    firstEvent: number
    NameDetail: { KeyNames: number; KeyAliases: number }
    EventType: { NewKeyboardNotify: number; MapNotify: number }
    SelectEvents(
      deviceSpec: number,
      affectWhich: number,
      clear: number,
      selectAll: number,
      affectMap: number,
      map: number,
    ): void
    GetNames(
      deviceSpec: number,
      which: number,
      cb: Callback<{
        minKeyCode: number
        firstKey: number
        keyNames?: string[]
        keyAliases?: { real: string; alias: string }[]
      }>,
    ): void
  }

  interface XClient extends EventEmitter {
    seq_num: number
    pack_stream: { put(b: Buffer): void; submit(flush: boolean): void }
    replies: Record<number, [(buf: Buffer, opt: number) => unknown, Callback<unknown>]>
    display: XDisplay
    AllocID(): number
    InternAtom(onlyIfExists: boolean, name: string, cb: Callback<number>): void
    GetAtomName(atom: number, cb: Callback<string>): void
    CreateWindow(
      wid: number,
      parent: number,
      x: number,
      y: number,
      width: number,
      height: number,
      borderWidth: number,
      depth: number,
      windowClass: number,
      visual: number,
      values: Record<string, number>,
    ): void
    DestroyWindow(wid: number): void
    MapWindow(wid: number): void
    CreateGC(gc: number, drawable: number, values: Record<string, number>): void
    ChangeGC(gc: number, values: Record<string, number>): void
    PolyFillRectangle(drawable: number, gc: number, coords: number[]): void
    ClearArea(wid: number, x: number, y: number, width: number, height: number, exposures: number): void
    ChangeWindowAttributes(wid: number, values: Record<string, number>): void
    GetProperty(
      del: number,
      wid: number,
      name: number,
      type: number,
      longOffset: number,
      longLength: number,
      cb: Callback<XPropertyReply>,
    ): void
    ChangeProperty(
      mode: number,
      wid: number,
      name: number,
      type: number,
      format: number,
      data: Buffer | number[],
    ): void
    DeleteProperty(wid: number, name: number): void
    SetSelectionOwner(owner: number, selection: number, time: number): void
    GetSelectionOwner(selection: number, cb: Callback<number>): void
    ConvertSelection(
      requestor: number,
      selection: number,
      target: number,
      property: number,
      time: number,
    ): void
    SendEvent(destination: number, propagate: number, eventMask: number, event: Record<string, unknown>): void
    QueryExtension(
      name: string,
      cb: Callback<{ present: boolean; majorOpcode: number; firstEvent: number; firstError: number }>,
    ): void
    require(extension: 'fixes', cb: Callback<XFixes>): void
    require(extension: 'xtest', cb: Callback<XTest>): void
    require(extension: 'xkb', cb: Callback<Xkb>): void
    QueryPointer(wid: number, cb: Callback<{ rootX: number; rootY: number; keyMask: number }>): void
    QueryKeymap(cb: Callback<Buffer>): void
    GetKeyboardMapping(first: number, count: number, cb: Callback<number[][]>): void
    ChangeKeyboardMapping(first: number, keysymsPerKeycode: number, keysyms: number[]): void
    GetInputFocus(cb: Callback<unknown>): void
    terminate(): void
    close(cb?: () => void): void
  }

  export function createClient(
    options: { display?: string; disableBigRequests?: boolean },
    cb: (err: Error | null, display: XDisplay) => void,
  ): XClient
  export const eventMask: Record<string, number>
  const x11: { createClient: typeof createClient; eventMask: typeof eventMask }
  export default x11
  export type { XClient, XDisplay, XFixes, Xkb, XPropertyReply, XScreen, XTest }
}
