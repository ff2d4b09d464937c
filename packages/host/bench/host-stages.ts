import { spawn } from 'node:child_process'
import { setTimeout as sleep } from 'node:timers/promises'
import { resolveCaptureConfig, ScreenCaptureConfigSchema } from '@smoldesk/protocol'
import { buildGrabArgs, GRAB_BINARY } from '../src/display/x11/grab/grab.ts'

export interface HostStages {
  frames_per_s: number
  /** From the X server's damage report to the grab (the 1 ms grouping delay plus any wait for the rate). */
  wait_ms: number
  /** The median of the same: what a typical change waits, whatever a few frames did. */
  wait_median_ms: number
  grab_ms: number
  /** Pointer drawn in, BGRX → 4:2:0. */
  convert_ms: number
  /** libx264 plus the write to the pipe. */
  encode_ms: number
}

/**
 * The host side of the latency, stage by stage: the capture helper runs on
 * its own for a few seconds on the scene, with the config SmolDesk used,
 * and reports its per-frame averages (`--stats`). The stages the benchmark
 * cannot see from the viewer (getStats covers only the receiver).
 */
export async function measureHostStages(
  display: string,
  size: { width: number; height: number },
  config: Record<string, unknown>,
  seconds = 5,
): Promise<HostStages | undefined> {
  const args = buildGrabArgs(
    {
      output: 'screen',
      region: { x: 0, y: 0, ...size },
      config: resolveCaptureConfig(0, ScreenCaptureConfigSchema.parse(config)),
      encoder: { codec: 'H264', acceleration: 'None', encoder: 'libx264' },
    },
    display,
  )
  if (!args) return undefined
  const child = spawn(GRAB_BINARY, [...args, '--stats', '1'], { stdio: ['pipe', 'pipe', 'pipe'] })
  let stderr = ''
  child.stdout.resume() // frames are not needed, only drained
  child.stderr.on('data', (d: Buffer) => {
    stderr += d.toString()
  })
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
  await sleep(seconds * 1000)
  child.stdin.end() // end of input: the helper prints its averages and exits
  await exited
  const fields = Object.fromEntries(
    [...stderr.matchAll(/(\w+)=([\d.]+)/g)].map((m) => [m[1] ?? '', Number(m[2])] as const),
  )
  if (fields.frames === undefined) return undefined
  return {
    frames_per_s: Math.round((fields.frames / seconds) * 10) / 10,
    wait_ms: fields.wait_ms ?? 0,
    wait_median_ms: fields.wait_median_ms ?? 0,
    grab_ms: fields.grab_ms ?? 0,
    convert_ms: fields.convert_ms ?? 0,
    encode_ms: fields.encode_ms ?? 0,
  }
}
