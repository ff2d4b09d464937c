import assert from 'node:assert/strict'
import { resolve } from 'node:path'
import { describe, it } from 'node:test'
import { resolveCaptureConfig, ScreenCaptureConfigSchema } from '@smoldesk/protocol'
import { measureHostStages } from '../bench/host-stages.ts'
import { CapturePipeline } from '../src/capture/capture-pipeline.ts'
import { buildFfmpegArgs, RTP_PACKET_BYTES } from '../src/capture/encoder-args.ts'
import { FrameRecordReader } from '../src/capture/frame-records.ts'
import { H264RtpPacketizer, splitAnnexB } from '../src/capture/h264-rtp.ts'
import { Vp8RtpPacketizer } from '../src/capture/vp8-rtp.ts'
import { HELPER_VBV_CEILING_KBPS } from '../src/capture/x264-helper-args.ts'
import { VirtualDesktop } from '../src/display/embedded/virtual-desktop.ts'
import { buildGrabArgs, GRAB_VP8_BINARY, grabBinary } from '../src/display/x11/grab/grab.ts'
import { X11CaptureSource } from '../src/display/x11/x11-capture.ts'
import { ManagedProcess } from '../src/process/child.ts'
import { eventually, run } from './helpers.ts'
import { assertSmallerPictureOnRequest } from './smaller-picture.ts'
import { Painter } from './x11-paint.ts'

const PATTERN_APP = resolve(import.meta.dirname, '../bench/pattern-app.ts')

const plan = (config: Record<string, unknown>, encoder = 'libx264') => ({
  display: ':5',
  output: 'DUMMY1',
  region: { x: 1920, y: 0, width: 1280, height: 720 },
  // Through the schema, as start_capture does: the values are the checked ones.
  config: resolveCaptureConfig(0, ScreenCaptureConfigSchema.parse(config)),
  encoder: {
    codec: encoder === 'libvpx' ? ('VP8' as const) : ('H264' as const),
    acceleration: 'None' as const,
    encoder,
  },
})

/** Reassembles RTP packets (single NAL units and FU-A) into NAL units, as a receiver does. */
function depacketize(packets: Buffer[]): Buffer[] {
  const units: Buffer[] = []
  let fragments: Buffer[] = []
  for (const packet of packets) {
    const payload = packet.subarray(12)
    const type = (payload[0] ?? 0) & 0x1f
    if (type !== 28) {
      units.push(payload)
      continue
    }
    const fu = payload[1] ?? 0
    if (fu & 0x80) fragments = [Buffer.from([((payload[0] ?? 0) & 0xe0) | (fu & 0x1f)])]
    fragments.push(payload.subarray(2))
    if (fu & 0x40) units.push(Buffer.concat(fragments))
  }
  return units
}

