import assert from 'node:assert/strict'
import type { ChildProcess } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import type { CommandResult, EventPayload, IpcClient, SmolDeskError } from '@smoldesk/protocol'
import type { Page } from 'puppeteer-core'
import { DesktopAudio } from '../src/audio/desktop-audio.ts'
import { DESKTOP_SINK, PrivateSoundServer } from '../src/audio/private-sound-server.ts'
import { clickButton, inPage, waitForColour } from './browser.ts'
import { browserVersion, VIEWER_BROWSERS } from './browsers.ts'
import { eventually, processesTagged } from './helpers.ts'
import { openScene, type Scene } from './scene.ts'
import { dominantTone, heardTone, play, receivedTone, record, toneWav } from './sound.ts'
import type { Rgb } from './x11-paint.ts'

/*
 * Sound both ways with a real sound server (a private PulseAudio) and real
 * browsers: a tone the desktop plays is found by frequency in the page, a
 * mute silences what the page plays, a killed sound helper is replaced
 * within 2 s; a viewer's microphone, once the host allows it, is recorded
 * on the desktop from "SmolDesk microphone".
 */

const GREEN: Rgb = [30, 200, 60]
const DESKTOP_TONE_HZ = 880
/** Chromium's fake microphone plays this file; Firefox's fake microphone is a 1 kHz tone. */
const MIC_TONE_HZ = { chromium: 660, firefox: 1000 } as const

declare const document: {
  querySelectorAll(selector: string): ArrayLike<{ textContent: string | null }>
}
declare const window: {
  smoldesk?: {
    state: string
    connection: {
      peerConnection?: { getStats(): Promise<Map<string, Record<string, unknown>>> }
      peerConnectionsCreated: number
    }
  }
}

/** Packets of the host's sound the page has received so far. */
function audioPacketsReceived(page: Page): Promise<number> {
  return inPage(
    page,
    async () => {
      const pc = window.smoldesk?.connection.peerConnection
      if (!pc) return 0
      for (const r of (await pc.getStats()).values())
        if (r.type === 'inbound-rtp' && r.kind === 'audio') return Number(r.packetsReceived ?? 0)
      return 0
    },
    undefined,
  )
}

function toolbarButtons(page: Page): Promise<string[]> {
  return inPage(
    page,
    () => Array.from(document.querySelectorAll('nav.toolbar button')).map((b) => b.textContent ?? ''),
    undefined,
  )
}

const near = (hz: number, want: number) => Math.abs(hz - want) <= want * 0.02

