import assert from 'node:assert/strict'
import type { ChildProcess } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { after, before, describe, it } from 'node:test'
import type { Page } from 'puppeteer-core'
import { PrivateSoundServer } from '../src/audio/private-sound-server.ts'
import { X11Connection } from '../src/display/x11/connection.ts'
import { ManagedProcess } from '../src/process/child.ts'
import { inPage, videoContentBox } from './browser.ts'
import type { BrowserName } from './browsers.ts'
import { eventually } from './helpers.ts'
import { type LinkShape, RemoteNetwork } from './netns.ts'
import { overshoots, pathDecisions } from './path-log.ts'
import { openScene, type Scene } from './scene.ts'
import { play, receivedTone, toneWav } from './sound.ts'
import { xPointer } from './x11-state.ts'

/*
 * Congestion control, as a viewer lives it: the whole 1280x720 screen
 * changes every frame (the benchmark's full-screen scene: constant quality
 * makes ~8 Mbit/s of it), the viewer's link is 30 Mbit/s and then 3. The
 * picture must be moving again within 3 s of the drop, on the same
 * connection, with what arrives within the link; back on 30 Mbit/s the
 * ceiling lifts again. Then a link of 0.55 Mbit/s, where even 15 frames/s
 * of the whole 1280x720 are too few bits per pixel: the picture is sent at
 * half its width and height, pointing still lands where it was aimed on
 * the host, and the whole picture comes back on 30 Mbit/s. The desktop
 * plays a tone throughout: over 0.55 Mbit/s its Opus stream takes its
 * share of the path (32 kbit/s, not the 128 it has on a wide link), and
 * the tone still arrives. Last, a viewer whose connection starts anew over
 * 0.55 Mbit/s: the new connection starts at the ceiling the last one found,
 * not at the encoder's whole rate. All of it runs in Chromium, whose
 * stream is H.264 from SmolDesk's helper, and in Firefox, whose VP8 comes
 * from a second encoder; both take each new ceiling live. Firefox's new
 * connection once showed no picture for 15 s: that encoder had stopped
 * with the last connection, the carried-over ceiling was given before the
 * new one existed, and it started at its whole rate; CaptureService now
 * keeps each viewer's ceiling for an encoder that starts later, and lets
 * an encoder run on for 5 s after its last viewer. The drop and the lift
 * ran in Chromium only while libvpx made too little of this scene to need
 * a 3 Mbit/s link's adapting (1.7–2.3 Mbit/s; 7–10 since its constant
 * quality holds, afaaafc). libvpx now has bits per pixel of its own, and
 * an encoder past 1.25× its ceiling goes a rung down (rate-governor.ts):
 * with neither, a drop to 1 Mbit/s showed no frame for 10 s; with both,
 * Firefox's drop holds in most runs but not yet in all (FIREFOX_CASES).
 */
type CongestionCase = 'drop' | 'lift' | 'narrowest' | 'new connection'
/**
 * Firefox's drop and lift run with SMOLDESK_FIREFOX_DROP=1 only: 15 of 19
 * runs passed on 2026-12-08 as its VP8 rules came in, 5 of 6 with all of
 * them (moving again 1.4–2.9 s after the drop). In
 * the other four the picture stood still 3.4–4 s, or froze again after it
 * had moved, each time libvpx sending 1.3–1.8× a ceiling it could not meet
 * at the whole size and frame rate (issue 18): too often for CI.
 */
const FIREFOX_CASES: readonly CongestionCase[] =
  process.env.SMOLDESK_FIREFOX_DROP === '1'
    ? ['drop', 'lift', 'narrowest', 'new connection']
    : ['narrowest', 'new connection']
const CONGESTION_CASES: Readonly<Partial<Record<BrowserName, readonly CongestionCase[]>>> = {
  chromium: ['drop', 'lift', 'narrowest', 'new connection'],
  firefox: FIREFOX_CASES,
}