describe('capture helper: H.264 RTP packetizer, frame records, x264 settings', () => {
  it('splits Annex B into NAL units (3- and 4-byte start codes)', () => {
    const stream = Buffer.from([0, 0, 0, 1, 0x67, 1, 2, 0, 0, 1, 0x68, 3, 0, 0, 0, 1, 0x65, 4, 5])
    assert.deepEqual(
      splitAnnexB(stream).map((u) => [...u]),
      [
        [0x67, 1, 2],
        [0x68, 3],
        [0x65, 4, 5],
      ],
    )
  })

  it('sends small NAL units whole and big ones as FU-A fragments; the marker ends the frame', () => {
    const sps = Buffer.from([0x67, 0x42, 0xc0, 0x1f])
    const idr = Buffer.concat([Buffer.from([0x65]), Buffer.alloc(5000, 9)])
    const packets: Buffer[] = []
    const p = new H264RtpPacketizer((packet) => packets.push(packet))
    p.push(Buffer.concat([Buffer.from([0, 0, 0, 1]), sps, Buffer.from([0, 0, 1]), idr]), 1_000_000)
    assert.ok(packets.every((pk) => pk.length <= RTP_PACKET_BYTES))
    assert.deepEqual(
      depacketize(packets).map((u) => u.toString('hex')),
      [sps, idr].map((u) => u.toString('hex')),
    )
    assert.deepEqual(
      packets.map((pk) => (pk[1] ?? 0) >> 7),
      packets.map((_, i) => (i === packets.length - 1 ? 1 : 0)),
    )
    assert.ok(
      packets.every((pk) => pk.readUInt32BE(4) === 90_000),
      'capture time on the 90 kHz clock',
    )
    const seq = packets.map((pk) => pk.readUInt16BE(2))
    assert.deepEqual(
      seq,
      seq.map((_, i) => ((seq[0] ?? 0) + i) & 0xffff),
    )
  })

  it('reads frame records from arbitrary chunks', () => {
    const record = (payload: Buffer, us: number, key: boolean) => {
      const header = Buffer.alloc(13)
      header.writeUInt32BE(payload.length, 0)
      header.writeBigUInt64BE(BigInt(us), 4)
      header[12] = key ? 1 : 0
      return Buffer.concat([header, payload])
    }
    const stream = Buffer.concat([
      record(Buffer.alloc(300, 1), 5, true),
      record(Buffer.alloc(7, 2), 6, false),
    ])
    const frames: [number, number, boolean][] = []
    const reader = new FrameRecordReader((frame, us, key) => frames.push([frame.length, us, key]))
    for (let i = 0; i < stream.length; i += 11) reader.push(stream.subarray(i, i + 11))
    assert.deepEqual(frames, [
      [300, 5, true],
      [7, 6, false],
    ])
  })

  it('adds 4x4 intra prediction to ultrafast, for the helper and for ffmpeg alike', () => {
    const helperParams = (config: Record<string, unknown>) => {
      const args = buildGrabArgs(plan(config), ':5') ?? []
      return args.filter((_, i) => args[i - 1] === '--param')
    }
    const ffmpegParams = (config: Record<string, unknown>) => {
      const args = buildFfmpegArgs({ ...plan(config), rtpPort: 5000, payloadType: 96 })
      return args.includes('-x264-params') ? args[args.indexOf('-x264-params') + 1] : undefined
    }
    assert.ok(helperParams({}).includes('partitions=i4x4'))
    assert.equal(ffmpegParams({}), 'partitions=i4x4')
    const cbr = { bitrate: 4000, advanced_options: { rate_control: 'CBR' } }
    assert.equal(ffmpegParams(cbr), 'partitions=i4x4:nal-hrd=cbr')
    assert.ok(helperParams(cbr).includes('nal-hrd=cbr'))
    // Balanced and Quality have presets that choose these themselves.
    for (const latency_mode of ['Balanced', 'Quality']) {
      assert.ok(!helperParams({ latency_mode }).some((p) => p.startsWith('partitions')))
      assert.equal(ffmpegParams({ latency_mode }), undefined)
    }
  })

  it('maps every x264 field of the config onto the helper, and leaves the rest to ffmpeg', () => {
    const args = buildGrabArgs(
      plan({
        fps: 60,
        quality: 50,
        bitrate: 6000,
        keyframe_interval_frames: 120,
        capture_cursor: false,
        advanced_options: {
          preset: 'veryfast',
          profile: 'high',
          extra_params: { refs: 2, threads: 2, slices: 4, 'intra-refresh': true, 'sc-threshold': 0 },
        },
      }),
      ':5',
    )
    assert.ok(args)
    const value = (flag: string) => args[args.indexOf(flag) + 1]
    assert.equal(value('--display'), ':5')
    assert.equal(value('--region'), '1920,0,1280,720')
    assert.equal(value('--fps'), '60')
    assert.equal(value('--cursor'), '0')
    assert.equal(value('--preset'), 'veryfast')
    assert.equal(value('--tune'), 'zerolatency')
    assert.equal(value('--profile'), 'high')
    const params = args.filter((_, i) => args[i - 1] === '--param')
    for (const p of [
      'keyint=120',
      'bframes=0',
      'crf=30',
      'vbv-maxrate=6000',
      'vbv-bufsize=100',
      'ref=2',
      'threads=2',
      'slices=4',
      'intra-refresh=1',
      'scenecut=0',
    ]) {
      assert.ok(params.includes(p), `${p} in ${params.join(' ')}`)
    }
    assert.ok(!params.some((p) => p.startsWith('partitions')), 'a chosen preset is kept')
    assert.equal(buildGrabArgs(plan({ advanced_options: { pixel_format: 'yuv444p' } }), ':5'), undefined)
  })
})