for (const name of VIEWER_BROWSERS) {
  describe(`sound (${name})`, () => {
    let dir: string
    let sound: PrivateSoundServer
    /** The viewer machine's own sound server: what its browser plays on. */
    let speakers: PrivateSoundServer
    let scene: Scene
    let client: IpcClient
    let page: Page
    let player: ChildProcess | undefined

    before(async () => {
      dir = await mkdtemp(join(tmpdir(), 'smoldesk-sound-test-'))
      sound = await PrivateSoundServer.start()
      speakers = await PrivateSoundServer.start()
      const micFile = await toneWav(dir, MIC_TONE_HZ.chromium, 30, 1)
      scene = await openScene({
        monitors: [{ width: 640, height: 480 }],
        colours: [GREEN],
        browser: name,
        fakeMicrophone: micFile,
        speakers: speakers.address,
        hostEnv: { PULSE_SERVER: sound.address },
      })
      client = await scene.client()
      page = await scene.browser.newPage()
      await page.goto(await scene.url())
      await waitForColour(page, GREEN, 20_000)
      player = play(sound.address, await toneWav(dir, DESKTOP_TONE_HZ, 120))
      process.stdout.write(`sound in ${await browserVersion(scene.browser)}\n`)
    })

    after(async () => {
      player?.kill()
      await scene?.close()
      await sound?.close()
      await speakers?.close()
      if (dir) await rm(dir, { recursive: true, force: true })
    })

    it('plays the desktop’s tone in the page, silences it on mute, and has it back within 2 s of its helper dying', async () => {
      const status = await client.invoke<CommandResult<'get_host_status'>>('get_host_status', {})
      assert.equal(status.audio.streaming?.codec, 'opus', 'sound goes with the picture by default')
      assert.equal(status.audio.streaming?.device, 'smoldesk_output.monitor')
      const devices = await client.invoke<CommandResult<'get_audio_devices'>>('get_audio_devices', {})
      assert.equal(devices.server?.name, 'pulseaudio')
      assert.ok(devices.sinks.some((s) => s.name === 'smoldesk_output' && s.is_default))

      const heard = await eventually(async () => {
        const tone = await receivedTone(page)
        assert.ok(
          near(tone.hz, DESKTOP_TONE_HZ),
          `received ${tone.hz.toFixed(1)} Hz at ${tone.db.toFixed(0)} dB`,
        )
        assert.ok(tone.db > -60, `received at ${tone.db.toFixed(0)} dB, above the noise floor`)
        return tone
      }, 10_000)
      // What the viewer's speakers play: the tone, until the user mutes it with the button.
      const played = await eventually(async () => {
        const tone = await heardTone(speakers.address)
        assert.ok(
          near(tone.hz, DESKTOP_TONE_HZ) && tone.rmsDb > -40,
          `the speakers play ${JSON.stringify(tone)}`,
        )
        return tone
      }, 5000)
      process.stdout.write(
        `${name}: tone ${DESKTOP_TONE_HZ} Hz received as ${heard.hz.toFixed(1)} Hz, ${heard.db.toFixed(0)} dB; the viewer's speakers play ${played.hz} Hz at ${played.rmsDb.toFixed(0)} dBFS\n`,
      )
      await clickButton(page, 'nav.toolbar', 'Sound on')
      await eventually(async () => {
        const tone = await heardTone(speakers.address)
        assert.ok(tone.rmsDb < -70, `muted, the speakers play ${JSON.stringify(tone)}`)
      }, 5000)
      assert.ok((await toolbarButtons(page)).includes('Sound off'))
      await clickButton(page, 'nav.toolbar', 'Sound off')
      await eventually(async () => {
        const tone = await heardTone(speakers.address)
        assert.ok(near(tone.hz, DESKTOP_TONE_HZ) && tone.rmsDb > -40, `unmuted: ${JSON.stringify(tone)}`)
      }, 5000)

      // The sound helper dies: a new one is there and the tone flows again within 2 s.
      const helper = (await processesTagged(scene.host.tag)).find((p) =>
        p.cmdline.includes('smoldesk-audio capture'),
      )
      assert.ok(helper, 'a sound helper runs')
      process.kill(helper.pid, 'SIGKILL')
      const killedAt = performance.now()
      const before = await audioPacketsReceived(page)
      const back = await eventually(async () => {
        const now = (await processesTagged(scene.host.tag)).find(
          (p) => p.cmdline.includes('smoldesk-audio capture') && p.pid !== helper.pid,
        )
        assert.ok(now, 'a new sound helper')
        assert.ok((await audioPacketsReceived(page)) > before + 5, 'sound packets arrive again')
        return performance.now() - killedAt
      }, 5000)
      process.stdout.write(`${name}: sound helper killed, sound back after ${back.toFixed(0)} ms\n`)
      assert.ok(back < 2000, `sound back after ${back.toFixed(0)} ms`)
      await eventually(async () => assert.ok(near((await receivedTone(page)).hz, DESKTOP_TONE_HZ)), 5000)
    })

    it('turns the sound off and on for everyone, live, without a new connection', async () => {
      const connections = await inPage(
        page,
        () => window.smoldesk?.connection.peerConnectionsCreated ?? 0,
        undefined,
      )
      const off = await client.invoke<CommandResult<'set_audio_enabled'>>('set_audio_enabled', {
        enabled: false,
      })
      assert.deepEqual(off, { enabled: false, streaming: null })
      await eventually(async () => {
        assert.ok((await heardTone(speakers.address)).rmsDb < -70, 'the speakers go quiet')
        assert.ok((await toolbarButtons(page)).includes('No sound'), 'the page says there is no sound')
      }, 5000)
      const on = await client.invoke<CommandResult<'set_audio_enabled'>>('set_audio_enabled', {
        enabled: true,
      })
      assert.equal(on.streaming?.codec, 'opus')
      await eventually(async () => {
        const tone = await heardTone(speakers.address)
        assert.ok(near(tone.hz, DESKTOP_TONE_HZ) && tone.rmsDb > -40, `back on: ${JSON.stringify(tone)}`)
      }, 5000)
      assert.equal(
        await inPage(page, () => window.smoldesk?.connection.peerConnectionsCreated ?? 0, undefined),
        connections,
        'no viewer reconnected',
      )
    })

    it('records the viewer’s microphone on the desktop once the host allows it, and only then', async () => {
      const [viewer] = await client.invoke<CommandResult<'list_viewers'>>('list_viewers', {})
      assert.ok(viewer, 'one viewer')
      assert.equal(viewer.permissions.microphone, false, 'off by default')
      assert.ok((await toolbarButtons(page)).includes('Microphone (host has not allowed it)'))

      await client.invoke('set_viewer_microphone', { viewerId: viewer.peer_id, allowed: true })
      await clickButton(page, 'nav.toolbar', 'Microphone off')
      await eventually(async () => assert.ok((await toolbarButtons(page)).includes('Microphone on')), 10_000)
      const devices = await client.invoke<CommandResult<'get_audio_devices'>>('get_audio_devices', {})
      const source = devices.sources.find((s) => s.description === 'SmolDesk microphone')
      assert.ok(source, 'the desktop has a "SmolDesk microphone"')
      const want = MIC_TONE_HZ[name]
      const tone = await eventually(async () => {
        const heard = dominantTone(await record(sound.address, source.name, 1200))
        assert.ok(near(heard.hz, want) && heard.rmsDb > -50, `recorded ${JSON.stringify(heard)}`)
        return heard
      }, 15_000)
      process.stdout.write(
        `${name}: microphone ${want} Hz recorded on the desktop as ${tone.hz} Hz at ${tone.rmsDb.toFixed(0)} dBFS\n`,
      )
      await eventually(async () => {
        const [listed] = await client.invoke<CommandResult<'list_viewers'>>('list_viewers', {})
        assert.equal(listed?.talking, true, 'the host sees who is talking')
      }, 5000)

      // The host takes it back: the page says so, and the desktop hears nothing more.
      await client.invoke('set_viewer_microphone', { viewerId: viewer.peer_id, allowed: false })
      await eventually(
        async () => assert.ok((await toolbarButtons(page)).includes('Microphone (host has not allowed it)')),
        5000,
      )
      const silence = dominantTone(await record(sound.address, source.name, 1000))
      assert.ok(silence.rmsDb < -70, `after the host muted it: ${JSON.stringify(silence)}`)
    })
  })
}

