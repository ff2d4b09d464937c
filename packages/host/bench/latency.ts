import { randomBytes } from 'node:crypto'
import { readFile } from 'node:fs/promises'
import { setTimeout as sleep } from 'node:timers/promises'
import { CAPTURE_DEFAULTS } from '@smoldesk/protocol'
import type { Browser, Page } from 'playwright-core'
import { grabEnabled } from '../src/display/x11/grab/grab.ts'
import { environmentOptions, HOST_DEFAULTS } from '../src/options.ts'
import { ManagedProcess, OWNER_TAG } from '../src/process/child.ts'
import { freePort, waitForPort } from '../src/process/ports.ts'
import { CLOCK_TICKS_PER_S, findProcessTrees, type ProcInfo } from '../src/process/proc.ts'
import { openBareViewer } from './bare-viewer.ts'
import { type BenchDesktop, type SceneDesktop, startSceneDesktop } from './bench-desktop.ts'
import { startBenchHost, waitFor } from './bench-host.ts'
import { launchChromium } from './chromium.ts'
import { type HostStages, measureHostStages } from './host-stages.ts'
import { probeScript } from './probe-script.ts'
import { percentile, round1 } from './stats.ts'

/*
 * Size (~370 lines): one benchmark run end to end — desktop, pattern app,
 * the system under test (SmolDesk, noVNC, the plain pipeline), the probe
 * page, CPU meters — read top to bottom in the order it happens.
 */

export interface LatencyRun {
  system: 'smoldesk' | 'novnc'
  /** The desktop the scene ran on (noVNC: Xorg only). */
  desktop: BenchDesktop
  /** What the scene draws: rects, scroll, photo or fullscreen (every pixel changing each frame). */
  scene: NonNullable<LatencyOptions['content']>
  variant: 'default' | 'stock' | 'tuned'
  width: number
  height: number
  fps: number
  latency_ms_median: number
  latency_ms_p95: number
  fps_delivered: number
  fps_decoded: number
  host_cpu_pct: number
  viewer_cpu_pct: number
  bitrate_kbps: number
  samples: number
  rejected: number
  /** With LatencyOptions.frameTimes: when each new frame was seen (ms, this machine's clock). */
  frame_times?: number[]
  /** SmolDesk only: the rate it captured and encoded at (the scene runs at `fps`). */
  capture_fps?: number
  /** SmolDesk only: frames between keyframes (the tuned variant sends them only on demand). */
  keyframe_interval_frames?: number
  /** SmolDesk only: receiver-side stages from getStats, per frame. */
  breakdown?: {
    jitter_buffer_ms: number
    decode_ms: number
    processing_ms: number
    assembly_ms: number
    /** Frames a second that reached the browser whole: below fps_decoded's sender, above it its decoder. */
    fps_received: number
  }
  /** SmolDesk only: the capture helper's stages on the same scene and config, run on its own. */
  host_stages?: HostStages
  /**
   * SmolDesk's default variant only: the same stream from the same host in a
   * page that is a bare <video> (bare-viewer.ts), measured the same way
   * right after: what the viewer page costs beyond showing the video.
   */
  bare_page?: Pick<
    LatencyRun,
    'latency_ms_median' | 'fps_delivered' | 'fps_decoded' | 'viewer_cpu_pct' | 'bitrate_kbps'
  >
  /** SmolDesk only: what went wrong on the way, counted by the receiver over the measured window. */
  losses?: { packets_lost: number; nacks: number; keyframe_requests: number; freezes: number }
}

export interface LatencyOptions {
  /**
   * SmolDesk variants to run: `default` captures at the scene's rate with the
   * default config, `tuned` at captureFpsTuned with tunedConfig on top.
   */
  smoldeskVariants: ('default' | 'tuned')[]
  /** ScreenCaptureConfig fields of the tuned variant. */
  tunedConfig?: { keyframe_interval_frames?: number }
  /** Capture rate of the tuned variant for a scene of `fps` (faster capture: less waiting for the next grab). */
  captureFpsTuned: (sceneFps: number) => number
  /** Extra ScreenCaptureConfig fields for SmolDesk's runs (to measure a setting). */
  captureConfig?: Record<string, unknown>
  seconds: number
  warmupSeconds: number
  scenarios: { width: number; height: number; fps: number }[]
  /** What the pattern app draws under the timestamps: random rectangles, scrolling text or a panning photo. */
  content?: 'rects' | 'scroll' | 'photo' | 'fullscreen'
  systems: ('smoldesk' | 'novnc')[]
  /** Desktops to run each scenario on, in order (noVNC runs on Xorg only). Default: Xorg. */
  desktops?: BenchDesktop[]
  /** Measure the bare <video> reference page after SmolDesk's default run (`bare_page`). */
  barePage?: boolean
  /** Keep when each frame was seen (`frame_times`, for bench network's freezes). */
  frameTimes?: boolean
  /** The address noVNC's web server listens on and the viewer reaches it at (default 127.0.0.1). */
  listen?: string
  log: (line: string) => void
}

