/**
 * What the display server must do for remote input; one backend per display
 * server (X11 via XTEST now). Coordinates are absolute, in the virtual
 * screen's pixels; buttons are X numbers (1 left, 2 middle, 3 right, 4–7
 * wheel, 8 back, 9 forward).
 */
export interface InputInjector {
  move(x: number, y: number): void
  /** Moves by (dx, dy) from wherever the pointer is. */
  moveBy(dx: number, dy: number): void
  button(button: number, pressed: boolean): void
  /** The backend's keycode for a DOM KeyboardEvent.code, from the display's own keymap; undefined if it has none. */
  keycode(code: string): number | undefined
  key(keycode: number, pressed: boolean): void
  /**
   * The keycode to press for a character the viewer's layout typed: one that
   * types it on the host's layout at this Shift level (the key at `code` if
   * it does), else a spare keycode that types it until characterReleased.
   */
  characterKey(char: string, code: string, shifted: boolean): Promise<number | undefined>
  /** A keycode characterKey gave was released. */
  characterReleased(keycode: number): void
  /** Types Unicode text as-is, whatever the host's keyboard layout has on its keys. */
  type(text: string): Promise<void>
  /** Round trip: every event sent before has been processed by the server. */
  flush(): Promise<void>
  close(): void
  readonly closed: boolean
}