const PATTERN_APP = resolve(import.meta.dirname, '../bench/pattern-app.ts')
const WIDE: LinkShape = { mbit: 30, rttMs: 20, jitterMs: 0, lossPct: 0 }
const NARROW: LinkShape = { mbit: 3, rttMs: 20, jitterMs: 0, lossPct: 0 }
const NARROWEST: LinkShape = { mbit: 0.55, rttMs: 20, jitterMs: 0, lossPct: 0 }
/** A stretch without a new frame longer than this is a freeze. */
const FREEZE_MS = 500
const TONE_HZ = 880

declare const window: {
  smoldesk?: {
    connection: {
      peerConnectionsCreated: number
      peerConnection?: { getStats(): Promise<Map<string, Record<string, unknown>>> }
      restartMedia(): void
    }
  }
  __frames?: number[]
}
declare const document: {
  querySelector(s: 'video'): {
    videoWidth: number
    requestVideoFrameCallback(cb: () => void): void
  } | null
  elementFromPoint(x: number, y: number): { tagName: string; className: string } | null
}

/** In the page: when each frame was shown (this machine's clock, ms). */
function watchFrames(page: Page): Promise<void> {
  return inPage(
    page,
    () => {
      const frames: number[] = []
      window.__frames = frames
      const video = document.querySelector('video')
      const next = () => {
        frames.push(performance.timeOrigin + performance.now())
        video?.requestVideoFrameCallback(next)
      }
      video?.requestVideoFrameCallback(next)
    },
    undefined,
  )
}

const framesShown = (page: Page) => inPage(page, () => window.__frames ?? [], undefined)
const connections = (page: Page) =>
  inPage(page, () => window.smoldesk?.connection.peerConnectionsCreated ?? 0, undefined)
/** A counter of the page's inbound video or sound (getStats), 0 before there is one. */
const inbound = (page: Page, key: 'bytesReceived' | 'framesDecoded', kind: 'video' | 'audio' = 'video') =>
  inPage(
    page,
    async ([name, media]) => {
      const pc = window.smoldesk?.connection.peerConnection
      if (!pc) return 0
      for (const r of (await pc.getStats()).values()) {
        if (r.type === 'inbound-rtp' && r.kind === media) return Number(r[name] ?? 0)
      }
      return 0
    },
    [key, kind] as const,
  )
/**
 * What the page's video receiver went through, for a failure message: the
 * size of its last decoded frame, frames and keyframes decoded, packets lost
 * and repaired, and what it asked the host for (NACKs, PLIs).
 */
const receiverState = (page: Page) =>
  inPage(
    page,
    async () => {
      const pc = window.smoldesk?.connection.peerConnection
      if (!pc) return 'no connection'
      for (const r of (await pc.getStats()).values()) {
        if (r.type !== 'inbound-rtp' || r.kind !== 'video') continue
        const n = (key: string) => Number(r[key] ?? 0)
        return (
          `receiver: last frame ${n('frameWidth')}x${n('frameHeight')}, ${n('framesReceived')} frames received, ${n('framesDecoded')} decoded ` +
          `(${n('keyFramesDecoded')} key), ${n('packetsReceived')} packets, ${n('packetsLost')} lost, ` +
          `${n('retransmittedPacketsReceived')} retransmitted, ${n('nackCount')} NACKs, ${n('pliCount')} PLIs, ` +
          `${n('framesDropped')} dropped, ${n('freezeCount')} freezes`
        )
      }
      return 'no inbound video'
    },
    undefined,
  ).catch((err: unknown) => `receiver: ${String(err)}`)
const now = () => performance.timeOrigin + performance.now()
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

/** kbit/s of video (or sound) received over the next `ms`. */
async function receivedKbps(page: Page, ms: number, kind: 'video' | 'audio' = 'video'): Promise<number> {
  const before = await inbound(page, 'bytesReceived', kind)
  const started = now()
  await sleep(ms)
  return ((await inbound(page, 'bytesReceived', kind)) - before) / 125 / ((now() - started) / 1000)
}

