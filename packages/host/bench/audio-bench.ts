import { spawn } from 'node:child_process'
import { loadavg } from 'node:os'
import { setTimeout as sleep } from 'node:timers/promises'
import { PrivateSoundServer } from '../src/audio/private-sound-server.ts'
import { VirtualDesktop } from '../src/display/embedded/virtual-desktop.ts'
import { X11Connection } from '../src/display/x11/connection.ts'
import { ManagedProcess, OWNER_TAG } from '../src/process/child.ts'
import { startBenchHost } from './bench-host.ts'
import { launchChromium } from './chromium.ts'
import { CpuMeter } from './latency.ts'
import { percentile, round1 } from './stats.ts'

/*
 * `bench audio`: the desktop plays a quiet continuous tone with a loud burst
 * every half second, and at each burst a window flips from black to white.
 * The host's own recorder of the sink's monitor (parec, independent of
 * SmolDesk's helper) times each burst as the desktop played it; the page
 * times it as it leaves the browser's audio output (an AudioWorklet on the
 * received track, mapped onto the page clock by getOutputTimestamp), and
 * times the flip as the browser presents it (requestVideoFrameCallback).
 * Host and page share this machine's clock, so latency is page − host, per
 * burst, and the A/V offset is the burst's audio latency minus its flip's
 * video latency (positive: sound later than picture). A gap in the tone
 * longer than 20 ms is a glitch.
 */

export interface AudioBenchResult {
  bench: 'audio'
  latency_ms_median: number
  latency_ms_p95: number
  glitches_per_min: number
  av_offset_ms_median: number
  host_cpu_pct: number
  /** Details: bursts timed at both ends, flips paired, the run's length, gaps in the source itself. */
  bursts: number
  flips: number
  seconds: number
  source_gaps: number
  /** The browser's own figures for the audio it received. */
  jitter_buffer_ms: number
  concealed_pct: number
  /** How busy the machine was: load average over the last minute, and the viewer's CPU. */
  load_avg_1m: number
  viewer_cpu_pct: number
}

const RATE = 48_000
const BURST_EVERY_MS = 500
const BURST_MS = 30
const TONE_HZ = 440
const QUIET = 0.1
const LOUD = 0.8
/** pacat keeps this much queued ahead: enough that the source never runs dry. */
const LEAD_MS = 40

/** Page side, passed as source (this file is checked without the DOM). */
const PAGE_PROBE = `(async () => {
  const pc = window.smoldesk.connection.peerConnection
  const receiver = pc.getReceivers().find((r) => r.track.kind === 'audio')
  const context = new AudioContext({ latencyHint: 'interactive', sampleRate: 48000 })
  await context.resume()
  const worklet = \`registerProcessor('burst-probe', class extends AudioWorkletProcessor {
    constructor() { super(); this.loud = false; this.quiet = 0; this.started = false }
    process(inputs) {
      const ch = inputs[0] && inputs[0][0]
      if (!ch) return true
      let max = 0
      for (let i = 0; i < ch.length; i++) { const v = Math.abs(ch[i]); if (v > max) max = v }
      if (max > 0.05) this.started = true
      if (!this.loud && max > 0.5) {
        let at = 0
        while (at < ch.length && Math.abs(ch[at]) <= 0.5) at++
        this.port.postMessage({ kind: 'onset', frame: currentFrame + at })
      }
      this.loud = max > 0.5
      if (this.started && max < 0.03) this.quiet += ch.length
      else {
        if (this.quiet >= 960) this.port.postMessage({ kind: 'gap', samples: this.quiet })
        this.quiet = 0
      }
      return true
    }
  })\`
  await context.audioWorklet.addModule(URL.createObjectURL(new Blob([worklet], { type: 'text/javascript' })))
  const node = new AudioWorkletNode(context, 'burst-probe')
  context.createMediaStreamSource(new MediaStream([receiver.track])).connect(node)
  node.connect(context.destination)
  const state = { audio: [], gaps: [], video: [], recording: false }
  node.port.onmessage = (ev) => {
    if (!state.recording) return
    if (ev.data.kind === 'gap') { state.gaps.push(ev.data.samples); return }
    const ts = context.getOutputTimestamp()
    const at = ts.performanceTime + (ev.data.frame / context.sampleRate - ts.contextTime) * 1000
    state.audio.push(performance.timeOrigin + at)
  }
  const video = document.querySelector('video')
  const canvas = new OffscreenCanvas(1, 1)
  const ctx = canvas.getContext('2d', { willReadFrequently: true })
  let white = false
  const frame = (_now, meta) => {
    ctx.drawImage(video, video.videoWidth / 2, video.videoHeight / 2, 1, 1, 0, 0, 1, 1)
    const luma = ctx.getImageData(0, 0, 1, 1).data[0]
    if (!white && luma > 128 && state.recording) state.video.push(performance.timeOrigin + meta.expectedDisplayTime)
    white = luma > 128
    video.requestVideoFrameCallback(frame)
  }
  video.requestVideoFrameCallback(frame)
  window.__audioProbe = state
})()`