describe('capture helper: VP8 settings and RTP packetizer', () => {
  it('gives smoldesk-grab-vp8 the settings ffmpeg would have, and leaves x264-only ones to ffmpeg', () => {
    const vp8 = (config: Record<string, unknown>) => {
      const args = buildGrabArgs(plan({ codec: 'VP8', ...config }, 'libvpx'), ':5')
      return (
        args && Object.fromEntries(args.flatMap((a, i) => (a.startsWith('--') ? [[a, args[i + 1]]] : [])))
      )
    }
    assert.equal(grabBinary(plan({ codec: 'VP8' }, 'libvpx')), GRAB_VP8_BINARY)
    // Constant quality (q80 → 20, as ffmpeg's -crf) under the helpers' ceiling; UltraLow's speed.
    assert.deepEqual(vp8({ fps: 60, keyframe_interval_frames: 120 }), {
      '--display': ':5',
      '--region': '1920,0,1280,720',
      '--fps': '60',
      '--cursor': '1',
      '--cpu-used': '8',
      '--gop': '120',
      '--end-usage': 'cq',
      '--cq-level': '20',
      '--kbps': String(HELPER_VBV_CEILING_KBPS),
    })
    // A configured bitrate: the target, with the rate buffer UltraLow sizes (one frame: 6000/30 kbit).
    const cbr = vp8({
      bitrate: 6000,
      advanced_options: { rate_control: 'CBR', extra_params: { threads: 2 } },
    })
    assert.equal(cbr?.['--end-usage'], 'cbr')
    assert.equal(cbr?.['--kbps'], '6000')
    assert.equal(cbr?.['--buffer-ms'], '33')
    assert.equal(cbr?.['--threads'], '2')
    assert.equal(vp8({ latency_mode: 'Balanced' })?.['--cpu-used'], '6')
    assert.equal(vp8({ advanced_options: { extra_params: { refs: 2 } } }), undefined, 'refs is x264’s')
    assert.equal(vp8({ advanced_options: { pixel_format: 'yuv444p' } }), undefined)
    assert.equal(
      buildGrabArgs(plan({ codec: 'VP9' }, 'libvpx-vp9'), ':5'),
      undefined,
      'VP9 stays with ffmpeg',
    )
  })

  it('cuts a VP8 frame into packets with RFC 7741 descriptors: S first, marker last, one picture ID', () => {
    const packets: Buffer[] = []
    const p = new Vp8RtpPacketizer((packet) => packets.push(packet))
    const big = Buffer.from(Array.from({ length: 3000 }, (_, i) => i & 0xff))
    p.push(big, 1_000_000)
    p.push(Buffer.from([1, 2, 3]), 1_033_333)
    assert.ok(packets.every((pk) => pk.length <= RTP_PACKET_BYTES))
    const first = packets.filter((pk) => pk.readUInt32BE(4) === 90_000)
    assert.equal(first.length, 3, '3000 bytes: three packets')
    const sizes = first.map((pk) => pk.length)
    assert.ok(Math.max(...sizes) - Math.min(...sizes) <= 1, `equal pieces: ${sizes.join(', ')}`)
    assert.deepEqual(
      first.map((pk) => [(pk[1] ?? 0) >> 7, (pk[12] ?? 0) & 0x10]),
      [
        [0, 0x10],
        [0, 0],
        [1, 0],
      ],
      'S on the first, the marker on the last',
    )
    assert.deepEqual(Buffer.concat(first.map((pk) => pk.subarray(16))), big, 'the frame, whole')
    const pictureId = (pk: Buffer) => pk.readUInt16BE(14) & 0x7fff
    assert.ok(first.every((pk) => (pk[12] ?? 0) & 0x80 && pk[13] === 0x80 && (pk[14] ?? 0) & 0x80))
    assert.ok(first.every((pk) => pictureId(pk) === pictureId(first[0] ?? big)))
    const second = packets.at(-1) ?? big
    assert.equal(pictureId(second), (pictureId(first[0] ?? big) + 1) & 0x7fff, 'one picture ID a frame')
    assert.equal(second.readUInt32BE(4), 93_000)
    const seq = packets.map((pk) => pk.readUInt16BE(2))
    assert.deepEqual(
      seq,
      seq.map((_, i) => ((seq[0] ?? 0) + i) & 0xffff),
    )
  })
})

