import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { createHash } from 'node:crypto'
import { after, before, describe, it } from 'node:test'
import type { IpcClient } from '@smoldesk/protocol'
import { VirtualDesktop } from '../src/display/embedded/virtual-desktop.ts'
import { CLI_MAIN, eventually, type HostProcess, processesTagged, run, startHostProcess } from './helpers.ts'

const sha = (data: string | Buffer) => createHash('sha256').update(data).digest('hex')

describe('clipboard: the real X CLIPBOARD selection', () => {
  let desktop: VirtualDesktop
  let host: HostProcess
  let client: IpcClient
  const xclipOut = () =>
    run('xclip', ['-o', '-selection', 'clipboard'], { env: { DISPLAY: desktop.display }, timeoutMs: 10_000 })
  const xclipIn = (text: string | Buffer) =>
    run('xclip', ['-i', '-selection', 'clipboard'], { env: { DISPLAY: desktop.display }, input: text })

  before(async () => {
    desktop = await VirtualDesktop.start({ withApps: false })
    host = await startHostProcess('host', ['--display', desktop.display])
    client = await host.client()
  })
  after(async () => {
    client?.close()
    await host?.stop()
    await desktop?.close()
  })

  it('reads an empty clipboard as an empty string', async () => {
    assert.equal(await client.invoke('get_clipboard_text'), '')
  })

  it('sets text that xclip reads back byte for byte, Unicode included', async () => {
    const text = 'Grüße aus SmolDesk — 你好 😀\nline two\ttab'
    assert.equal(await client.invoke('set_clipboard_text', { text }), null)
    const out = await xclipOut()
    assert.equal(out.code, 0, out.stderr)
    assert.equal(out.stdout.toString('utf8'), text)
    assert.equal(await client.invoke('get_clipboard_text'), text)
  })

  it('reads text that another X client (xclip) owns', async () => {
    const text = 'copied on the host: ünïcödé ✓'
    const result = await xclipIn(text)
    assert.equal(result.code, 0)
    // xclip takes the selection from a forked child, after its own exit
    await eventually(async () => assert.equal(await client.invoke('get_clipboard_text'), text))
  })

  it('moves 3 MiB both ways (INCR), with equal SHA-256', async () => {
    const big = 'SmolDesk clipboard 0123456789 ÄÖÜ\n'.repeat(90_000) // ~3.2 MB
    await client.invoke('set_clipboard_text', { text: big.slice(0, 1000) }) // ownership first, content next
    // 3 MB does not fit one IPC message (1 MiB limit), so set it on the X side and read it through the IPC…
    await xclipIn(big)
    await eventually(async () =>
      assert.equal(sha(await client.invoke<string>('get_clipboard_text')), sha(big)),
    )
    // …and the other way, 900 kB through the IPC, read by xclip through SmolDesk's INCR answer.
    const medium = big.slice(0, 900_000)
    await client.invoke('set_clipboard_text', { text: medium })
    const out = await xclipOut()
    assert.equal(sha(out.stdout), sha(Buffer.from(medium, 'utf8')))
  })

  it('emits clipboard-changed for copies made by any X client, to listen() and to `smoldesk listen`', async () => {
    const seen: unknown[] = []
    const unlisten = await client.listen('clipboard-changed', (e) => seen.push(e.payload))
    const cli = spawn(process.execPath, [CLI_MAIN, 'listen', 'clipboard-changed'], {
      env: { ...process.env, SMOLDESK_STATE_DIR: host.stateDir, SMOLDESK_LOG_LEVEL: 'warn' },
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let lines = ''
    cli.stdout.on('data', (d: Buffer) => {
      lines += d.toString()
    })
    try {
      // `smoldesk listen` subscribes once it is connected, so copy until it reports one. Each copy is
      // settled (seen by our own listener) before the next, so no forked xclip takes the selection late.
      let copied = ''
      await eventually(async () => {
        copied = `copied in an X app ✓ ${Date.now()}`
        await xclipIn(copied)
        await eventually(async () =>
          assert.equal((seen.at(-1) as { text?: string } | undefined)?.text, copied),
        )
        assert.ok(lines.includes(copied), `CLI printed: ${lines}`)
      }, 10_000)
      const line = lines.trim().split('\n').at(-1) ?? ''
      assert.deepEqual(JSON.parse(line), { type: 'text', size: Buffer.byteLength(copied), text: copied })
      await client.invoke('set_clipboard_text', { text: 'set through the IPC' })
      await eventually(async () =>
        assert.equal((seen.at(-1) as { text: string }).text, 'set through the IPC'),
      )
    } finally {
      unlisten()
      cli.kill('SIGINT')
    }
    const code = await new Promise((resolve) => cli.once('exit', resolve))
    assert.equal(code, 0)
  })

  it('spawns no process per call', async () => {
    await client.invoke('get_video_codecs') // the start-up encoder probe is finished after this
    for (let i = 0; i < 20; i++) {
      await client.invoke('set_clipboard_text', { text: `round ${i}` })
      assert.equal(await client.invoke('get_clipboard_text'), `round ${i}`)
    }
    const helpers = (await processesTagged(host.tag)).filter((p) => p.pid !== host.child.pid)
    assert.deepEqual(helpers, [])
  })
})