/**
 * The first moment from which frames keep coming (no freeze) until `to`,
 * measured from `from`: how long the picture took to recover.
 */
function recoveredAfter(frames: number[], from: number, to: number): { after: number; freezes: string[] } {
  const inside = frames.filter((t) => t >= from && t <= to)
  let start = from
  let previous = from
  const freezes: string[] = []
  for (const t of [...inside, to]) {
    if (t - previous > FREEZE_MS) {
      start = t
      // Each freeze as "from–to ms after the drop", for a failure to say which one it was.
      freezes.push(`${(previous - from).toFixed(0)}–${(t - from).toFixed(0)}`)
    }
    previous = t
  }
  return { after: start - from, freezes }
}

for (const [name, cases] of Object.entries(CONGESTION_CASES) as [BrowserName, CongestionCase[]][]) {
  const runs = (c: CongestionCase) => cases.includes(c)
  describe(`congestion control over a shaped link (${name}): ${cases.join(', ')}`, () => {
    let net: RemoteNetwork
    let scene: Scene
    let page: Page
    let app: ManagedProcess | undefined
    let dir: string
    let sound: PrivateSoundServer
    /** The viewer machine's sound server (its browser plays the host's sound there). */
    let speakers: PrivateSoundServer
    let player: ChildProcess | undefined

    before(async () => {
      dir = await mkdtemp(join(tmpdir(), 'smoldesk-congestion-'))
      sound = await PrivateSoundServer.start()
      speakers = await PrivateSoundServer.start()
      net = await RemoteNetwork.create({ shaped: true })
      await net.shape(WIDE)
      scene = await openScene({
        monitors: [{ width: 1280, height: 720 }],
        hostArgs: ['--listen', net.hostIp],
        browser: name,
        browserPath: net.browser(name),
        speakers: speakers.address,
        // The path estimate's decisions (debug), for a failure to say what the host saw.
        hostEnv: { SMOLDESK_LOG_LEVEL: 'debug', PULSE_SERVER: sound.address },
      })
      player = play(sound.address, await toneWav(dir, TONE_HZ, 300))
      app = await ManagedProcess.spawn({
        name: 'pattern app',
        command: process.execPath,
        args: [PATTERN_APP, scene.desktop.display, '0', '0', '1280', '720', '30', 'fullscreen'],
      })
      page = await scene.browser.newPage()
      await page.goto(await scene.url())
      await eventually(
        async () => assert.ok((await inbound(page, 'framesDecoded')) > 0, 'the picture arrives'),
        20_000,
      )
      await watchFrames(page)
    })

    after(async () => {
      // Each one closed even if one before it fails: nothing may outlive the test.
      player?.kill()
      for (const close of [
        () => app?.close(),
        () => scene?.close(),
        () => net?.close(),
        () => sound?.close(),
        () => speakers?.close(),
        () => dir && rm(dir, { recursive: true, force: true }),
      ]) {
        await Promise.resolve(close()).catch((err: unknown) =>
          process.stderr.write(`closing: ${String(err)}\n`),
        )
      }
    })

    /** The drop case's figures, for the lift case that follows it (undefined: the drop did not run to its end). */
    let dropCase: { narrow: number; lifted: number; droppedAt: number; connections: number } | undefined

    if (runs('drop'))
      it('recovers the picture within 3 s of a drop to 3 Mbit/s on the same connection', async () => {
        const connectionsBefore = await connections(page)
        await sleep(3000)
        const wide = await receivedKbps(page, 3000)
        // The receiver's counts at the drop and at the window's end: packets that stopped coming
        // (the path) against frames that came but were not shown in time (a browser short of CPU).
        const receiverBefore = await receiverState(page)
        const droppedFrom = now()
        const droppedAt = Date.now()
        await net.shape(NARROW)
        await sleep(10_000)
        // The window ends now, before the page is asked (an answer can take a while on a busy machine:
        // the time it took is no freeze of the picture).
        const end = now()
        const { after: recovery, freezes } = recoveredAfter(await framesShown(page), droppedFrom, end)
        const receiverAfter = await receiverState(page)
        const narrow = await receivedKbps(page, 4000)
        const until = now()
        const narrowFps = (await framesShown(page)).filter((t) => t > until - 4000 && t <= until).length / 4
        // Back to the wide link here, whether or not the lift case follows: the next case starts there.
        const lifted = now()
        await net.shape(WIDE)
        dropCase = { narrow, lifted, droppedAt, connections: connectionsBefore }
        process.stdout.write(
          `congestion (${name}): 30 Mbit/s: ${wide.toFixed(0)} kbit/s received; → 3 Mbit/s: picture moving again after ` +
            `${recovery.toFixed(0)} ms, then ${narrow.toFixed(0)} kbit/s at ${narrowFps.toFixed(1)} frames/s ` +
            `(${overshoots(scene.host.stderr(), droppedAt)} rungs down for an encoder past its ceiling)\n`,
        )
        assert.ok(
          wide > 4000,
          `the full-screen change takes more than the narrow link: ${wide.toFixed(0)} kbit/s`,
        )
        assert.ok(
          recovery <= 3000,
          `the picture stood still until ${recovery.toFixed(0)} ms after the drop (freezes, ms after it: ${freezes.join(', ')}); ${pathDecisions(scene.host.stderr(), droppedAt)}; at the drop ${receiverBefore}; 10 s after it ${receiverAfter}`,
        )
        assert.ok(narrow < 3000, `within the link: ${narrow.toFixed(0)} kbit/s`)
        assert.ok(
          narrowFps >= 5,
          `${narrowFps} frames/s over 3 Mbit/s; ${pathDecisions(scene.host.stderr(), droppedAt)}; 10 s after the drop ${receiverAfter}`,
        )
        assert.equal(await connections(page), connectionsBefore, 'the same connection throughout')
      })

    if (runs('lift'))
      it('lifts the ceiling once the link is back at 30 Mbit/s', async () => {
        assert.ok(dropCase, 'the drop case ran to its end before this one')
        const { narrow, lifted, droppedAt, connections: connectionsBefore } = dropCase
        // The ceiling rises 30 % a second on a clear path, 8 % near the rate the narrow link carried.
        // On a machine starved of CPU the link's own bridge and the browser answer late, a queue to
        // the host, and the ceiling comes down again on the way up (seen in CI: round trips of 367 ms
        // at 6 Mbit/s over 30): the rise then takes longer, so the test waits for it up to 24 s.
        let back = 0
        while (now() - lifted < 24_000) {
          back = await receivedKbps(page, 3000)
          if (back > narrow * 1.5) break
        }
        process.stdout.write(
          `congestion (${name}): 30 Mbit/s again after 3: ${back.toFixed(0)} kbit/s after ${((now() - lifted) / 1000).toFixed(0)} s (${narrow.toFixed(0)} over 3 Mbit/s)\n`,
        )
        assert.ok(
          back > narrow * 1.5,
          `the ceiling lifts: ${back.toFixed(0)} kbit/s against ${narrow.toFixed(0)}; ${pathDecisions(scene.host.stderr(), droppedAt)}`,
        )
        assert.equal(await connections(page), connectionsBefore, 'the same connection since before the drop')
      })

    if (runs('narrowest'))
      it('sends a smaller picture over 0.55 Mbit/s, where pointing still lands on the host, and the whole one after', async () => {
        const connectionsBefore = await connections(page)
        const videoWidth = () =>
          inPage(page, () => document.querySelector('video')?.videoWidth ?? 0, undefined)
        // From the whole picture: a case before may have left it smaller.
        await eventually(async () => assert.equal(await videoWidth(), 1280, 'the whole width first'), 40_000)
        const droppedAt = Date.now()
        const dropped = now()
        await net.shape(NARROWEST)
        // 1280x720 at 15 frames/s needs ~415 kbit/s: the picture is halved (640x360).
        await eventually(async () => assert.equal(await videoWidth(), 640, 'half the width'), 15_000).catch(
          async (err: unknown) => {
            throw new Error(
              `${String(err)}; ${await receiverState(page)}; ${pathDecisions(scene.host.stderr(), droppedAt)}`,
            )
          },
        )
        const shrunkAfter = now() - dropped
        await sleep(2000)
        const [kbps, audioKbps] = await Promise.all([
          receivedKbps(page, 4000),
          receivedKbps(page, 4000, 'audio'),
        ])
        const until = now()
        const fps = (await framesShown(page)).filter((t) => t > until - 4000 && t <= until).length / 4
        const tone = await receivedTone(page)
        // A point three quarters across and a quarter down the picture is (960, 180) on the host,
        // whatever size the video is sent at.
        const x = await X11Connection.open(scene.desktop.display)
        let pointer: number[] = []
        try {
          const area = await videoContentBox(page)
          const aim = { x: area.x + area.width * 0.75, y: area.y + area.height * 0.25 }
          const movedAt = Date.now()
          await page.mouse.move(aim.x, aim.y, { steps: 3 })
          await eventually(async () => {
            const p = await xPointer(x)
            pointer = [p.rootX, p.rootY]
            assert.ok(
              Math.abs(p.rootX - 960) <= 4 && Math.abs(p.rootY - 180) <= 4,
              `the pointer at ${pointer}`,
            )
          }, 5000).catch(async (err: unknown) => {
            // Where the test pointed, against where the picture is now (a layout that moved meanwhile),
            // what is under that point (the video, or something over it), and what the host's input
            // said since (refusals, malformed frames; debug lines).
            const under = await inPage(
              page,
              ([x, y]) => {
                const e = document.elementFromPoint(x, y)
                return e ? `${e.tagName.toLowerCase()}.${e.className}` : 'nothing'
              },
              [aim.x, aim.y] as const,
            )
            const inputLines = scene.host
              .stderr()
              .split('\n')
              .filter(
                (l) => l.includes('"name":"input') && (JSON.parse(l) as { time: number }).time >= movedAt,
              )
            throw new Error(
              `${String(err)}; aimed into ${JSON.stringify(area)}, the picture now at ${JSON.stringify(await videoContentBox(page))}, ` +
                `under the aim: ${under}; peer connections ${await connections(page)} (${connectionsBefore} before the drop); ` +
                `the host's input since: ${inputLines.join(' ') || 'nothing logged'}`,
            )
          })
        } finally {
          x.close()
        }
        const lifted = now()
        await net.shape(WIDE)
        await eventually(async () => assert.equal(await videoWidth(), 1280, 'the whole width again'), 40_000)
        const grownAfter = now() - lifted
        // Sound gets its whole bitrate back once the picture's ceiling is ten times it (or gone).
        let audioBack = 0
        while (now() - lifted < grownAfter + 20_000) {
          audioBack = await receivedKbps(page, 2000, 'audio')
          if (audioBack > 96) break
        }
        process.stdout.write(
          `congestion (${name}): → 0.55 Mbit/s: 640x360 after ${shrunkAfter.toFixed(0)} ms, ${kbps.toFixed(0)} kbit/s ` +
            `at ${fps.toFixed(1)} frames/s, sound ${audioKbps.toFixed(0)} kbit/s (${tone.hz.toFixed(0)} Hz at ${tone.db.toFixed(0)} dB), ` +
            `pointer aimed at (960, 180) landed at (${pointer.join(', ')}); ` +
            `30 again: 1280x720 after ${(grownAfter / 1000).toFixed(1)} s, sound ${audioBack.toFixed(0)} kbit/s; ` +
            `${await receiverState(page)}\n`,
        )
        assert.ok(
          kbps + audioKbps < 550,
          `within the link: ${kbps.toFixed(0)} + ${audioKbps.toFixed(0)} kbit/s`,
        )
        assert.ok(
          audioKbps > 20 && audioKbps < 48,
          `sound takes its share of the narrow path: ${audioKbps.toFixed(0)} kbit/s; ${pathDecisions(scene.host.stderr(), droppedAt)}`,
        )
        assert.ok(
          Math.abs(tone.hz - TONE_HZ) <= TONE_HZ * 0.02 && tone.db > -60,
          `the tone arrives over the narrow path: ${tone.hz.toFixed(1)} Hz at ${tone.db.toFixed(0)} dB`,
        )
        assert.ok(audioBack > 96, `sound back at its configured 128 kbit/s: ${audioBack.toFixed(0)}`)
        assert.ok(
          fps >= 5,
          `${fps} frames/s over 0.55 Mbit/s; ${pathDecisions(scene.host.stderr(), droppedAt)}`,
        )
        assert.equal(await connections(page), connectionsBefore, 'the same connection throughout')
      })

    if (runs('new connection'))
      it('starts a viewer’s new connection at the ceiling its last one found, not at the encoder’s whole rate', async () => {
        const shapedAt = Date.now()
        await net.shape(NARROWEST)
        // The ceiling comes down within a few seconds of the drop (4–7 s to the halved picture,
        // the second test), then settles.
        await eventually(
          async () =>
            assert.equal(
              await inPage(page, () => document.querySelector('video')?.videoWidth ?? 0, undefined),
              640,
              'the picture halved over 0.55 Mbit/s',
            ),
          20_000,
        ).catch(async (err: unknown) => {
          throw new Error(
            `${String(err)}; ${await receiverState(page)}; ${pathDecisions(scene.host.stderr(), shapedAt)}`,
          )
        })
        await sleep(3000)
        const before = await connections(page)
        const restartedAt = Date.now()
        const restarted = now()
        await inPage(page, () => window.smoldesk?.connection.restartMedia(), undefined)
        await eventually(
          async () => assert.ok((await connections(page)) > before, 'a new connection'),
          15_000,
        )
        await eventually(
          async () => assert.ok((await inbound(page, 'framesDecoded')) > 0, 'the new connection’s picture'),
          15_000,
        )
        const started = now()
        const firstFrame = started - restarted
        const kbps = await receivedKbps(page, 4000)
        const { after: moving, freezes } = recoveredAfter(await framesShown(page), started, now())
        process.stdout.write(
          `congestion (${name}): a new connection over 0.55 Mbit/s: first frame ${firstFrame.toFixed(0)} ms after the restart, then ${kbps.toFixed(0)} kbit/s, moving ${moving.toFixed(0)} ms after it\n`,
        )
        // Without the carried-over ceiling the first keyframe came from an encoder at its whole rate
        // (12 Mbit/s into 0.55) and the first picture took 1.3–4.2 s (five runs, three over 2 s); with
        // it 0.7–0.8 s, 1.1–1.2 s with a core kept busy beside this and another browser test.
        // Firefox's VP8 comes from a second encoder. Stopped with the last connection, it started
        // anew after the answer: 0.95 s alone, 1.6–1.7 s with a core kept busy, 2.5 s once in CI;
        // without the ceiling meant for it, 4.4 s, or no picture in 15 s. It now runs on for 5 s
        // after its last viewer (capture-service.ts): 1.05–1.23 s with a core kept busy, so the
        // bound keeps CI's extra second over Chromium's.
        const firstFrameBound = name === 'firefox' ? 3000 : 2000
        assert.ok(
          firstFrame < firstFrameBound,
          `the new connection's first picture after ${firstFrame.toFixed(0)} ms (then still until ${moving.toFixed(0)} ms, freezes ${freezes.join(', ')}); ${pathDecisions(scene.host.stderr(), restartedAt)}`,
        )
        assert.ok(kbps < 550, `within the link: ${kbps.toFixed(0)} kbit/s`)
        await net.shape(WIDE)
      })
  })
}
