import { setTimeout as sleep } from 'node:timers/promises'
import { type Browser, chromium, type Page } from 'playwright-core'
import { OWNER_TAG } from '../src/process/child.ts'
// The tests' cable (a namespace behind smoldesk-link, issue 18's profiles): the same one here.
import { type LinkShape, NETWORK_PROFILES, RemoteNetwork } from '../test/netns.ts'
import { startSceneDesktop } from './bench-desktop.ts'
import { startBenchHost } from './bench-host.ts'
import { CHROMIUM_ARGS } from './chromium.ts'
import {
  inboundStats,
  type LatencyOptions,
  type LatencyRun,
  measureSmoldeskPage,
  runNovnc,
} from './latency.ts'
import { round1 } from './stats.ts'

/*
 * `bench network`: bench latency's probe over issue 18's shaped links, the
 * viewer's browser on another machine (a network namespace), SmolDesk and
 * x11vnc + noVNC (tuned, over WebSocket/TCP) on the same scene, profile by
 * profile. For SmolDesk each shaped profile also steps the link down to a
 * third of its rate and back, and times the adaptation.
 */

export type NetworkProfileName = 'lan' | keyof typeof NETWORK_PROFILES

export interface NetworkRun {
  system: 'smoldesk' | 'novnc'
  profile: NetworkProfileName
  scene: NonNullable<LatencyOptions['content']>
  width: number
  height: number
  fps: number
  /** The link's rate, kbit/s (undefined on lan: unshaped). */
  link_kbps: number | undefined
  latency_ms_median: number
  latency_ms_p95: number
  fps_delivered: number
  /** SmolDesk: the browser's own count (getStats); noVNC: stretches of 500 ms or more without a new frame. */
  freeze_count: number
  freeze_s: number
  /** The longest stretch without a new frame in the measured window. */
  longest_gap_ms: number
  bitrate_kbps: number
  /** After the link stepped down to a third: until frames came without a 500 ms stretch again. */
  adapt_down_s: number | null
  /** After it stepped back: until the rate was back to 80 % of what it was before the step. */
  adapt_up_s: number | null
  host_cpu_pct: number
  viewer_cpu_pct: number
  samples: number
}

export interface NetworkOptions {
  profiles: NetworkProfileName[]
  scenario: { width: number; height: number; fps: number }
  content: NonNullable<LatencyOptions['content']>
  systems: ('smoldesk' | 'novnc')[]
  seconds: number
  warmupSeconds: number
  log: (line: string) => void
}

/** The fields every run has, from a latency measurement over `profile`. */
function networkRun(
  system: NetworkRun['system'],
  profile: NetworkProfileName,
  options: NetworkOptions,
  run: Pick<
    LatencyRun,
    | 'latency_ms_median'
    | 'latency_ms_p95'
    | 'fps_delivered'
    | 'bitrate_kbps'
    | 'host_cpu_pct'
    | 'viewer_cpu_pct'
    | 'samples'
    | 'frame_times'
  >,
  extra: Pick<NetworkRun, 'freeze_count' | 'freeze_s' | 'adapt_down_s' | 'adapt_up_s'> | undefined,
): NetworkRun {
  const times = run.frame_times ?? []
  const window = gaps(times, times[0] ?? 0, times.at(-1) ?? 0)
  const shape = shapeOf(profile)
  return {
    system,
    profile,
    scene: options.content,
    ...options.scenario,
    link_kbps: shape && shape.mbit * 1000,
    latency_ms_median: run.latency_ms_median,
    latency_ms_p95: run.latency_ms_p95,
    fps_delivered: run.fps_delivered,
    // Without the browser's own count (noVNC has no decoder statistics): the stretches seen.
    freeze_count: extra?.freeze_count ?? window.count,
    freeze_s: extra?.freeze_s ?? round1(window.seconds),
    longest_gap_ms: Math.round(window.longest),
    bitrate_kbps: run.bitrate_kbps,
    adapt_down_s: extra?.adapt_down_s ?? null,
    adapt_up_s: extra?.adapt_up_s ?? null,
    host_cpu_pct: run.host_cpu_pct,
    viewer_cpu_pct: run.viewer_cpu_pct,
    samples: run.samples,
  }
}

/** A stretch this long without a new frame is a freeze (issue 18's target for `internet`). */
const FREEZE_MS = 500
/** How long an adaptation may take before it counts as not done (null). */
const ADAPT_WINDOW_MS = 15_000

const shapeOf = (profile: NetworkProfileName): LinkShape | undefined =>
  profile === 'lan' ? undefined : NETWORK_PROFILES[profile]

/** The longest gap, and the freezes (count, seconds), in frame times within [from, to]. */
function gaps(
  times: number[],
  from: number,
  to: number,
): { longest: number; count: number; seconds: number } {
  let longest = 0
  let count = 0
  let total = 0
  let previous = from
  for (const t of [...times.filter((x) => x >= from && x <= to), to]) {
    const gap = t - previous
    longest = Math.max(longest, gap)
    if (gap >= FREEZE_MS) {
      count++
      total += gap
    }
    previous = t
  }
  return { longest, count, seconds: total / 1000 }
}

