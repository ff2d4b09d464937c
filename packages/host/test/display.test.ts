import assert from 'node:assert/strict'
import { mkdtemp, rm } from 'node:fs/promises'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import type { MonitorInfo } from '@smoldesk/protocol'
import { VirtualDesktop } from '../src/display/embedded/virtual-desktop.ts'
import {
  type HostProcess,
  processesTagged,
  run,
  runCli,
  startHostProcess,
  waitForNoProcesses,
} from './helpers.ts'

describe('display probes on a real two-monitor X server', () => {
  let desktop: VirtualDesktop
  let host: HostProcess

  before(async () => {
    desktop = await VirtualDesktop.start({
      monitors: [
        { width: 1920, height: 1080 },
        { width: 1280, height: 720 },
      ],
      backend: 'xorg',
      withApps: false,
    })
    host = await startHostProcess('host', ['--display', desktop.display])
  })

  after(async () => {
    await host?.stop()
    await desktop?.close()
  })

  it('reports X11, probed through a live connection', async () => {
    const client = await host.client()
    assert.equal(await client.invoke('get_display_server'), 'X11')
    client.close()
  })

  it('returns both monitors with their true geometry, as xrandr sees them', async () => {
    const client = await host.client()
    const monitors = await client.invoke<MonitorInfo[]>('get_monitors')
    client.close()
    assert.deepEqual(monitors, [
      {
        index: 0,
        name: 'DUMMY0',
        x: 0,
        y: 0,
        width: 1920,
        height: 1080,
        refresh_rate: 60,
        scale_factor: 1,
        is_primary: true,
      },
      {
        index: 1,
        name: 'DUMMY1',
        x: 1920,
        y: 0,
        width: 1280,
        height: 720,
        refresh_rate: 60,
        scale_factor: 1,
        is_primary: false,
      },
    ])
    // Cross-check with xrandr's own view: " 1: +DUMMY1 1280/339x720/190+1920+0  DUMMY1"
    const listed = await run('xrandr', ['--listmonitors'], { env: { DISPLAY: desktop.display } })
    const geometry = [...listed.stdout.toString().matchAll(/ (\d+)\/\d+x(\d+)\/\d+\+(\d+)\+(\d+) /g)].map(
      (m) => m.slice(1, 5).map(Number),
    )
    assert.deepEqual(
      geometry,
      monitors.map((m) => [m.width, m.height, m.x, m.y]),
    )
  })

  it('follows live changes and reads the scale from Xft.dpi', async () => {
    const env = { DISPLAY: desktop.display }
    await run('xrdb', ['-nocpp', '-merge'], { env, input: 'Xft.dpi: 144\n' })
    await run('xrandr', ['--output', 'DUMMY1', '--off'], { env })
    const client = await host.client()
    const monitors = await client.invoke<MonitorInfo[]>('get_monitors')
    assert.equal(monitors.length, 1)
    assert.equal(monitors[0]?.scale_factor, 1.5)
    await run('xrandr', ['--output', 'DUMMY1', '--mode', 'smoldesk-1280x720@60', '--pos', '1920x0'], { env })
    await run('xrdb', ['-nocpp', '-remove'], { env })
    const again = await client.invoke<MonitorInfo[]>('get_monitors')
    assert.equal(again.length, 2)
    assert.equal(again[1]?.width, 1280)
    client.close()
  })

  it('answers through the CLI: JSON on stdout, exit 0; coded JSON on stderr, exit 1', async () => {
    const env = { SMOLDESK_STATE_DIR: host.stateDir }
    const ok = await runCli(['invoke', 'get_monitors'], env)
    assert.equal(ok.code, 0, ok.stderr)
    const monitors = JSON.parse(ok.stdout) as MonitorInfo[]
    assert.deepEqual(
      monitors.map((m) => `${m.width}x${m.height}+${m.x}+${m.y}`),
      ['1920x1080+0+0', '1280x720+1920+0'],
    )
    const bad = await runCli(['invoke', 'get_monitors', '{"unexpected":1}'], env)
    assert.equal(bad.code, 1)
    assert.equal(bad.stdout, '')
    assert.equal(JSON.parse(bad.stderr).code, 'INVALID_ARGS')
    const unknown = await runCli(['invoke', 'no_such_command'], env)
    assert.equal(JSON.parse(unknown.stderr).code, 'UNKNOWN_COMMAND')
    const notJson = await runCli(['invoke', 'set_clipboard_text', '{text:'], env)
    assert.equal(JSON.parse(notJson.stderr).code, 'INVALID_JSON')
  })

  it('keeps the security key only when it has at least 32 bytes, never padding it', async () => {
    const client = await host.client()
    for (const key of ['', 'short', 'x'.repeat(31), '€'.repeat(10)]) {
      await assert.rejects(client.invoke('initialize_security', { secretKey: key }), {
        code: 'SECURITY_KEY_TOO_SHORT',
      })
    }
    assert.equal(await client.invoke('initialize_security', { secretKey: 'k'.repeat(32) }), null)
    assert.equal(await client.invoke('initialize_security', { secretKey: '€'.repeat(11) }), null) // 33 bytes
    await assert.rejects(client.invoke('initialize_security', { secretKey: 42 }), { code: 'INVALID_ARGS' })
    client.close()
  })

  it('answers an input kind this machine cannot inject with UNAVAILABLE, after validating arguments', async () => {
    const client = await host.client()
    await assert.rejects(
      client.invoke('send_input_event', { event: { event_type: 'TouchEvent', x: 1, y: 1 } }),
      {
        code: 'UNAVAILABLE',
      },
    )
    await assert.rejects(client.invoke('send_input_event', { event: { event_type: 'Teleport' } }), {
      code: 'INVALID_ARGS',
    })
    // Files need a viewer: without a signaling server there is none to send to.
    assert.deepEqual(await client.invoke('list_transfers'), [])
    await assert.rejects(client.invoke('send_file', { path: '/etc/hostname' }), { code: 'UNAVAILABLE' })
    await assert.rejects(client.invoke('accept_transfer', { transferId: '../etc' }), { code: 'INVALID_ARGS' })
    await assert.rejects(client.invoke('pause_transfer', { transferId: 'nope' }), {
      code: 'TRANSFER_NOT_FOUND',
    })
    client.close()
  })

  it('leaves no process behind and removes host.json on exit', async () => {
    const own = (await processesTagged(host.tag)).filter((p) => p.pid !== host.child.pid)
    assert.deepEqual(own, [], 'the host runs no helper process for these commands')
    const code = await host.stop()
    assert.equal(code, 0)
    assert.deepEqual(await waitForNoProcesses(host.tag), [])
    const after = await runCli(['invoke', 'get_monitors'], { SMOLDESK_STATE_DIR: host.stateDir })
    assert.equal(JSON.parse(after.stderr).code, 'HOST_NOT_RUNNING')
  })
})

