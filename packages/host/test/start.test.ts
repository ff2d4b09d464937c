import assert from 'node:assert/strict'
import { access, readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import type { MonitorInfo } from '@smoldesk/protocol'
import { HOST_NODE_FLAGS } from '../src/cli/node-flags.ts'
import {
  eventually,
  type HostProcess,
  processesTagged,
  REPO_ROOT,
  run,
  runCli,
  startHostProcess,
  waitForNoProcesses,
} from './helpers.ts'

const NO_DISPLAY = { DISPLAY: undefined, WAYLAND_DISPLAY: undefined }
const exists = (path: string) =>
  access(path).then(
    () => true,
    () => false,
  )

describe('smoldesk start without a display', () => {
  it('brings up a virtual desktop with its apps, shares it, and stops everything on SIGTERM', async () => {
    const start = await startHostProcess('start', [], NO_DISPLAY)
    try {
      await eventually(
        async () => assert.match(start.stdout(), /Open the viewer: +http:\/\/127\.0\.0\.1:\d+\/\?room=\w+/),
        15_000,
      )
      await checkRunningStart(start)
    } finally {
      await start.stop('SIGTERM')
    }
    assert.equal(start.child.exitCode, 0, start.stderr())
    assert.deepEqual(await waitForNoProcesses(start.tag), [])
    assert.equal(await exists(join(start.stateDir, 'host.json')), false)
  })

  it('lays out several monitors of different sizes', async () => {
    const start = await startHostProcess('start', ['--monitors', '1280x720,1024x768'], NO_DISPLAY)
    try {
      const client = await start.client()
      const monitors = await client.invoke<MonitorInfo[]>('get_monitors')
      client.close()
      assert.deepEqual(
        monitors.map((m) => `${m.name} ${m.width}x${m.height}+${m.x}+${m.y} ${m.is_primary}`),
        ['DUMMY0 1280x720+0+0 true', 'DUMMY1 1024x768+1280+0 false'],
      )
    } finally {
      await start.stop('SIGINT')
    }
    assert.deepEqual(await waitForNoProcesses(start.tag), [])
  })

  it('leaves nothing running when the host is killed with SIGKILL', async () => {
    const start = await startHostProcess('start', [], NO_DISPLAY)
    assert.ok((await processesTagged(start.tag)).length >= 3)
    await start.stop('SIGKILL')
    // The kernel's parent-death signal takes the X server and apps down with the host.
    assert.deepEqual(await waitForNoProcesses(start.tag, 10_000), [])
  })

  it('refuses a second host on the same state directory', async () => {
    const first = await startHostProcess('host', [], NO_DISPLAY)
    try {
      const second = await runCli(['host'], { ...NO_DISPLAY, SMOLDESK_STATE_DIR: first.stateDir })
      assert.equal(second.code, 1)
      assert.equal(JSON.parse(second.stderr.trim().split('\n').at(-1) ?? '').code, 'HOST_ALREADY_RUNNING')
    } finally {
      await first.stop()
    }
  })

  it('reports a stale host.json (host killed) as HOST_NOT_RUNNING', async () => {
    const host = await startHostProcess('host', [], NO_DISPLAY)
    host.child.kill('SIGKILL')
    await new Promise((resolve) => host.child.once('exit', resolve))
    const result = await runCli(['invoke', 'get_display_server'], { SMOLDESK_STATE_DIR: host.stateDir })
    assert.equal(result.code, 1)
    assert.equal(JSON.parse(result.stderr).code, 'HOST_NOT_RUNNING')
    await host.stop()
  })
})

async function checkRunningStart(start: HostProcess): Promise<void> {
  const client = await start.client()
  const monitors = await client.invoke<MonitorInfo[]>('get_monitors')
  assert.deepEqual(
    monitors.map((m) => [m.width, m.height, m.x, m.y]),
    [[1920, 1080, 0, 0]],
  )
  assert.equal(await client.invoke('get_display_server'), 'X11')
  client.close()
  const out = start.stdout()
  assert.match(out, /SmolDesk is running/)
  assert.ok(out.includes(`ws://127.0.0.1:${start.state.port}/ipc`), out)
  // The demo apps are really on screen (mapped by the window manager), not just running.
  const display = /embedded \w+ on (:\d+)/.exec(out)?.[1]
  assert.ok(display, out)
  for (const name of ['SmolDesk demo terminal', 'xclock']) {
    const info = await eventually(async () => {
      const result = await run('xwininfo', ['-name', name], { env: { DISPLAY: display } })
      assert.match(result.stdout.toString(), /Map State: IsViewable/, `${name} is visible`)
      return result
    })
    assert.equal(info.code, 0)
  }
  const running = (await processesTagged(start.tag)).map((p) => p.cmdline)
  for (const name of ['Xorg', 'openbox', 'xterm', 'xclock', 'smoldesk-grab']) {
    assert.ok(
      running.some((c) => c.includes(name)),
      `${name} runs: ${running.join(' | ')}`,
    )
  }
}

describe('the smoldesk script', () => {
  it('runs the host with the V8 flags the tests and benchmarks use (HOST_NODE_FLAGS)', async () => {
    const script = await readFile(join(REPO_ROOT, 'smoldesk'), 'utf8')
    const lines = script.split('\n').filter((l) => l.includes('exec node'))
    assert.ok(lines.length >= 2, 'the start/host and bench lines')
    for (const line of lines) {
      for (const flag of HOST_NODE_FLAGS) assert.ok(line.includes(flag), `${flag} in: ${line}`)
    }
  })
})