/** Samples decoded frames and received bytes every 100 ms until `until` says stop or the window ends. */
async function follow(
  page: Page,
  until: (samples: { at: number; frames: number; bytes: number }[]) => boolean,
): Promise<{ at: number; frames: number; bytes: number }[]> {
  const samples: { at: number; frames: number; bytes: number }[] = []
  const started = performance.now()
  while (performance.now() - started < ADAPT_WINDOW_MS) {
    const s = await inboundStats(page)
    samples.push({ at: performance.now(), frames: s.framesDecoded, bytes: s.bytesReceived })
    if (until(samples)) break
    await sleep(100)
  }
  return samples
}

/**
 * The link steps down to a third of its rate: how long until frames come
 * steadily again (no 500 ms stretch without one for 3 s), on the same
 * connection. Then back up: how long until the rate is 80 % of `before`.
 */
async function adaptation(
  page: Page,
  net: RemoteNetwork,
  shape: LinkShape,
  beforeKbps: number,
): Promise<{ down: number | null; up: number | null }> {
  const stepped = performance.now()
  await net.shape({ ...shape, mbit: shape.mbit / 3 })
  let lastNew = stepped
  let steadySince: number | undefined
  const down = await follow(page, (samples) => {
    const [prev, last] = samples.slice(-2)
    if (!prev || !last) return false
    if (last.frames > prev.frames) {
      // Frames again after a freeze (or the first ones at all): steady from here, if they keep coming.
      if (steadySince === undefined || last.at - lastNew > FREEZE_MS) steadySince = last.at
      lastNew = last.at
    }
    return steadySince !== undefined && last.at - steadySince > 3000 && last.at - lastNew < FREEZE_MS
  })
  const end = down.at(-1)?.at ?? stepped
  const recovered = steadySince !== undefined && end - steadySince > 3000 && end - lastNew < FREEZE_MS
  const lifted = performance.now()
  await net.shape(shape)
  const up = await follow(page, (samples) => {
    const last = samples.at(-1)
    const second = samples.find((s) => last && s.at >= last.at - 1000)
    if (!last || !second || last.at - second.at < 900) return false
    return ((last.bytes - second.bytes) * 8) / (last.at - second.at) >= beforeKbps * 0.8
  })
  const upAt = up.at(-1)?.at ?? lifted
  return {
    down: recovered && steadySince !== undefined ? round1((steadySince - stepped) / 1000) : null,
    up: upAt - lifted < ADAPT_WINDOW_MS - 200 ? round1((upAt - lifted) / 1000) : null,
  }
}

async function runSmoldesk(
  browser: Browser,
  display: string,
  net: RemoteNetwork,
  profile: NetworkProfileName,
  options: NetworkOptions,
): Promise<NetworkRun> {
  const { scenario } = options
  const { tag, page, close } = await startBenchHost(
    browser,
    display,
    scenario,
    { fps: scenario.fps },
    {
      args: ['--listen', net.hostIp],
    },
  )
  try {
    const before = await inboundStats(page)
    const run = await measureSmoldeskPage(page, tag, { ...options, frameTimes: true })
    const after = await inboundStats(page)
    const shape = shapeOf(profile)
    const adapt = shape ? await adaptation(page, net, shape, run.bitrate_kbps) : { down: null, up: null }
    return networkRun('smoldesk', profile, options, run, {
      freeze_count: after.freezeCount - before.freezeCount,
      freeze_s: round1(after.totalFreezesDuration - before.totalFreezesDuration),
      adapt_down_s: adapt.down,
      adapt_up_s: adapt.up,
    })
  } finally {
    await net.shape(shapeOf(profile))
    await close()
  }
}

async function runNovncOver(
  browser: Browser,
  display: string,
  net: RemoteNetwork,
  profile: NetworkProfileName,
  options: NetworkOptions,
): Promise<NetworkRun> {
  const run = await runNovnc(browser, display, options.scenario, 'tuned', {
    ...options,
    smoldeskVariants: [],
    captureFpsTuned: (fps) => fps,
    scenarios: [options.scenario],
    frameTimes: true,
    listen: net.hostIp,
  })
  return networkRun('novnc', profile, options, run, undefined)
}

export async function benchNetwork(options: NetworkOptions): Promise<NetworkRun[]> {
  // Chromium inherits our environment: tag it so its CPU time can be told from everything else.
  process.env.SMOLDESK_OWNER = OWNER_TAG
  const runs: NetworkRun[] = []
  const net = await RemoteNetwork.create({ shaped: true })
  try {
    const browser = await chromium.launch({ executablePath: net.chromium, args: CHROMIUM_ARGS })
    try {
      const { scenario } = options
      const desktop = await startSceneDesktop('xorg', scenario, scenario.fps + 0.1, options.content)
      try {
        const display = desktop.target.display
        if (!display) throw new Error('the bench desktop has no X display')
        for (const profile of options.profiles) {
          await net.shape(shapeOf(profile))
          if (options.systems.includes('smoldesk')) {
            options.log(`${profile}: SmolDesk…`)
            runs.push(await runSmoldesk(browser, display, net, profile, options))
          }
          if (options.systems.includes('novnc')) {
            options.log(`${profile}: x11vnc tuned + noVNC…`)
            runs.push(await runNovncOver(browser, display, net, profile, options))
          }
        }
      } finally {
        await desktop.close()
      }
    } finally {
      await browser.close()
    }
  } finally {
    await net.close()
  }
  return runs
}