/** 10 ms of the source signal starting at sample `at`: the quiet tone, loud during a burst. */
function signal(at: number, samples: number): Buffer {
  const out = Buffer.alloc(samples * 4)
  const every = (BURST_EVERY_MS * RATE) / 1000
  const burst = (BURST_MS * RATE) / 1000
  for (let i = 0; i < samples; i++) {
    const n = at + i
    const amplitude = n % every < burst ? LOUD : QUIET
    const v = Math.round(amplitude * 32767 * Math.sin((2 * Math.PI * TONE_HZ * n) / RATE))
    out.writeInt16LE(v, i * 4)
    out.writeInt16LE(v, i * 4 + 2)
  }
  return out
}

/** Times of loud onsets (ms, this machine's clock) in what the desktop's sink played, and gaps in it. */
function watchSink(server: string): { onsets: number[]; gaps: number; stop: () => void } {
  const rec = spawn(
    'parec',
    [
      '--server',
      server,
      '-d',
      'smoldesk_output.monitor',
      '--raw',
      '--format=s16le',
      '--rate=48000',
      '--channels=1',
      '--latency-msec=5',
    ],
    { stdio: ['ignore', 'pipe', 'ignore'] },
  )
  const result = { onsets: [] as number[], gaps: 0, stop: () => rec.kill() }
  let loud = false
  let started = false
  let quiet = 0
  let carry: Buffer = Buffer.alloc(0)
  rec.stdout.on('data', (chunk: Buffer) => {
    const arrived = performance.timeOrigin + performance.now()
    const data = carry.length > 0 ? Buffer.concat([carry, chunk]) : chunk
    const samples = Math.floor(data.length / 2)
    carry = data.subarray(samples * 2)
    for (let block = 0; block + 48 <= samples; block += 48) {
      let max = 0
      for (let i = block; i < block + 48; i++) max = Math.max(max, Math.abs(data.readInt16LE(i * 2) / 32768))
      if (max > 0.05) started = true
      if (!loud && max > 0.5) result.onsets.push(arrived - ((samples - block) / RATE) * 1000)
      loud = max > 0.5
      if (started && max < 0.03) quiet += 48
      else {
        if (quiet >= 960) result.gaps++
        quiet = 0
      }
    }
  })
  return result
}

/** Pairs each page time with the host time it follows most closely (within 400 ms). */
function delays(host: number[], page: number[]): number[] {
  const out: number[] = []
  for (const h of host) {
    const next = page.find((p) => p > h && p - h < 400)
    if (next !== undefined) out.push(next - h)
  }
  return out
}

