import { z } from 'zod'

/** The desktop's sound as it goes to viewers: one Opus track, the same for all. */
export const AudioStreamSchema = z.strictObject({
  codec: z.literal('opus'),
  /** The sound server's source it records (a sink's monitor: what the desktop plays). */
  device: z.string(),
  bitrate_kbps: z.number().int(),
  sample_rate: z.literal(48000),
  channels: z.literal(2),
  frame_ms: z.number(),
})
export type AudioStream = z.infer<typeof AudioStreamSchema>

const AudioDeviceSchema = z.strictObject({
  name: z.string(),
  description: z.string(),
  is_default: z.boolean(),
})

/** get_audio_devices: the sound server and its devices (sinks: outputs; sources: inputs and monitors). */
export const AudioDevicesSchema = z.strictObject({
  /** null: no sound server answers (`error` says why). */
  server: z.strictObject({ name: z.string(), version: z.string() }).nullable(),
  error: z.string().optional(),
  /** What viewers hear now, or null. */
  streaming: AudioStreamSchema.nullable(),
  /** set_audio_enabled: whether the desktop's sound goes to viewers while sharing. */
  enabled: z.boolean(),
  sinks: z.array(AudioDeviceSchema.extend({ monitor: z.string() })),
  sources: z.array(AudioDeviceSchema.extend({ is_monitor: z.boolean() })),
  /** The virtual source viewers' microphones play into, once one was allowed. */
  microphone_source: z.string().nullable(),
})
export type AudioDevices = z.infer<typeof AudioDevicesSchema>

/** What applications on the desktop see viewers' microphones as. */
export const MICROPHONE_SOURCE_DESCRIPTION = 'SmolDesk microphone'