/** A bare 640x480 Xvfb on a free display, without the given X extensions. */
function smallDesktop(disableExtensions: string[] = []): Promise<VirtualDesktop> {
  return VirtualDesktop.start({
    backend: 'xvfb',
    monitors: [{ width: 640, height: 480 }],
    withApps: false,
    disableExtensions,
  })
}

describe('capture helper fallback', () => {
  it('streams through ffmpeg when the X server lacks what the helper needs (no DAMAGE)', async () => {
    const desktop = await smallDesktop(['DAMAGE'])
    const display = desktop.display
    const pipeline = new CapturePipeline(new X11CaptureSource(() => display, true))
    try {
      const plan = {
        output: 'screen',
        region: { x: 0, y: 0, width: 640, height: 480 },
        config: resolveCaptureConfig(0, ScreenCaptureConfigSchema.parse({})),
        encoder: { codec: 'H264' as const, acceleration: 'None' as const, encoder: 'libx264' },
      }
      assert.equal(pipeline.commandFor(plan).program, 'smoldesk-grab')
      const packet = new Promise<Buffer>((resolve) => pipeline.once('rtp', resolve))
      await pipeline.start(plan)
      assert.ok((await packet).length > 12, 'video flows')
      assert.equal(pipeline.commandFor(plan).program, 'ffmpeg', 'from now on ffmpeg runs')
      assert.equal(pipeline.running, true, 'and the pipeline knows it is running')
    } finally {
      await pipeline.close()
      await desktop.close()
    }
  })
})

/** The encoders smoldesk-grab is built with, and the config that picks each. */
const HELPER_ENCODERS = [
  { name: 'H.264', encoder: 'libx264', config: {}, backKbps: 1500 },
  // Back as before the ceiling too (2.24-2.31 Mbit/s with a core kept busy, free 1.9-2.4): under CQ
  // libvpx stayed at 1.0-1.2 for the 5 s measured, its quantizer floored by its average since it
  // opened (see apply_rate in vp8-records.h).
  { name: 'VP8', encoder: 'libvpx', config: { codec: 'VP8' }, backKbps: 1500 },
] as const

/** smoldesk-grab(-vp8) on the whole 640x480 screen of `display`, with the helper arguments of `config`. */
async function spawnHelper(
  display: string,
  config: Record<string, unknown>,
  encoder = 'libx264',
): Promise<ManagedProcess> {
  const p = plan(config, encoder)
  const args = buildGrabArgs(p, ':5')
  const command = grabBinary(p)
  assert.ok(args && command)
  args[args.indexOf('--display') + 1] = display
  args[args.indexOf('--region') + 1] = '0,0,640,480'
  return ManagedProcess.spawn({ name: 'smoldesk-grab', command, args, stdio: ['pipe', 'pipe', 'pipe'] })
}

