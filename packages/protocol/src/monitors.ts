import { z } from 'zod'

export const DisplayServerSchema = z.enum(['X11', 'Wayland', 'Unknown'])
export type DisplayServer = z.infer<typeof DisplayServerSchema>

/** One RandR monitor, in the virtual screen's pixel coordinates (fields snake_case, as serde sends them). */
export const MonitorInfoSchema = z.strictObject({
  index: z.number().int().min(0),
  name: z.string(),
  x: z.number().int(),
  y: z.number().int(),
  width: z.number().int().positive(),
  height: z.number().int().positive(),
  /** Hz of the mode driving the monitor; 0 when no CRTC drives it (a purely logical monitor). */
  refresh_rate: z.number().min(0),
  scale_factor: z.number().positive(),
  is_primary: z.boolean(),
})
export type MonitorInfo = z.infer<typeof MonitorInfoSchema>
