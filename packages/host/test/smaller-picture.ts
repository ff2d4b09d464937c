import assert from 'node:assert/strict'
import { resolveCaptureConfig, ScreenCaptureConfigSchema } from '@smoldesk/protocol'
import type { CaptureSource, EncoderProgram } from '../src/capture/capture-source.ts'
import { FrameRecordReader } from '../src/capture/frame-records.ts'
import { ManagedProcess } from '../src/process/child.ts'
import { eventually, run } from './helpers.ts'
import type { Rgb } from './x11-paint.ts'

/*
 * A capture helper's last resort under congestion, as a decoder sees it:
 * "s2" on its stdin makes the stream half the width and height from a
 * keyframe on, changes go on arriving in it, and "s0" brings the whole
 * picture back. The X11 helpers (grab.test.ts) and sway's screencopy
 * helper (wayland-sway.test.ts) are held to the same steps.
 */

/**
 * The last picture of `frames` (H.264 Annex B, or VP8 frames, from a keyframe on) as ffmpeg decodes
 * it: its size, and a colour in it.
 */
export async function decodeLast(
  frames: Buffer[],
  encoder: string,
): Promise<{ width: number; height: number; colour: [number, number, number] }> {
  let input: Buffer
  let format: string
  if (encoder === 'libx264') {
    input = Buffer.concat(frames)
    format = 'h264'
  } else {
    // IVF (what ffmpeg reads raw VP8 from): a 32-byte file header, 12 bytes before each frame.
    const header = Buffer.alloc(32)
    header.write('DKIF', 0)
    header.writeUInt16LE(32, 6)
    header.write('VP80', 8)
    header.writeUInt16LE(640, 12)
    header.writeUInt16LE(480, 14)
    header.writeUInt32LE(30, 16)
    header.writeUInt32LE(1, 20)
    header.writeUInt32LE(frames.length, 24)
    const parts: Buffer[] = [header]
    frames.forEach((frame, i) => {
      const head = Buffer.alloc(12)
      head.writeUInt32LE(frame.length, 0)
      head.writeBigUInt64LE(BigInt(i), 4)
      parts.push(head, frame)
    })
    input = Buffer.concat(parts)
    format = 'ivf'
  }
  const out = await run(
    'ffmpeg',
    ['-v', 'error', '-f', format, '-i', 'pipe:0', '-f', 'image2pipe', '-c:v', 'ppm', 'pipe:1'],
    { input },
  )
  assert.equal(out.code, 0, out.stderr)
  // P6 pictures one after another: "P6\n<w> <h>\n255\n" and w × h × 3 bytes each.
  let at = 0
  let last: { width: number; height: number; pixels: Buffer } | undefined
  while (at < out.stdout.length) {
    const head = /^P6\s+(\d+)\s+(\d+)\s+255\s/.exec(out.stdout.subarray(at, at + 32).toString('latin1'))
    assert.ok(head, 'a PPM picture')
    const width = Number(head[1])
    const height = Number(head[2])
    const start = at + head[0].length
    last = { width, height, pixels: out.stdout.subarray(start, start + width * height * 3) }
    at = start + width * height * 3
  }
  assert.ok(last, 'a decoded picture')
  // A quarter of the way in: the X server's pointer sits in the middle of a new screen.
  const i = (Math.floor(last.height / 4) * last.width + Math.floor(last.width / 4)) * 3
  return {
    width: last.width,
    height: last.height,
    colour: [last.pixels[i] ?? 0, last.pixels[i + 1] ?? 0, last.pixels[i + 2] ?? 0],
  }
}

/** Within a codec's rounding of a flat colour. */
export function assertColour(actual: readonly number[], expected: readonly number[], what: string): void {
  const off = Math.max(...actual.map((v, i) => Math.abs(v - (expected[i] ?? 0))))
  assert.ok(off <= 12, `${what}: ${actual.join(',')} for ${expected.join(',')}`)
}