describe('display probes without any display', () => {
  it('says Unknown and refuses get_monitors with NO_DISPLAY instead of inventing a monitor', async () => {
    const host = await startHostProcess('host', [], { DISPLAY: undefined, WAYLAND_DISPLAY: undefined })
    try {
      const client = await host.client()
      assert.equal(await client.invoke('get_display_server'), 'Unknown')
      await assert.rejects(client.invoke('get_monitors'), { code: 'NO_DISPLAY' })
      await assert.rejects(client.invoke('get_clipboard_text'), { code: 'NO_DISPLAY' })
      client.close()
    } finally {
      await host.stop()
    }
  })

  it('says Unknown for a display nobody serves', async () => {
    const host = await startHostProcess('host', ['--display', ':987'], { WAYLAND_DISPLAY: undefined })
    try {
      const client = await host.client()
      assert.equal(await client.invoke('get_display_server'), 'Unknown')
      await assert.rejects(client.invoke('get_monitors'), { code: 'NO_DISPLAY' })
      client.close()
    } finally {
      await host.stop()
    }
  })
})

describe('Wayland detection', () => {
  it('says Wayland only when something answers on the Wayland socket', async () => {
    const runtime = await mkdtemp(join(tmpdir(), 'smoldesk-xdg-'))
    // A listening unix socket stands in for the compositor: the probe only connects.
    const compositor = createServer((socket) => socket.destroy())
    await new Promise<void>((resolve) => compositor.listen(join(runtime, 'wayland-7'), resolve))
    const env = { DISPLAY: undefined, XDG_RUNTIME_DIR: runtime }
    const live = await startHostProcess('host', [], { ...env, WAYLAND_DISPLAY: 'wayland-7' })
    const stale = await startHostProcess('host', [], { ...env, WAYLAND_DISPLAY: 'wayland-8' })
    try {
      const a = await live.client()
      assert.equal(await a.invoke('get_display_server'), 'Wayland')
      a.close()
      const b = await stale.client()
      assert.equal(await b.invoke('get_display_server'), 'Unknown')
      b.close()
    } finally {
      await live.stop()
      await stale.stop()
      compositor.close()
      await rm(runtime, { recursive: true, force: true })
    }
  })
})