/**
 * What the SDP announces for H.264 (profile-level-id 42e0..): Constrained Baseline, i.e.
 * profile_idc 66 with constraint_set1, and CAVLC (the PPS's entropy_coding_mode_flag, after two
 * ue(v) ids of 0).
 */
function assertConstrainedBaseline(frame: Buffer): void {
  const units = splitAnnexB(frame)
  const sps = units.find((u) => ((u[0] ?? 0) & 0x1f) === 7)
  const pps = units.find((u) => ((u[0] ?? 0) & 0x1f) === 8)
  assert.equal(sps?.[1], 66, 'Baseline profile')
  assert.equal((sps?.[2] ?? 0) & 0x40, 0x40, 'constrained')
  assert.equal((pps?.[1] ?? 0) & 0xe0, 0xc0, 'CAVLC')
}

/** A VP8 key frame (RFC 6386 9.1): frame type 0, the start code 9d 01 2a, then the size. */
function assertVp8Keyframe(frame: Buffer, width: number, height: number): void {
  assert.equal((frame[0] ?? 1) & 1, 0, 'a key frame')
  assert.equal(frame.subarray(3, 6).toString('hex'), '9d012a', 'the key frame start code')
  assert.equal(frame.readUInt16LE(6) & 0x3fff, width)
  assert.equal(frame.readUInt16LE(8) & 0x3fff, height)
}

for (const { name, encoder, config } of HELPER_ENCODERS) {
  describe(`capture helper on its own (${name})`, () => {
    it('sends about one frame a second for a still screen, a change at once, and a keyframe on request', async () => {
      const desktop = await smallDesktop()
      const display = desktop.display
      try {
        const helper = await spawnHelper(display, { ...config, fps: 60 }, encoder)
        try {
          const frames: { at: number; key: boolean }[] = []
          let first: Buffer | undefined
          const reader = new FrameRecordReader((frame, _us, key) => {
            first ??= Buffer.from(frame)
            frames.push({ at: performance.now(), key })
          })
          helper.child.stdout?.on('data', (chunk: Buffer) => reader.push(chunk))
          await eventually(async () => assert.ok(frames.length >= 1))
          assert.equal(frames[0]?.key, true, 'the first frame is a keyframe')
          if (encoder === 'libx264') assertConstrainedBaseline(first ?? Buffer.alloc(0))
          else assertVp8Keyframe(first ?? Buffer.alloc(0), 640, 480)
          const start = frames.length
          await new Promise((resolve) => setTimeout(resolve, 3000))
          const still = frames.length - start
          assert.ok(still >= 2 && still <= 4, `${still} frames in 3 s of a still screen`)
          // A change: the root window's background, repainted by the X server.
          const before = frames.length
          const changed = performance.now()
          await run('xsetroot', ['-solid', '#3366cc'], { env: { DISPLAY: display } })
          await eventually(async () => assert.ok(frames.length > before), 1000)
          const latency = (frames[before]?.at ?? 0) - changed
          console.log(`still screen: ${still} frames in 3 s; a change → frame in ${latency.toFixed(1)} ms`)
          assert.ok(latency < 200, `${latency} ms`)
          // A keyframe on request, at once (a frame already on its way may come first, on a busy machine).
          const asked = frames.length
          helper.child.stdin?.write('k')
          await eventually(
            async () =>
              assert.ok(
                frames.slice(asked).some((f) => f.key),
                'a keyframe',
              ),
            1000,
          )
        } finally {
          await helper.close()
        }
      } finally {
        await desktop.close()
      }
    })
  })
}

