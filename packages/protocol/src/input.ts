import { z } from 'zod'

export const InputEventTypeSchema = z.enum([
  'MouseMove',
  'MouseButton',
  'MouseScroll',
  'KeyPress',
  'KeyRelease',
  'TouchEvent',
  'Gesture',
  'Text',
])
export const MouseButtonSchema = z.enum(['Left', 'Middle', 'Right', 'Back', 'Forward'])
export const ModifierSchema = z.enum(['Shift', 'Control', 'Alt', 'Meta'])

/** DOM `KeyboardEvent.code` values are short ASCII identifiers such as "KeyA" or "ShiftLeft". */
const KeyCodeSchema = z.string().regex(/^[A-Za-z0-9]{1,32}$/, 'must be a DOM KeyboardEvent.code')

/** One printable character (a DOM KeyboardEvent.key that is not a key name like "Enter"). */
export const KeyCharacterSchema = z
  .string()
  .max(8)
  .refine((s) => [...s].length === 1 && !/[\p{Cc}\p{Cs}]/u.test(s), 'must be one printable character')

const Coordinate = z.number().finite().min(-1_000_000).max(1_000_000)
const Delta = z.number().finite().min(-100_000).max(100_000)

/**
 * One input event in its JSON (IPC) form. `x`/`y` are pixels relative to the
 * top-left corner of monitor `monitor_index` (default: the monitor being
 * captured); a MouseMove with `delta_x`/`delta_y` and no `x`/`y` moves the
 * pointer relative to where it is (pointer lock). The data channel carries a
 * compact binary form of the same.
 */
export const InputEventSchema = z.strictObject({
  event_type: InputEventTypeSchema,
  x: Coordinate.optional(),
  y: Coordinate.optional(),
  button: MouseButtonSchema.optional(),
  key_code: KeyCodeSchema.optional(),
  /**
   * What the viewer's own layout typed with this key (KeyboardEvent.key, when
   * it is one character): the host types that character whatever its layout
   * has at `key_code`, unless Control, Alt or Meta make it a shortcut.
   */
  key: KeyCharacterSchema.optional(),
  modifiers: z.array(ModifierSchema).max(4).optional(),
  is_pressed: z.boolean().optional(),
  delta_x: Delta.optional(),
  delta_y: Delta.optional(),
  monitor_index: z.number().int().min(0).optional(),
  text: z.string().max(4096).optional(),
})
export type InputEvent = z.infer<typeof InputEventSchema>

export const MultiMonitorModeSchema = z.enum(['Single', 'Span'])

export const InputForwardingConfigSchema = z.strictObject({
  enabled: z.boolean(),
  monitor_index: z.number().int().min(0).optional(),
  scale_factor: z.number().finite().positive().max(16).optional(),
  multi_monitor_mode: MultiMonitorModeSchema.optional(),
})
export type InputForwardingConfig = z.infer<typeof InputForwardingConfigSchema>