/**
 * Drives a running helper through s2 and s0 with the screen at `first`, then repainted to
 * `second` (by `repaint`) while shrunk; `width` × `height` is its whole picture.
 */
export async function assertSmallerPictureOnRequest(
  helper: ManagedProcess,
  encoder: string,
  size: { width: number; height: number },
  first: Rgb,
  repaint: (colour: Rgb) => Promise<void>,
  second: Rgb,
): Promise<void> {
  const frames: { frame: Buffer; key: boolean }[] = []
  const reader = new FrameRecordReader((frame, _us, key) => frames.push({ frame: Buffer.from(frame), key }))
  helper.child.stdout?.on('data', (chunk: Buffer) => reader.push(chunk))
  /** The frames from the first keyframe at or after `from`. */
  const stream = async (from: number) => {
    let key = -1
    await eventually(async () => {
      key = frames.findIndex((f, i) => i >= from && f.key)
      assert.ok(key >= 0, 'a keyframe')
    }, 3000)
    return frames.slice(key).map((f) => f.frame)
  }
  // The desktop may still be drawing itself (GNOME fades a new window in).
  await eventually(async () => {
    const full = await decodeLast(await stream(0), encoder)
    assert.deepEqual([full.width, full.height], [size.width, size.height])
    assertColour(full.colour, first, 'the desktop')
  }, 10_000)
  helper.child.stdin?.write('s2\n')
  const asked = frames.length
  const half = await decodeLast(await stream(asked), encoder)
  assert.deepEqual([half.width, half.height], [size.width / 2, size.height / 2], 'half the width and height')
  assertColour(half.colour, first, 'the desktop, shrunk')
  // A change goes on arriving in the smaller stream, without a new keyframe.
  const before = frames.length
  await repaint(second)
  await eventually(async () => assert.ok(frames.length > before), 2000)
  await new Promise((resolve) => setTimeout(resolve, 300))
  const changed = await decodeLast(await stream(asked), encoder)
  assertColour(changed.colour, second, 'a change, shrunk')
  helper.child.stdin?.write('s0\n')
  const back = await decodeLast(await stream(frames.length), encoder)
  assert.deepEqual([back.width, back.height], [size.width, size.height], 'the whole size again')
  assertColour(back.colour, second, 'the desktop, whole again')
}

/** The codecs SmolDesk's capture helpers are built for, with their encoders. */
export const HELPER_CODECS = [
  ['H264', 'libx264'],
  ['VP8', 'libvpx'],
] as const

/**
 * A display backend's capture source runs its own helper for a 640x480 `output` in `codec`,
 * says it takes a smaller picture, and does (assertSmallerPictureOnRequest).
 */
export async function assertSourceShrinks(
  source: CaptureSource,
  output: string,
  [codec, encoder]: (typeof HELPER_CODECS)[number],
  expected: { program: EncoderProgram; env: NodeJS.ProcessEnv },
  first: Rgb,
  repaint: (colour: Rgb) => Promise<void>,
  second: Rgb,
): Promise<void> {
  const command = source.command(
    {
      output,
      region: { x: 0, y: 0, width: 640, height: 480 },
      config: resolveCaptureConfig(0, ScreenCaptureConfigSchema.parse({ fps: 30, codec })),
      encoder: { codec, acceleration: 'None', encoder },
    },
    0,
  )
  assert.equal(command.program, expected.program)
  assert.equal(command.shrinkOnRequest, true, 'the pipeline may ask it for a smaller picture')
  const helper = await ManagedProcess.spawn({
    name: command.program,
    command: command.executable,
    args: command.args,
    env: { ...expected.env, ...command.env },
    stdio: ['pipe', 'pipe', 'pipe'],
  })
  try {
    await assertSmallerPictureOnRequest(helper, encoder, { width: 640, height: 480 }, first, repaint, second)
  } finally {
    await helper.close()
  }
}