for (const { name, encoder, config } of HELPER_ENCODERS) {
  describe(`capture helper: a smaller picture when asked (${name})`, () => {
    it('encodes at half the size from a keyframe on, keeps showing changes, and goes back', async () => {
      const desktop = await smallDesktop()
      const painter = await Painter.open(desktop.display)
      try {
        const panel = await painter.fill({ x: 0, y: 0, width: 640, height: 480 }, [0x33, 0x66, 0xcc])
        const helper = await spawnHelper(desktop.display, { ...config, fps: 30 }, encoder)
        try {
          await assertSmallerPictureOnRequest(
            helper,
            encoder,
            { width: 640, height: 480 },
            [0x33, 0x66, 0xcc],
            (colour) => panel.setColour(colour),
            [0xcc, 0x66, 0x33],
          )
        } finally {
          await helper.close()
        }
      } finally {
        painter.close()
        await desktop.close()
      }
    })
  })
}

describe('capture helper rate ceiling', () => {
  /** The benchmark's pattern app drawing on the whole 640x480 screen at `hz`. */
  const scene = async (display: string, hz: number) => {
    const app = await ManagedProcess.spawn({
      name: 'pattern app',
      command: process.execPath,
      // Only the timestamp squares: a few requests a frame, which a grab never splits.
      args: [PATTERN_APP, display, '0', '0', '640', '480', String(hz), 'pattern'],
    })
    // Past Node's start-up and the window's first paint: from here on it draws at `hz`.
    await new Promise((resolve) => setTimeout(resolve, 1000))
    return app
  }

  it('holds a faster source to about --fps, and does not delay a source a hair faster than it', async () => {
    const desktop = await smallDesktop()
    try {
      const size = { width: 640, height: 480 }
      const fast = await scene(desktop.display, 100)
      const capped = await measureHostStages(desktop.display, size, { fps: 20 }, 4).finally(() =>
        fast.close(),
      )
      assert.ok(capped)
      console.log(`100 Hz source, fps 20: ${capped.frames_per_s} frames/s`)
      // 21 a second (5 % of slack) and the two the bucket starts with, with room for a late timer
      // on a busy machine; the source draws 100.
      assert.ok(capped.frames_per_s < 25, `${capped.frames_per_s} frames/s`)
      assert.ok(capped.frames_per_s >= 15, `${capped.frames_per_s} frames/s`)
      // 3 % faster than the ceiling: a strict bucket runs dry within 2 s and then holds every
      // change for a token, the wait sweeping over the whole 50 ms interval (median 20–21 ms,
      // measured); with the slack, 1.1 ms (the grouping delay). The median: a late timer in the
      // app on a busy machine makes a frame or two wait either way.
      const close = await scene(desktop.display, 20.6)
      const matched = await measureHostStages(desktop.display, size, { fps: 20 }, 8).finally(() =>
        close.close(),
      )
      assert.ok(matched)
      console.log(
        `20.6 Hz source, fps 20: change → grab ${matched.wait_ms} ms, median ${matched.wait_median_ms} ms, ${matched.frames_per_s} frames/s`,
      )
      assert.ok(matched.wait_median_ms < 5, `change → grab: median ${matched.wait_median_ms} ms`)
    } finally {
      await desktop.close()
    }
  })
})

