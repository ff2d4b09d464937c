import { spawn } from 'node:child_process'
import { loadavg } from 'node:os'
import { setTimeout as sleep } from 'node:timers/promises'
import type { Browser } from 'playwright-core'
import puppeteer from 'puppeteer-core'
import { DESKTOP_SINK, PrivateSoundServer } from '../src/audio/private-sound-server.ts'
import { VirtualDesktop } from '../src/display/embedded/virtual-desktop.ts'
import { X11Connection } from '../src/display/x11/connection.ts'
import { ManagedProcess, OWNER_TAG } from '../src/process/child.ts'
import { startBenchHost } from './bench-host.ts'
import { launchChromium } from './chromium.ts'
import { CpuMeter } from './latency.ts'
import { percentile, round1 } from './stats.ts'

/*
 * `bench audio`: the desktop plays a quiet continuous tone with a loud burst
 * every second, and at each burst a window flips from black to white.
 * The viewer is a headless Chromium with a sound server of its own (its
 * speakers: a second PulseAudio, where Chromium plays what the page plays).
 * Both sinks' monitors are recorded on this machine's clock (parec,
 * independent of SmolDesk's helper): latency is burst at the viewer's
 * speaker − burst at the desktop's sink, what a listener would measure with
 * two microphones. The page times each flip as the browser presents it
 * (requestVideoFrameCallback); the A/V offset is a burst's audio latency
 * minus its flip's video latency (positive: sound later than picture). A gap
 * longer than 20 ms in the tone at the viewer's speaker is a glitch.
 */

export interface AudioBenchResult {
  bench: 'audio'
  browser: 'chromium' | 'firefox'
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
  /** What the jitter buffer aimed for, and the least it was allowed (lip sync raises the minimum). */
  jitter_buffer_target_ms: number
  jitter_buffer_minimum_ms: number
  /** How unevenly the packets arrived (RFC 3550 interarrival jitter, as the browser reports it). */
  arrival_jitter_ms: number
  concealed_pct: number
  /** How busy the machine was: load average over the last minute, and the viewer's CPU. */
  load_avg_1m: number
  viewer_cpu_pct: number
}

const RATE = 48_000
const BURST_EVERY_MS = 1000
/** A burst (or flip) seen later than this after its source is not counted: pairing stays unambiguous. */
const PAIR_WITHIN_MS = 900
const BURST_MS = 30
const TONE_HZ = 440
const QUIET = 0.1
const LOUD = 0.8
/** pacat keeps this much queued ahead: enough that the source never runs dry. */
const LEAD_MS = 40