describe('the sound helper', () => {
  it('takes a lower bitrate while it runs (a narrow path’s share) and the configured one back, without a restart', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'smoldesk-sound-rate-'))
    const sound = await PrivateSoundServer.start()
    const player = play(sound.address, await toneWav(dir, DESKTOP_TONE_HZ, 30))
    const desktop = new DesktopAudio(sound.address, `${DESKTOP_SINK}.monitor`, 128)
    let bytes = 0
    let packets = 0
    let restarts = 0
    desktop.on('rtp', (packet) => {
      bytes += packet.length - 12 // the Opus payload, without the RTP header
      packets++
    })
    desktop.on('sourceChanged', () => restarts++)
    /** kbit/s of Opus over the next `ms`, 300 ms after asking (the next frame takes a new rate). */
    const kbps = async (ms: number) => {
      await new Promise((resolve) => setTimeout(resolve, 300))
      const [b, p] = [bytes, packets]
      await new Promise((resolve) => setTimeout(resolve, ms))
      return { kbps: ((bytes - b) * 8) / ms, packets: packets - p }
    }
    try {
      await desktop.start()
      const full = await kbps(1500)
      desktop.setBitrate(32)
      const low = await kbps(1500)
      desktop.setBitrate(500) // above the configured 128: held to it
      const back = await kbps(1500)
      process.stdout.write(
        `sound helper: ${full.kbps.toFixed(0)} kbit/s at 128, ${low.kbps.toFixed(0)} at 32, ${back.kbps.toFixed(0)} back at 128 (${full.packets}, ${low.packets}, ${back.packets} packets)\n`,
      )
      assert.ok(full.kbps > 90 && full.kbps < 150, `at 128 kbit/s: ${full.kbps.toFixed(0)}`)
      assert.ok(low.kbps > 20 && low.kbps < 42, `at 32 kbit/s: ${low.kbps.toFixed(0)}`)
      assert.ok(back.kbps > 90 && back.kbps < 150, `back at 128 kbit/s: ${back.kbps.toFixed(0)}`)
      for (const run of [full, low, back])
        assert.ok(run.packets >= 135, `10 ms frames throughout: ${run.packets}`)
      assert.equal(restarts, 1, 'one helper throughout')
    } finally {
      player.kill()
      await desktop.stop()
      await sound.close()
      await rm(dir, { recursive: true, force: true })
    }
  })
})

describe('sound without a sound server', () => {
  let scene: Scene
  let client: IpcClient

  before(async () => {
    scene = await openScene({
      monitors: [{ width: 640, height: 480 }],
      colours: [GREEN],
      browser: 'chromium',
      // A sound server that is not there: what a machine without one looks like to libpulse.
      hostEnv: { PULSE_SERVER: 'unix:/nonexistent/smoldesk-no-sound' },
    })
    client = await scene.client()
  })

  after(async () => {
    await scene?.close()
  })

  it('shares the picture anyway, and says in words, with a code, why there is no sound', async () => {
    const page = await scene.browser.newPage()
    await page.goto(await scene.url())
    await waitForColour(page, GREEN, 20_000)
    const status = await client.invoke<CommandResult<'get_host_status'>>('get_host_status', {})
    assert.equal(status.audio.streaming, null)
    assert.match(status.audio.unavailable ?? '', /sound server/)
    const started = new Promise<EventPayload<'capture-started'>>((resolve) => {
      void client.listen('capture-started', (e) => resolve(e.payload as EventPayload<'capture-started'>))
    })
    await client.invoke('start_capture', { monitorIndex: 0, config: { fps: 30 } })
    const event = await started
    assert.equal(event.audio, null)
    assert.match(event.audio_unavailable ?? '', /sound server/)
    await assert.rejects(client.invoke('set_audio_enabled', { enabled: true }), (err: SmolDeskError) => {
      assert.equal(err.code, 'NO_SOUND_SERVER')
      return true
    })
    const devices = await client.invoke<CommandResult<'get_audio_devices'>>('get_audio_devices', {})
    assert.equal(devices.server, null)
    assert.match(devices.error ?? '', /sound server/)
    assert.ok((await toolbarButtons(page)).includes('No sound'))
    await waitForColour(page, GREEN, 5000) // the picture never stopped
  })
})