for (const { name, encoder, config, backKbps } of HELPER_ENCODERS) {
  describe(`capture helper: the path’s ceilings, live (${name})`, () => {
    it('lowers its bitrate and frame rate when asked, without a keyframe or a restart, and goes back', async () => {
      const desktop = await smallDesktop()
      const app = await ManagedProcess.spawn({
        name: 'pattern app',
        command: process.execPath,
        // Every pixel changing every frame: constant quality would take far more than the ceiling.
        args: [PATTERN_APP, desktop.display, '0', '0', '640', '480', '30', 'fullscreen'],
      })
      try {
        await new Promise((resolve) => setTimeout(resolve, 1000))
        // A GOP longer than the test: any keyframe in it would be one the changes made.
        const helper = await spawnHelper(
          desktop.display,
          { ...config, fps: 30, keyframe_interval_frames: 600 },
          encoder,
        )
        try {
          const frames: { at: number; bytes: number; key: boolean }[] = []
          const reader = new FrameRecordReader((frame, _us, key) =>
            frames.push({ at: performance.now(), bytes: frame.length, key }),
          )
          helper.child.stdout?.on('data', (chunk: Buffer) => reader.push(chunk))
          /** kbit/s, frames/s and keyframes over the next `ms`. */
          const measure = async (ms: number) => {
            const from = frames.length
            const started = performance.now()
            await new Promise((resolve) => setTimeout(resolve, ms))
            const seconds = (performance.now() - started) / 1000
            const window = frames.slice(from)
            const kbits = window.reduce((sum, f) => sum + f.bytes, 0) / 125
            return {
              kbps: Math.round(kbits / seconds),
              fps: Math.round((window.length / seconds) * 10) / 10,
              keys: window.filter((f) => f.key).length,
            }
          }
          await new Promise((resolve) => setTimeout(resolve, 1000))
          const free = await measure(3000)
          // Each figure after the encoder's rate buffer (1 s) has settled: libvpx spends what the
          // buffer saved at the old rate, and after a step to fewer frames its first ones, each
          // further from the last, come out larger than rate control planned. Measured on a busy
          // machine, in half-second steps after 'f10': 610–1079 kbit/s for 1.5 s, then 157–750
          // around the 400 asked. (x264's VBV takes both steps at once.)
          const settle = async (line: string) => {
            helper.child.stdin?.write(line)
            await new Promise((resolve) => setTimeout(resolve, 1500))
          }
          await settle('b400\n')
          const capped = await measure(3000)
          await settle('f10\n')
          // Five seconds: at 10 frames/s three hold only 30 frames, of 1–22 KB each (measured), too few
          // for their average to say what the encoder holds to.
          const slower = await measure(5000)
          await settle('b0\nf0\n')
          const back = await measure(5000)
          console.log(
            `${name} helper ceilings (640x480 fullscreen change): free ${free.kbps} kbit/s ${free.fps} fps; ` +
              `b400 ${capped.kbps} kbit/s ${capped.fps} fps; +f10 ${slower.kbps} kbit/s ${slower.fps} fps; ` +
              `back ${back.kbps} kbit/s ${back.fps} fps`,
          )
          assert.ok(free.kbps > 1500, `constant quality takes ${free.kbps} kbit/s here`)
          assert.ok(capped.kbps < 520, `capped at 400: ${capped.kbps} kbit/s`)
          // Frame rates against the helper's own before any ceiling: on a busy machine it grabs
          // fewer than 30 a second to begin with (20–25 with one other core busy, measured). Under
          // a ceiling libvpx's speed is held (vp8-records.h: left to choose, it broke the ceiling),
          // so when the cores are short it makes fewer frames instead: 15.3 a second once in CI
          // beside another test, which is the trade it makes. The floor for it is above the 10 a
          // second the next step asks for, so that step still shows.
          const fullRate = encoder === 'libvpx' ? 12 : Math.min(20, free.fps * 0.8)
          assert.ok(capped.fps > fullRate, `the frame rate stays (${capped.fps}, free ${free.fps})`)
          assert.ok(slower.fps <= 11.5 && slower.fps >= 7, `10 frames/s asked: ${slower.fps}`)
          assert.ok(
            slower.kbps < 520 && slower.kbps > 200,
            `the same bitrate at fewer frames: ${slower.kbps}`,
          )
          assert.ok(
            back.kbps > backKbps && back.fps > fullRate,
            `back: ${back.kbps} kbit/s, ${back.fps} fps (free ${free.fps})`,
          )
          assert.equal(capped.keys + slower.keys + back.keys, 0, 'no keyframe for any change')
        } finally {
          await helper.close()
        }
      } finally {
        await app.close()
        await desktop.close()
      }
    })
  })
}
