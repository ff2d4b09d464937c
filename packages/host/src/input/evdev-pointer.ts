/** X button numbers (what InputService speaks) → evdev button codes. */
const BUTTONS: Readonly<Record<number, number>> = { 1: 0x110, 2: 0x112, 3: 0x111, 8: 0x113, 9: 0x114 }
/** X wheel "buttons" → [axis, steps]: 4 up, 5 down, 6 left, 7 right (axis 0 vertical, 1 horizontal). */
const WHEEL: Readonly<Record<number, [number, number]>> = { 4: [0, -1], 5: [0, 1], 6: [1, -1], 7: [1, 1] }

/**
 * An X button event as the Wayland input helpers' line (`B code 0|1` for a
 * button, `A axis steps` for a wheel notch, on press only); undefined for a
 * button no display server has.
 */
export function evdevPointerLine(button: number, pressed: boolean): string | undefined {
  const wheel = WHEEL[button]
  if (wheel) return pressed ? `A ${wheel[0]} ${wheel[1]}` : undefined
  const code = BUTTONS[button]
  return code === undefined ? undefined : `B ${code} ${pressed ? 1 : 0}`
}
