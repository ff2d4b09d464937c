import { SmolDeskError } from '@smoldesk/protocol'
import { z } from 'zod'
import { runToCompletion } from '../process/child.ts'

/*
 * Talking to the sound server with `pactl` (pulseaudio-utils): the Pulse
 * protocol is what PulseAudio and PipeWire's pipewire-pulse both speak, so
 * one client covers the desktops Linux ships. JSON output (pactl 16 and
 * pipewire-pulse's pactl both have `-f json`) is parsed by schemas, never
 * by splitting text.
 */

/** Where the sound server listens: `unix:/path` (or what PULSE_SERVER holds); undefined = libpulse's default lookup. */
export type PulseAddress = string | undefined

const PACTL_TIMEOUT_MS = 3000

export interface SoundServerInfo {
  /** "pulseaudio" or "PulseAudio (on PipeWire 0.3.65)". */
  name: string
  version: string
  defaultSink: string
  defaultSource: string
}

const InfoSchema = z.looseObject({
  server_name: z.string(),
  server_version: z.string(),
  default_sink_name: z.string().optional(),
  default_source_name: z.string().optional(),
})

const DeviceSchema = z.looseObject({
  index: z.number(),
  name: z.string(),
  description: z.string().optional(),
  monitor_source: z.string().optional(),
  monitor_of_sink: z.string().nullable().optional(),
  sample_specification: z.string().optional(),
  state: z.string().optional(),
})
const DevicesSchema = z.array(DeviceSchema)
export type PulseDevice = z.infer<typeof DeviceSchema>

export async function pactl(server: PulseAddress, args: readonly string[]): Promise<string> {
  const result = await runToCompletion({
    name: 'pactl',
    command: 'pactl',
    args: [...(server ? ['--server', server] : []), ...args],
    timeoutMs: PACTL_TIMEOUT_MS,
  }).catch((err: unknown) => {
    throw new SmolDeskError('NO_SOUND_SERVER', `pactl is not installed (${String(err)})`)
  })
  if (result.code !== 0 || result.timedOut) {
    const why = result.timedOut ? 'did not answer within 3 s' : result.stderr.trim() || `exit ${result.code}`
    const where = server ?? process.env.PULSE_SERVER
    throw new SmolDeskError(
      'NO_SOUND_SERVER',
      `no sound server answers${where ? ` at ${where}` : ' (PulseAudio or PipeWire’s pipewire-pulse)'}: ${why}`,
    )
  }
  return result.stdout
}

function parse<T>(schema: z.ZodType<T>, text: string, what: string): T {
  try {
    return schema.parse(JSON.parse(text))
  } catch (err) {
    throw new SmolDeskError('INTERNAL', `pactl gave ${what} SmolDesk cannot read: ${String(err)}`)
  }
}

/** The server's name and defaults, or NO_SOUND_SERVER in words when none answers. */
export async function soundServerInfo(server: PulseAddress): Promise<SoundServerInfo> {
  const info = parse(InfoSchema, await pactl(server, ['-f', 'json', 'info']), 'server info')
  return {
    name: info.server_name,
    version: info.server_version,
    defaultSink: info.default_sink_name ?? '',
    defaultSource: info.default_source_name ?? '',
  }
}

export async function listSinks(server: PulseAddress): Promise<PulseDevice[]> {
  return parse(DevicesSchema, await pactl(server, ['-f', 'json', 'list', 'sinks']), 'a sink list')
}

export async function listSources(server: PulseAddress): Promise<PulseDevice[]> {
  return parse(DevicesSchema, await pactl(server, ['-f', 'json', 'list', 'sources']), 'a source list')
}

/** Loads a module; returns its index (for unloading). */
export async function loadModule(
  server: PulseAddress,
  name: string,
  args: readonly string[],
): Promise<number> {
  const out = (await pactl(server, ['load-module', name, ...args])).trim()
  const index = Number(out)
  if (!Number.isInteger(index)) throw new SmolDeskError('INTERNAL', `load-module ${name} answered "${out}"`)
  return index
}

export async function unloadModule(server: PulseAddress, index: number): Promise<void> {
  await pactl(server, ['unload-module', String(index)])
}

/** Indexes of the modules of this name whose argument contains `marker` (ours, from this or an earlier run). */
export async function modulesMarked(server: PulseAddress, name: string, marker: string): Promise<number[]> {
  // The short list has the index (the JSON list has none in pactl 16): index, name, argument, tab-separated.
  const indexes: number[] = []
  for (const line of (await pactl(server, ['list', 'short', 'modules'])).split('\n')) {
    const [index, moduleName, ...rest] = line.split('\t')
    if (moduleName === name && rest.join('\t').includes(marker)) indexes.push(Number(index))
  }
  return indexes
}
