import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import {
  COMMAND_NAMES,
  ERROR_CODES,
  IPC_MAX_MESSAGE_BYTES,
  IPC_SUBPROTOCOL,
  IPC_TOKEN_PREFIX,
  IpcClient,
} from '@smoldesk/protocol'
import WebSocket from 'ws'
import { VirtualDesktop } from '../src/display/embedded/virtual-desktop.ts'
import { type HostProcess, startHostProcess } from './helpers.ts'

/** Opens a raw socket (the `ws` package shows the HTTP status of a refused upgrade). */
function rawConnect(
  port: number,
  protocols: string[],
  headers: Record<string, string> = {},
): Promise<{ ws: WebSocket } | { status: number }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`ws://127.0.0.1:${port}/ipc`, protocols, { headers })
    ws.once('open', () => resolve({ ws }))
    ws.once('unexpected-response', (_req, res) => {
      resolve({ status: res.statusCode ?? 0 })
      ws.terminate()
    })
    ws.once('error', (err) => reject(err))
  })
}

/** Sends one raw frame and waits for the next message (the host answers every frame). */
function exchange(ws: WebSocket, frame: string | Buffer, binary = false): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no answer to ${String(frame).slice(0, 80)}`)), 5000)
    ws.once('message', (data) => {
      clearTimeout(timer)
      resolve(JSON.parse(String(data)) as Record<string, unknown>)
    })
    ws.send(frame, { binary })
  })
}

/** A small deterministic PRNG so a failing fuzz run can be replayed from its seed. */
function mulberry32(seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

function fuzzMessages(count: number, seed: number): { frame: string | Buffer; binary: boolean }[] {
  const rand = mulberry32(seed)
  const pick = <T>(items: readonly T[]): T => items[Math.floor(rand() * items.length)] as T
  const junkValues = [
    null,
    true,
    0,
    -1,
    1e308,
    Number.NaN,
    '',
    'x'.repeat(300),
    [],
    {},
    { a: { b: [1, 2] } },
    '\u0000',
    '😀',
  ]
  const randomValue = (): unknown => pick(junkValues)
  const validShaped = (): Record<string, unknown> => ({
    jsonrpc: '2.0',
    id: Math.floor(rand() * 1e6),
    method:
      rand() < 0.8
        ? pick(COMMAND_NAMES)
        : pick(['event.listen', 'event.unlisten', '__proto__', 'constructor', '']),
    params: {
      monitorIndex: randomValue(),
      config: { fps: randomValue(), codec: randomValue() },
      text: randomValue(),
    },
  })
  const out: { frame: string | Buffer; binary: boolean }[] = []
  for (let i = 0; i < count; i++) {
    const kind = Math.floor(rand() * 8)
    const msg = validShaped()
    switch (kind) {
      case 0: // random bytes as text
        out.push({
          frame: Buffer.from(
            Array.from({ length: 1 + Math.floor(rand() * 200) }, () => Math.floor(rand() * 256)),
          ).toString('latin1'),
          binary: false,
        })
        break
      case 1: // random bytes as a binary frame
        out.push({
          frame: Buffer.from(
            Array.from({ length: 1 + Math.floor(rand() * 64) }, () => Math.floor(rand() * 256)),
          ),
          binary: true,
        })
        break
      case 2: // valid JSON of the wrong shape
        out.push({ frame: JSON.stringify(randomValue()), binary: false })
        break
      case 3: {
        // a field removed or replaced with junk
        const keys = Object.keys(msg)
        const key = pick(keys)
        if (rand() < 0.5) delete msg[key]
        else msg[key] = randomValue()
        out.push({ frame: JSON.stringify(msg), binary: false })
        break
      }
      case 4: {
        // truncated JSON
        const text = JSON.stringify(msg)
        out.push({ frame: text.slice(0, Math.floor(rand() * text.length)), binary: false })
        break
      }
      case 5: // extra unknown fields, deep nesting
        out.push({
          frame: JSON.stringify({
            ...msg,
            extra: { deep: [[[[{}]]]] },
            params: { ...(msg.params as object), zzz: 1 },
          }),
          binary: false,
        })
        break
      case 6: {
        // one character flipped
        const text = JSON.stringify(msg)
        const at = Math.floor(rand() * text.length)
        out.push({
          frame: text.slice(0, at) + String.fromCharCode(Math.floor(rand() * 128)) + text.slice(at + 1),
          binary: false,
        })
        break
      }
      default: // well-formed request with junk arguments
        out.push({ frame: JSON.stringify(msg), binary: false })
    }
  }
  return out
}

describe('IPC server: authentication, bad input and fuzzing', () => {
  let desktop: VirtualDesktop
  let host: HostProcess

  before(async () => {
    desktop = await VirtualDesktop.start({ backend: 'auto', withApps: false })
    host = await startHostProcess('host', ['--display', desktop.display])
  })
  after(async () => {
    await host?.stop()
    await desktop?.close()
  })

  it('listens on 127.0.0.1 only and writes host.json with mode 0600', async () => {
    const { stat } = await import('node:fs/promises')
    const info = await stat(`${host.stateDir}/host.json`)
    assert.equal(info.mode & 0o777, 0o600)
    assert.equal(host.state.pid, host.child.pid)
    await assert.rejects(
      new Promise((resolve, reject) => {
        const ws = new WebSocket(`ws://[::1]:${host.state.port}/ipc`)
        ws.once('open', resolve)
        ws.once('error', reject)
      }),
    )
  })

  it('refuses connections without the token, with a wrong token, or from a foreign Origin', async () => {
    const port = host.state.port
    assert.deepEqual(await rawConnect(port, [IPC_SUBPROTOCOL]), { status: 401 })
    assert.deepEqual(await rawConnect(port, [IPC_SUBPROTOCOL, `${IPC_TOKEN_PREFIX}${'0'.repeat(64)}`]), {
      status: 401,
    })
    assert.deepEqual(await rawConnect(port, [`${IPC_TOKEN_PREFIX}${host.state.token}`]), { status: 400 })
    const token = `${IPC_TOKEN_PREFIX}${host.state.token}`
    assert.deepEqual(await rawConnect(port, [IPC_SUBPROTOCOL, token], { Origin: 'http://evil.example' }), {
      status: 403,
    })
    assert.deepEqual(
      await rawConnect(port, [IPC_SUBPROTOCOL, token], { Origin: `http://127.0.0.1:${port + 1}` }),
      {
        status: 403,
      },
    )
    const good = await rawConnect(port, [IPC_SUBPROTOCOL, token], { Origin: `http://127.0.0.1:${port}` })
    assert.ok('ws' in good)
    assert.equal(good.ws.protocol, IPC_SUBPROTOCOL)
    good.ws.close()
    await assert.rejects(IpcClient.connect({ url: `ws://127.0.0.1:${port}/ipc`, token: 'f'.repeat(64) }), {
      code: 'CONNECTION_FAILED',
    })
  })

  it('answers each kind of bad message with its code and keeps the connection', async () => {
    const opened = await rawConnect(host.state.port, [
      IPC_SUBPROTOCOL,
      `${IPC_TOKEN_PREFIX}${host.state.token}`,
    ])
    assert.ok('ws' in opened)
    const ws = opened.ws
    const codeOf = (reply: Record<string, unknown>) => (reply.error as { code: string } | undefined)?.code
    assert.equal(codeOf(await exchange(ws, '{not json')), 'INVALID_JSON')
    assert.equal(codeOf(await exchange(ws, '[1,2,3]')), 'INVALID_REQUEST')
    assert.equal(codeOf(await exchange(ws, Buffer.from([1, 2, 3]), true)), 'INVALID_REQUEST')
    const unknown = await exchange(ws, JSON.stringify({ jsonrpc: '2.0', id: 7, method: 'rm_rf', params: {} }))
    assert.equal(codeOf(unknown), 'UNKNOWN_COMMAND')
    assert.equal(unknown.id, 7, 'the error carries the request id')
    const wrongType = { jsonrpc: '2.0', id: 8, method: 'set_clipboard_text', params: { text: 42 } }
    assert.equal(codeOf(await exchange(ws, JSON.stringify(wrongType))), 'INVALID_ARGS')
    const missing = { jsonrpc: '2.0', id: 9, method: 'set_input_enabled', params: {} }
    assert.equal(codeOf(await exchange(ws, JSON.stringify(missing))), 'INVALID_ARGS')
    const listenBad = { jsonrpc: '2.0', id: 10, method: 'event.listen', params: { event: 'no-such-event' } }
    assert.equal(codeOf(await exchange(ws, JSON.stringify(listenBad))), 'INVALID_ARGS')
    const big = JSON.stringify({
      jsonrpc: '2.0',
      id: 11,
      method: 'set_clipboard_text',
      params: { text: 'x'.repeat(IPC_MAX_MESSAGE_BYTES) },
    })
    const tooLarge = await exchange(ws, big)
    assert.equal(codeOf(tooLarge), 'MESSAGE_TOO_LARGE')
    const fine = await exchange(ws, JSON.stringify({ jsonrpc: '2.0', id: 12, method: 'get_display_server' }))
    assert.equal(fine.result, 'X11')
    ws.close()
  })

  it('survives 2,000 fuzzed messages, answering each with a known code, while another client is served', async () => {
    const seed = Number(process.env.SMOLDESK_FUZZ_SEED ?? 20261124)
    const messages = fuzzMessages(2000, seed)
    const opened = await rawConnect(host.state.port, [
      IPC_SUBPROTOCOL,
      `${IPC_TOKEN_PREFIX}${host.state.token}`,
    ])
    assert.ok('ws' in opened)
    const bystander = await host.client()
    let errors = 0
    for (const [i, m] of messages.entries()) {
      const reply = await exchange(opened.ws, m.frame, m.binary)
      assert.equal(reply.jsonrpc, '2.0', `message ${i} (seed ${seed})`)
      if ('error' in reply) {
        errors++
        const code = (reply.error as { code: string }).code
        assert.ok((ERROR_CODES as readonly string[]).includes(code), `unknown code ${code} for message ${i}`)
        assert.notEqual(
          code,
          'INTERNAL',
          `message ${i} (seed ${seed}) caused an internal error: ${JSON.stringify(reply)}`,
        )
      }
      if (i % 250 === 0) assert.equal(await bystander.invoke('get_display_server'), 'X11')
    }
    assert.ok(errors > 1900, `most fuzzed messages are refused (${errors})`)
    assert.equal(await bystander.invoke('get_display_server'), 'X11')
    opened.ws.close()
    bystander.close()
    const fresh = await host.client()
    assert.equal((await fresh.invoke<unknown[]>('get_monitors')).length, 1)
    fresh.close()
    assert.equal(host.child.exitCode, null, 'the host is still running')
  })

  it('closes (1009) only a connection that sends a frame beyond the hard limit; others go on', async () => {
    const opened = await rawConnect(host.state.port, [
      IPC_SUBPROTOCOL,
      `${IPC_TOKEN_PREFIX}${host.state.token}`,
    ])
    assert.ok('ws' in opened)
    const closed = new Promise<number>((resolve) => opened.ws.once('close', (code) => resolve(code)))
    opened.ws.send('x'.repeat(9 * 1024 * 1024))
    assert.equal(await closed, 1009)
    const client = await host.client()
    assert.equal(await client.invoke('get_display_server'), 'X11')
    client.close()
  })

  it('subscribes and unsubscribes events through listen()', async () => {
    const client = await host.client()
    const unlisten = await client.listen('clipboard-changed', () => {})
    unlisten()
    await assert.rejects(
      client.listen('not-an-event', () => {}),
      { code: 'INVALID_ARGS' },
    )
    client.close()
  })
})