/** Page side, passed as source (this file is checked without the DOM): when each flip is presented. */
const PAGE_PROBE = `(() => {
  const state = { video: [], recording: false }
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
function watchSink(server: string): { onsets: number[]; gaps: number[]; stop: () => void } {
  const rec = spawn(
    'parec',
    [
      '--server',
      server,
      '-d',
      `${DESKTOP_SINK}.monitor`,
      '--raw',
      '--format=s16le',
      '--rate=48000',
      '--channels=1',
      '--latency-msec=5',
    ],
    { stdio: ['ignore', 'pipe', 'ignore'] },
  )
  const result = { onsets: [] as number[], gaps: [] as number[], stop: () => rec.kill() }
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
        if (quiet >= 960) result.gaps.push(arrived)
        quiet = 0
      }
    }
  })
  return result
}

/** Pairs each host time with the first page time after it (within PAIR_WITHIN_MS). */
function delays(host: number[], page: number[]): number[] {
  const out: number[] = []
  for (const h of host) {
    const next = page.find((p) => p > h && p - h < PAIR_WITHIN_MS)
    if (next !== undefined) out.push(next - h)
  }
  return out
}

export async function benchAudio(options: {
  seconds: number
  /** The viewer's browser (Chromium by default). */
  browser?: 'chromium' | 'firefox'
  log: (line: string) => void
}): Promise<AudioBenchResult> {
  const size = { width: 640, height: 480 }
  const desktop = await VirtualDesktop.start({ monitors: [size], withApps: false })
  const sound = await PrivateSoundServer.start()
  /** The viewer machine's sound server: where its browser plays (its speakers). */
  const speakers = await PrivateSoundServer.start()
  const conn = await X11Connection.open(desktop.display)
  const wid = conn.client.AllocID()
  conn.client.CreateWindow(wid, conn.root, 0, 0, size.width, size.height, 0, 0, 1, 0, {
    backgroundPixel: 0x000000,
    overrideRedirect: 1,
  })
  conn.client.MapWindow(wid)
  await conn.sync()
  let flipping = true
  const flip = async (white: boolean) => {
    if (!flipping) return Number.NaN
    conn.client.ChangeWindowAttributes(wid, { backgroundPixel: white ? 0xffffff : 0x000000 })
    conn.client.ClearArea(wid, 0, 0, size.width, size.height, 0)
    await conn.sync()
    return performance.timeOrigin + performance.now()
  }
  // The browser inherits our environment: tagged, its CPU time can be told from everything else.
  process.env.SMOLDESK_OWNER = OWNER_TAG
  process.env.PULSE_SERVER = speakers.address
  const browserName = options.browser ?? 'chromium'
  const browser = browserName === 'chromium' ? await launchChromium({ sound: true }) : await launchFirefox()
  delete process.env.PULSE_SERVER
  let writer: ManagedProcess | undefined
  const sink = watchSink(sound.address)
  const ear = watchSink(speakers.address)
  try {
    options.log(`desktop audio to a ${browserName} viewer for ${options.seconds} s…`)
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
        flip(true).then(
          (at) => {
            flips.push(at)
            setTimeout(() => void flip(false).catch(() => {}), 150)
          },
          () => {},
        )
      }, 2)
      await sleep(2000) // warm-up: connections settle, the jitter buffer finds its level
      await host.page.evaluate(PAGE_PROBE)
      await sleep(500)
      const playing = String(await host.page.evaluate('window.smoldesk?.sound.state'))
      if (playing !== 'playing') throw new Error(`the viewer page's sound is ${playing}, not playing`)
      const sinkFrom = sink.onsets.length
      const earFrom = ear.onsets.length
      const earGapsFrom = ear.gaps.length
      const sourceGapsFrom = sink.gaps.length
      const flipsFrom = flips.length
      const hostCpu = new CpuMeter((p) => p.owner === host.tag)
      const viewerCpu = new CpuMeter((p) => p.owner === OWNER_TAG && p.cmdline.includes(browserName))
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
      const probe = (await host.page.evaluate('window.__audioProbe')) as { video: number[] }
      const hostBursts = sink.onsets.slice(sinkFrom)
      const heard = ear.onsets.slice(earFrom)
      const audioDelays = delays(hostBursts, heard)
      const videoDelays = delays(flips.slice(flipsFrom), probe.video)
      // Each burst's sound and its flip are due together: offset = its audio delay − its flip's video delay.
      const offsets: number[] = []
      for (const h of hostBursts) {
        const a = heard.find((p) => p > h && p - h < PAIR_WITHIN_MS)
        const f = flips.slice(flipsFrom).find((t) => Math.abs(t - h) < BURST_EVERY_MS / 2)
        const v = f === undefined ? undefined : probe.video.find((p) => p > f && p - f < PAIR_WITHIN_MS)
        if (a !== undefined && f !== undefined && v !== undefined) offsets.push(a - h - (v - f))
      }
      const emitted = statsAfter.emitted - statsBefore.emitted
      return {
        bench: 'audio',
        browser: browserName,
        latency_ms_median: round1(percentile(audioDelays, 50)),
        latency_ms_p95: round1(percentile(audioDelays, 95)),
        glitches_per_min: round1(((ear.gaps.length - earGapsFrom) / seconds) * 60),
        av_offset_ms_median: round1(percentile(offsets, 50)),
        host_cpu_pct: hostPct,
        bursts: audioDelays.length,
        flips: videoDelays.length,
        seconds: round1(seconds),
        source_gaps: sink.gaps.length - sourceGapsFrom,
        jitter_buffer_ms:
          emitted > 0 ? round1(((statsAfter.delay - statsBefore.delay) / emitted) * 1000) : Number.NaN,
        jitter_buffer_target_ms:
          emitted > 0 ? round1(((statsAfter.target - statsBefore.target) / emitted) * 1000) : Number.NaN,
        arrival_jitter_ms: round1(statsAfter.jitter * 1000),
        jitter_buffer_minimum_ms:
          emitted > 0 ? round1(((statsAfter.minimum - statsBefore.minimum) / emitted) * 1000) : Number.NaN,
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
    flipping = false
    sink.stop()
    ear.stop()
    await writer?.close(500)
    conn.close()
    await browser.close()
    await sound.close()
    await speakers.close()
    await desktop.close()
  }
}

/**
 * Debian's Firefox ESR (puppeteer, WebDriver BiDi) behind the little of
 * Playwright's Browser the bench uses: new pages, goto, evaluate of an
 * expression, close. It plays on PULSE_SERVER (headless Firefox is not muted).
 */
async function launchFirefox(): Promise<Browser> {
  const firefox = await puppeteer.launch({
    browser: 'firefox',
    executablePath: process.env.SMOLDESK_FIREFOX ?? '/usr/bin/firefox-esr',
    headless: true,
    extraPrefsFirefox: {
      'media.peerconnection.ice.loopback': true,
      'media.peerconnection.ice.obfuscate_host_addresses': false,
      'media.autoplay.default': 0,
      'media.autoplay.block-webaudio': false,
    },
  })
  return {
    newPage: async () => firefox.newPage(),
    close: () => firefox.close(),
  } as unknown as Browser
}

/** The browser's cumulative counters for the received audio. */
async function receiverAudio(page: import('playwright-core').Page) {
  return (await page.evaluate(`(async () => {
    const pc = window.smoldesk.connection.peerConnection
    for (const r of (await pc.getStats()).values())
      if (r.type === 'inbound-rtp' && r.kind === 'audio')
        return { delay: r.jitterBufferDelay, emitted: r.jitterBufferEmittedCount, samples: r.totalSamplesReceived, concealed: r.concealedSamples, target: r.jitterBufferTargetDelay ?? 0, minimum: r.jitterBufferMinimumDelay ?? 0, jitter: r.jitter ?? 0 }
    return { delay: 0, emitted: 0, samples: 0, concealed: 0, target: 0, minimum: 0, jitter: 0 }
  })()`)) as {
    delay: number
    emitted: number
    samples: number
    concealed: number
    target: number
    minimum: number
    /** RFC 3550 interarrival jitter, seconds. */
    jitter: number
  }
}