const NOVNC_WEB = '/usr/share/novnc'

/**
 * CPU time of process trees, sampled twice: percent of one core over the
 * interval. A child that ends in between (an encoder restarted) is not lost:
 * its whole time moves into its parent's count of reaped children, so the
 * tree's total (own + reaped) only ever grows by what was spent.
 */
export class CpuMeter {
  readonly #match: (p: ProcInfo) => boolean
  #startTicks = 0
  #at = 0

  /** `match` picks the roots; their descendants (tagged or not) count too. */
  constructor(match: (p: ProcInfo) => boolean) {
    this.#match = match
  }

  async #ticks(): Promise<number> {
    let ticks = 0
    for (const p of await findProcessTrees(this.#match)) ticks += p.cpuTicks + p.reapedChildTicks
    return ticks
  }

  async begin(): Promise<void> {
    this.#startTicks = await this.#ticks()
    this.#at = performance.now()
  }

  async end(): Promise<number> {
    const seconds = (performance.now() - this.#at) / 1000
    const ticks = (await this.#ticks()) - this.#startTicks
    return round1(((ticks / CLOCK_TICKS_PER_S) * 100) / seconds)
  }
}

async function readBytesWritten(pid: number): Promise<number> {
  const io = await readFile(`/proc/${pid}/io`, 'utf8')
  return Number(/^wchar: (\d+)$/m.exec(io)?.[1] ?? 0)
}

/** Runs the probe on a page for the warm-up and the measured window. */
async function measure(
  page: Page,
  options: Pick<LatencyOptions, 'seconds' | 'warmupSeconds' | 'frameTimes'>,
  meters: { host: CpuMeter; viewer: CpuMeter },
  counters: () => Promise<{ frames: number; bytes: number }>,
) {
  await page.evaluate(probeScript())
  await page.evaluate('window.__smoldeskProbe.start()')
  await sleep(options.warmupSeconds * 1000)
  await page.evaluate('window.__smoldeskProbe.start()') // restart: the warm-up does not count
  await Promise.all([meters.host.begin(), meters.viewer.begin()])
  const before = await counters()
  const started = performance.now()
  await sleep(options.seconds * 1000)
  const after = await counters()
  const seconds = (performance.now() - started) / 1000
  const [hostCpu, viewerCpu] = await Promise.all([meters.host.end(), meters.viewer.end()])
  const result = (await page.evaluate('window.__smoldeskProbe.stop()')) as {
    latencies: number[]
    rejected: number
  }
  return {
    latency_ms_median: round1(percentile(result.latencies, 50)),
    latency_ms_p95: round1(percentile(result.latencies, 95)),
    fps_delivered: round1(result.latencies.length / seconds),
    fps_decoded: round1((after.frames - before.frames) / seconds),
    host_cpu_pct: hostCpu,
    viewer_cpu_pct: viewerCpu,
    bitrate_kbps: Math.round(((after.bytes - before.bytes) * 8) / seconds / 1000),
    samples: result.latencies.length,
    rejected: result.rejected,
    // For bench network: when each new frame was seen (this machine's clock, ms); the gaps are freezes.
    ...(options.frameTimes && {
      frame_times: (await page.evaluate('window.__smoldeskProbe.frameTimes()')) as number[],
    }),
  }
}

/** measure() on SmolDesk's viewer page: the host tagged `tag`, the viewer's Chromium, its decoder's counters. */
export function measureSmoldeskPage(
  page: Page,
  tag: string,
  options: Parameters<typeof measure>[1],
): ReturnType<typeof measure> {
  return measure(
    page,
    options,
    {
      host: new CpuMeter((p) => p.owner === tag),
      viewer: new CpuMeter((p) => p.owner === OWNER_TAG && p.cmdline.includes('chromium')),
    },
    async () => {
      const s = await inboundStats(page)
      return { frames: s.framesDecoded, bytes: s.bytesReceived }
    },
  )
}

export interface InboundCounters {
  framesDecoded: number
  framesReceived: number
  bytesReceived: number
  jitterBufferDelay: number
  jitterBufferEmittedCount: number
  totalDecodeTime: number
  totalProcessingDelay: number
  totalAssemblyTime: number
  packetsLost: number
  nackCount: number
  pliCount: number
  freezeCount: number
  totalFreezesDuration: number
}

/** Page-side code is passed as source: this file is type-checked without the DOM library. */
const INBOUND_STATS = `(async () => {
  const pc = window.smoldesk?.connection.peerConnection
  const out = { framesDecoded: 0, framesReceived: 0, bytesReceived: 0, jitterBufferDelay: 0, jitterBufferEmittedCount: 0,
    totalDecodeTime: 0, totalProcessingDelay: 0, totalAssemblyTime: 0, packetsLost: 0, nackCount: 0,
    pliCount: 0, freezeCount: 0, totalFreezesDuration: 0 }
  if (!pc) return out
  for (const r of (await pc.getStats()).values()) {
    if (r.type !== 'inbound-rtp' || r.kind !== 'video') continue
    for (const key of Object.keys(out)) out[key] = Number(r[key] ?? 0)
  }
  return out
})()`

export async function inboundStats(page: Page): Promise<InboundCounters> {
  return (await page.evaluate(INBOUND_STATS)) as InboundCounters
}

async function runSmoldesk(
  browser: Browser,
  desktop: SceneDesktop,
  scenario: { width: number; height: number; fps: number },
  variant: 'default' | 'tuned',
  options: LatencyOptions,
): Promise<LatencyRun> {
  const captureFps = variant === 'tuned' ? options.captureFpsTuned(scenario.fps) : scenario.fps
  const config = {
    ...options.captureConfig,
    ...(variant === 'tuned' && options.tunedConfig),
    fps: captureFps,
  }
  const { tag, page, url, close } = await startBenchHost(browser, desktop.target, scenario, config, {
    args: options.listen ? ['--listen', options.listen] : [],
  })
  let run: LatencyRun
  try {
    run = {
      ...(await measureSmoldesk(page, tag, scenario, variant, config, options)),
      desktop: desktop.kind,
    }
    if (variant === 'default' && options.barePage) {
      options.log('  … and the same stream in a bare <video> page')
      await openBareViewer(page, url)
      const bare = await measureSmoldeskPage(page, tag, options)
      run.bare_page = {
        latency_ms_median: bare.latency_ms_median,
        fps_delivered: bare.fps_delivered,
        fps_decoded: bare.fps_decoded,
        viewer_cpu_pct: bare.viewer_cpu_pct,
        bitrate_kbps: bare.bitrate_kbps,
      }
    }
  } finally {
    await close()
  }
  // After the host is gone, so the two do not compete for the cores (the X11 capture helper's stages).
  const display = desktop.target.display
  const stages =
    display && grabEnabled(environmentOptions().captureHelper ?? HOST_DEFAULTS.captureHelper)
      ? await measureHostStages(display, scenario, config, Math.min(5, options.seconds))
      : undefined
  return stages ? { ...run, host_stages: stages } : run
}

async function measureSmoldesk(
  page: Page,
  tag: string,
  scenario: { width: number; height: number; fps: number },
  variant: 'default' | 'tuned',
  config: { fps: number; keyframe_interval_frames?: number },
  options: LatencyOptions,
): Promise<Omit<LatencyRun, 'desktop'>> {
  const before = await inboundStats(page)
  const run = await measureSmoldeskPage(page, tag, options)
  const after = await inboundStats(page)
  const frames = Math.max(1, after.framesDecoded - before.framesDecoded)
  const emitted = Math.max(1, after.jitterBufferEmittedCount - before.jitterBufferEmittedCount)
  return {
    system: 'smoldesk',
    scene: options.content ?? 'rects',
    variant,
    ...scenario,
    capture_fps: config.fps,
    keyframe_interval_frames: Number(
      config.keyframe_interval_frames ?? CAPTURE_DEFAULTS.keyframeIntervalFrames,
    ),
    ...run,
    breakdown: {
      jitter_buffer_ms: round1(((after.jitterBufferDelay - before.jitterBufferDelay) / emitted) * 1000),
      decode_ms: round1(((after.totalDecodeTime - before.totalDecodeTime) / frames) * 1000),
      processing_ms: round1(((after.totalProcessingDelay - before.totalProcessingDelay) / frames) * 1000),
      assembly_ms: round1(((after.totalAssemblyTime - before.totalAssemblyTime) / frames) * 1000),
      // Over the same stretch as the decoder's counts here (warm-up and window), scaled to its rate.
      fps_received: round1(run.fps_decoded * ((after.framesReceived - before.framesReceived) / frames)),
    },
    losses: {
      packets_lost: after.packetsLost - before.packetsLost,
      nacks: after.nackCount - before.nackCount,
      keyframe_requests: after.pliCount - before.pliCount,
      freezes: after.freezeCount - before.freezeCount,
    },
  }
}

export async function runNovnc(
  browser: Browser,
  display: string,
  scenario: { width: number; height: number; fps: number },
  variant: 'stock' | 'tuned',
  options: LatencyOptions,
): Promise<LatencyRun> {
  const [vncPort, webPort] = [await freePort(), await freePort()]
  const tag = `bench-vnc-${randomBytes(4).toString('hex')}`
  const env = { ...process.env, SMOLDESK_OWNER: tag }
  const tuning = variant === 'tuned' ? ['-threads', '-defer', '1', '-wait', '1'] : []
  const vnc = await ManagedProcess.spawn({
    name: 'x11vnc',
    command: 'x11vnc',
    args: [
      '-display',
      display,
      '-rfbport',
      String(vncPort),
      '-localhost',
      '-nopw',
      '-shared',
      '-forever',
      '-quiet',
      ...tuning,
    ],
    env,
  })
  const ws = await ManagedProcess.spawn({
    name: 'websockify',
    command: 'websockify',
    args: ['--web', NOVNC_WEB, `${options.listen ?? '127.0.0.1'}:${webPort}`, `127.0.0.1:${vncPort}`],
    env,
  })
  const page = await browser.newPage({ viewport: { width: scenario.width, height: scenario.height + 200 } })
  try {
    const at = options.listen ?? '127.0.0.1'
    // websockify is Python: on a busy machine it took over a second to listen (CI, connection refused).
    for (const [name, host, port, child] of [
      ['x11vnc', '127.0.0.1', vncPort, vnc],
      ['websockify', at, webPort, ws],
    ] as const) {
      if (await waitForPort(host, port, 15_000, () => child.running)) continue
      throw new Error(
        child.running
          ? `${name} did not listen on ${host}:${port} within 15 s`
          : `${name} exited before it listened on ${host}:${port}: ${child.stderrTail(3)}`,
      )
    }
    await page.goto(`http://${at}:${webPort}/vnc_lite.html?host=${at}&port=${webPort}&view_only=true`)
    await waitFor('the noVNC canvas', async () =>
      Number(await page.evaluate("document.querySelector('canvas')?.width ?? 0")) > 0 ? true : undefined,
    )
    let frames = 0
    const run = await measure(
      page,
      options,
      {
        host: new CpuMeter((p) => p.owner === tag),
        viewer: new CpuMeter((p) => p.owner === OWNER_TAG && p.cmdline.includes('chromium')),
      },
      async () => ({ frames: frames++, bytes: await readBytesWritten(vnc.pid) }),
    )
    // noVNC has no decoder statistics: what the probe saw is what was drawn.
    return {
      system: 'novnc',
      desktop: 'xorg',
      scene: options.content ?? 'rects',
      variant,
      ...scenario,
      ...run,
      fps_decoded: run.fps_delivered,
    }
  } finally {
    await page.close()
    await ws.close()
    await vnc.close()
  }
}

/**
 * Glass-to-glass latency: a pattern app draws timestamps over busy content
 * on a virtual desktop; a headless Chromium viewer decodes them from what
 * it displays. SmolDesk and x11vnc + noVNC (stock and tuned) see the same
 * scene in the same run.
 */
export async function benchLatency(options: LatencyOptions): Promise<LatencyRun[]> {
  // Chromium inherits our environment: tag it so its CPU time can be told from everything else.
  process.env.SMOLDESK_OWNER = OWNER_TAG
  const runs: LatencyRun[] = []
  const browser = await launchChromium()
  try {
    for (const scenario of options.scenarios) {
      for (const kind of options.desktops ?? ['xorg']) {
        // Detuned by 0.1 Hz so the source never phase-locks with the viewer's 60 Hz frame loop.
        const desktop = await startSceneDesktop(
          kind,
          scenario,
          scenario.fps + 0.1,
          options.content ?? 'rects',
        )
        try {
          const label = `${scenario.width}x${scenario.height}@${scenario.fps} on ${kind}`
          if (options.systems.includes('smoldesk')) {
            for (const variant of options.smoldeskVariants) {
              // A tuned variant that tunes nothing is the default run again: skip it.
              const same = options.captureFpsTuned(scenario.fps) === scenario.fps && !options.tunedConfig
              if (variant === 'tuned' && same) continue
              options.log(`${label}: SmolDesk (${variant})…`)
              runs.push(await runSmoldesk(browser, desktop, scenario, variant, options))
            }
          }
          const display = desktop.target.display
          if (options.systems.includes('novnc') && display) {
            for (const variant of ['stock', 'tuned'] as const) {
              options.log(`${label}: x11vnc ${variant} + noVNC…`)
              runs.push(await runNovnc(browser, display, scenario, variant, options))
            }
          }
        } finally {
          await desktop.close()
        }
      }
    }
  } finally {
    await browser.close()
  }
  return runs
}