export async function benchAudio(options: {
  seconds: number
  log: (line: string) => void
}): Promise<AudioBenchResult> {
  const size = { width: 640, height: 480 }
  const desktop = await VirtualDesktop.start({ monitors: [size], withApps: false })
  const sound = await PrivateSoundServer.start()
  const conn = await X11Connection.open(desktop.display)
  const wid = conn.client.AllocID()
  conn.client.CreateWindow(wid, conn.root, 0, 0, size.width, size.height, 0, 0, 1, 0, {
    backgroundPixel: 0x000000,
    overrideRedirect: 1,
  })
  conn.client.MapWindow(wid)
  await conn.sync()
  const flip = async (white: boolean) => {
    conn.client.ChangeWindowAttributes(wid, { backgroundPixel: white ? 0xffffff : 0x000000 })
    conn.client.ClearArea(wid, 0, 0, size.width, size.height, 0)
    await conn.sync()
    return performance.timeOrigin + performance.now()
  }
  // Chromium inherits our environment: tagged, its CPU time can be told from everything else.
  process.env.SMOLDESK_OWNER = OWNER_TAG
  const browser = await launchChromium()
  let writer: ManagedProcess | undefined
  const sink = watchSink(sound.address)
  try {
    options.log(`desktop audio to a Chromium viewer for ${options.seconds} s…`)
    const host = await startBenchHost(
      browser,
      { args: ['--display', desktop.display], env: { PULSE_SERVER: sound.address } },
      size,
      { fps: 60 },
    )
    try {
      writer = await ManagedProcess.spawn({
        name: 'pacat',
        command: 'pacat',
        args: [
          '--server',
          sound.address,
          '--raw',
          '--format=s16le',
          '--rate=48000',
          '--channels=2',
          '--latency-msec=10',
          '-d',
          'smoldesk_output',
        ],
        stdio: ['pipe', 'ignore', 'ignore'],
      })
      const stdin = writer.child.stdin
      if (!stdin) throw new Error('pacat has no stdin')
      stdin.on('error', () => {})
      // The source: written ahead of the clock in 10 ms pieces; each burst's window flips when its sound is due.
      const t0 = performance.now()
      let written = 0
      const flips: number[] = []
      let nextBurst = 0
      const pump = setInterval(() => {
        const due = Math.floor(((performance.now() - t0 + LEAD_MS) * RATE) / 1000)
        while (written < due) {
          stdin.write(signal(written, 480))
          written += 480
        }
      }, 5)
      const every = (BURST_EVERY_MS * RATE) / 1000
      const flipper = setInterval(() => {
        const playing = Math.floor(((performance.now() - t0) * RATE) / 1000)
        if (playing < nextBurst * every) return
        nextBurst++
        void flip(true).then((at) => {
          flips.push(at)
          setTimeout(() => void flip(false), 150)
        })
      }, 2)
      await sleep(2000) // warm-up: connections settle, the jitter buffer finds its level
      await host.page.evaluate(PAGE_PROBE)
      await sleep(500)
      const sinkFrom = sink.onsets.length
      const flipsFrom = flips.length
      const hostCpu = new CpuMeter((p) => p.owner === host.tag)
      const viewerCpu = new CpuMeter((p) => p.owner === OWNER_TAG && p.cmdline.includes('chromium'))
      await Promise.all([hostCpu.begin(), viewerCpu.begin()])
      const statsBefore = await receiverAudio(host.page)
      await host.page.evaluate('window.__audioProbe.recording = true')
      const started = performance.now()
      await sleep(options.seconds * 1000)
      await host.page.evaluate('window.__audioProbe.recording = false')
      const seconds = (performance.now() - started) / 1000
      const [hostPct, viewerPct] = await Promise.all([hostCpu.end(), viewerCpu.end()])
      const statsAfter = await receiverAudio(host.page)
      clearInterval(pump)
      clearInterval(flipper)
      const probe = (await host.page.evaluate('window.__audioProbe')) as {
        audio: number[]
        video: number[]
        gaps: number[]
      }
      const hostBursts = sink.onsets.slice(sinkFrom)
      const audioDelays = delays(hostBursts, probe.audio)
      const videoDelays = delays(flips.slice(flipsFrom), probe.video)
      // Each burst's sound and its flip are due together: offset = its audio delay − its flip's video delay.
      const offsets: number[] = []
      for (const h of hostBursts) {
        const a = probe.audio.find((p) => p > h && p - h < 400)
        const f = flips.slice(flipsFrom).find((t) => Math.abs(t - h) < BURST_EVERY_MS / 2)
        const v = f === undefined ? undefined : probe.video.find((p) => p > f && p - f < 400)
        if (a !== undefined && f !== undefined && v !== undefined) offsets.push(a - h - (v - f))
      }
      const emitted = statsAfter.emitted - statsBefore.emitted
      return {
        bench: 'audio',
        latency_ms_median: round1(percentile(audioDelays, 50)),
        latency_ms_p95: round1(percentile(audioDelays, 95)),
        glitches_per_min: round1((probe.gaps.length / seconds) * 60),
        av_offset_ms_median: round1(percentile(offsets, 50)),
        host_cpu_pct: hostPct,
        bursts: audioDelays.length,
        flips: videoDelays.length,
        seconds: round1(seconds),
        source_gaps: sink.gaps,
        jitter_buffer_ms:
          emitted > 0 ? round1(((statsAfter.delay - statsBefore.delay) / emitted) * 1000) : Number.NaN,
        concealed_pct:
          statsAfter.samples > statsBefore.samples
            ? round1(
                ((statsAfter.concealed - statsBefore.concealed) /
                  (statsAfter.samples - statsBefore.samples)) *
                  100,
              )
            : 0,
        load_avg_1m: round1(loadavg()[0] ?? 0),
        viewer_cpu_pct: viewerPct,
      }
    } finally {
      await host.close()
    }
  } finally {
    sink.stop()
    await writer?.close(500)
    conn.close()
    await browser.close()
    await sound.close()
    await desktop.close()
  }
}

/** The browser's cumulative counters for the received audio. */
async function receiverAudio(page: import('playwright-core').Page) {
  return (await page.evaluate(`(async () => {
    const pc = window.smoldesk.connection.peerConnection
    for (const r of (await pc.getStats()).values())
      if (r.type === 'inbound-rtp' && r.kind === 'audio')
        return { delay: r.jitterBufferDelay, emitted: r.jitterBufferEmittedCount, samples: r.totalSamplesReceived, concealed: r.concealedSamples }
    return { delay: 0, emitted: 0, samples: 0, concealed: 0 }
  })()`)) as { delay: number; emitted: number; samples: number; concealed: number }
}
