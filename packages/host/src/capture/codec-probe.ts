import { readdir } from 'node:fs/promises'
import {
  HARDWARE_ACCELERATIONS,
  type HardwareAcceleration,
  VIDEO_CODECS,
  type VideoCodec,
} from '@smoldesk/protocol'
import { createLogger } from '../log.ts'
import { runToCompletion } from '../process/child.ts'
import { STREAMABLE_ENCODERS } from './encoder-args.ts'

const log = createLogger('capture.probe')

/** One encoder to try: it counts as available only if ffmpeg encodes real frames with it. */
interface EncoderCandidate {
  codec: VideoCodec
  acceleration: HardwareAcceleration
  encoder: string
  /** ffmpeg arguments between the test input and the output. */
  args: string[]
  /** Arguments before the input (device set-up). */
  preInput?: string[]
}

export interface EncoderChoice {
  codec: VideoCodec
  acceleration: HardwareAcceleration
  encoder: string
}

export interface ProbeReport {
  codecs: VideoCodec[]
  accelerations: HardwareAcceleration[]
  /** Every encoder that opened and encoded, for the capture pipeline to choose from. */
  encoders: EncoderChoice[]
  /** Why each candidate that failed was refused (first line of ffmpeg's error). */
  refused: Record<string, string>
  durationMs: number
}

export const PROBE_FRAMES = 5
const PROBE_TIMEOUT_MS = 4000

async function renderNodes(): Promise<string[]> {
  try {
    const names = await readdir('/dev/dri')
    return names.filter((n) => n.startsWith('renderD')).map((n) => `/dev/dri/${n}`)
  } catch {
    return []
  }
}

async function candidates(): Promise<EncoderCandidate[]> {
  const software: EncoderCandidate[] = [
    {
      codec: 'H264',
      acceleration: 'None',
      encoder: 'libx264',
      args: ['-preset', 'ultrafast', '-tune', 'zerolatency'],
    },
    {
      codec: 'VP8',
      acceleration: 'None',
      encoder: 'libvpx',
      args: ['-deadline', 'realtime', '-cpu-used', '8'],
    },
    {
      codec: 'VP9',
      acceleration: 'None',
      encoder: 'libvpx-vp9',
      args: ['-deadline', 'realtime', '-cpu-used', '8'],
    },
    { codec: 'AV1', acceleration: 'None', encoder: 'libsvtav1', args: ['-preset', '12'] },
    {
      codec: 'AV1',
      acceleration: 'None',
      encoder: 'libaom-av1',
      args: ['-usage', 'realtime', '-cpu-used', '8'],
    },
  ]
  // VAAPI needs a DRM render node; without one there is nothing to open, so nothing is spawned.
  const vaapi: EncoderCandidate[] = (await renderNodes()).map((node) => ({
    codec: 'H264',
    acceleration: 'VAAPI',
    encoder: 'h264_vaapi',
    preInput: ['-vaapi_device', node],
    args: ['-vf', 'format=nv12,hwupload'],
  }))
  const gpu: EncoderCandidate[] = [
    { codec: 'H264', acceleration: 'NVENC', encoder: 'h264_nvenc', args: ['-preset', 'p1'] },
    { codec: 'H264', acceleration: 'QuickSync', encoder: 'h264_qsv', args: ['-vf', 'format=nv12'] },
  ]
  return [...software, ...vaapi, ...gpu]
}

/** Encodes a few synthetic frames with one encoder; resolves with the refusal reason, or undefined if it worked. */
async function tryEncoder(c: EncoderCandidate): Promise<string | undefined> {
  const args = [
    '-hide_banner',
    '-nostdin',
    '-loglevel',
    'error',
    ...(c.preInput ?? []),
    '-f',
    'lavfi',
    '-i',
    'testsrc2=size=256x144:rate=30',
    '-frames:v',
    String(PROBE_FRAMES),
    ...c.args,
    '-c:v',
    c.encoder,
    '-f',
    'null',
    '-',
  ]
  try {
    const result = await runToCompletion({
      name: `probe ${c.encoder}`,
      command: 'ffmpeg',
      args,
      timeoutMs: PROBE_TIMEOUT_MS,
      maxOutputBytes: 16 * 1024,
    })
    if (result.timedOut) return `timed out after ${PROBE_TIMEOUT_MS} ms`
    if (result.code === 0) return undefined
    return result.stderr.trim().split('\n')[0] ?? `exit code ${result.code}`
  } catch (err) {
    return String(err instanceof Error ? err.message : err)
  }
}

/**
 * Finds out which encoders really run on this machine by opening each on a
 * few frames, all in parallel. Nothing is assumed: on a machine without a
 * GPU the hardware encoders fail to open and are not offered.
 */
export async function probeEncoders(): Promise<ProbeReport> {
  const started = performance.now()
  const list = await candidates()
  const outcomes = await Promise.all(list.map(tryEncoder))
  const encoders: EncoderChoice[] = []
  const refused: Record<string, string> = {}
  list.forEach((c, i) => {
    const reason = outcomes[i]
    if (reason === undefined)
      encoders.push({ codec: c.codec, acceleration: c.acceleration, encoder: c.encoder })
    else refused[c.encoder] = reason
  })
  // Offered are the codecs SmolDesk can also packetize and stream, not merely encode.
  const codecs = VIDEO_CODECS.filter((codec) =>
    encoders.some((e) => e.codec === codec && STREAMABLE_ENCODERS.has(e.encoder)),
  )
  const accelerations = HARDWARE_ACCELERATIONS.filter(
    (a) => a === 'None' || encoders.some((e) => e.acceleration === a),
  )
  const durationMs = Math.round(performance.now() - started)
  log.info({ codecs, accelerations, durationMs, refused: Object.keys(refused) }, 'encoder probe done')
  return { codecs, accelerations, encoders, refused, durationMs }
}

/** Runs the probe once per process, on first use, and shares the answer. */
export class EncoderProbeCache {
  #report: Promise<ProbeReport> | undefined

  get(): Promise<ProbeReport> {
    this.#report ??= probeEncoders()
    return this.#report
  }
}
