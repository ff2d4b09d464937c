import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { ReliableRelay, type Undeliverable } from '../src/reliable-relay.ts'
import { sleep } from './helpers.ts'

/**
 * Instances on a bus that loses what it likes: `loss` of every envelope, or
 * everything while `down` (Redis restarting). Order is kept for what gets
 * through, as Redis pub/sub keeps one publisher's order.
 */
class LossyBus {
  loss = 0
  down = false
  /** Acknowledgements lost on the way back, every one (data still gets through). */
  dropAcks = false
  readonly relays = new Map<string, ReliableRelay>()
  readonly got = new Map<string, string[]>()
  readonly undelivered: Undeliverable[] = []
  location = new Map<string, string>()
  /** Every publish that got through, by destination. */
  readonly published: string[] = []

  add(id: string, options: { giveUpMs?: number; maxPending?: number } = {}): ReliableRelay {
    const relay = new ReliableRelay({
      self: id,
      send: async (to, payload) => {
        if (this.down) throw new Error('bus down')
        if (Math.random() < this.loss || (this.dropAcks && payload.startsWith('a\n'))) return
        this.published.push(to)
        const target = this.relays.get(to)
        setImmediate(() => target?.receive(payload))
      },
      connected: () => !this.down,
      locate: async (clientId) => this.location.get(clientId),
      alive: async (instanceId) => {
        if (this.down) throw new Error('bus down')
        return this.relays.has(instanceId)
      },
      deliver: (clientId, message) => {
        const list = this.got.get(`${id}/${clientId}`) ?? []
        list.push(message)
        this.got.set(`${id}/${clientId}`, list)
      },
      undeliverable: (u) => this.undelivered.push(u),
      resendMs: 40,
      rerouteMs: 100,
      giveUpMs: options.giveUpMs ?? 400,
      ...(options.maxPending !== undefined && { maxPending: options.maxPending }),
    })
    this.relays.set(id, relay)
    return relay
  }

  async run(until: () => boolean, timeoutMs = 10_000): Promise<void> {
    const deadline = Date.now() + timeoutMs
    while (!until()) {
      if (Date.now() > deadline) throw new Error('the bus did not settle')
      for (const relay of this.relays.values()) relay.tick()
      await sleep(10)
    }
  }
}

const numbers = (n: number) => Array.from({ length: n }, (_, i) => `m${i}`)

describe('reliable relay between instances', () => {
  it('delivers every message once and in order through 30 % loss and an outage', async () => {
    const bus = new LossyBus()
    const a = bus.add('A', { giveUpMs: 10_000 })
    bus.add('B')
    bus.loss = 0.3
    for (const m of numbers(1000)) assert.ok(a.publish('B', 'client', m, 'sender'))
    await sleep(30)
    bus.down = true
    for (const m of numbers(2000).slice(1000)) a.publish('B', 'client', m, 'sender')
    await sleep(150)
    bus.down = false
    await bus.run(() => a.pending === 0)
    assert.deepEqual(bus.got.get('B/client'), numbers(2000))
    assert.deepEqual(bus.undelivered, [])
  })

  it('does not give up on a running instance whose acknowledgements are lost, and says nothing of what it took', async () => {
    const bus = new LossyBus()
    const a = bus.add('A') // gives up after 400 ms
    bus.add('B')
    bus.location.set('client', 'B')
    bus.dropAcks = true
    for (const m of numbers(100)) a.publish('B', 'client', m, 'sender')
    await bus.run(() => bus.got.get('B/client')?.length === 100)
    // Past the give-up with every acknowledgement lost (not past four times it): B took all, A
    // cannot know it.
    const until = Date.now() + 900
    await bus.run(() => Date.now() > until)
    assert.equal(a.pending, 100, 'still held: B runs, so it will acknowledge once the bus lets it')
    bus.dropAcks = false
    await bus.run(() => a.pending === 0)
    assert.deepEqual(bus.got.get('B/client'), numbers(100), 'each once, in order')
    assert.deepEqual(bus.undelivered, [], 'no sender told TARGET_GONE for what its target received')
  })

  it('tells the sender OVERLOADED for what a running instance has not acknowledged for four times the give-up', async () => {
    const bus = new LossyBus()
    const a = bus.add('A') // gives up after 400 ms, on a running instance after 1600
    bus.add('B')
    bus.location.set('client', 'B')
    bus.dropAcks = true
    const started = Date.now()
    for (const m of numbers(10)) a.publish('B', 'client', m, 'sender')
    await bus.run(() => a.pending === 0)
    assert.ok(Date.now() - started >= 1600, `given up after ${Date.now() - started} ms`)
    assert.deepEqual(
      bus.undelivered.map((u) => [u.message, u.code, u.senderId]),
      numbers(10).map((m) => [m, 'OVERLOADED', 'sender']),
    )
  })

  it('moves messages to where their client resumed when its instance died, in order', async () => {
    const bus = new LossyBus()
    const a = bus.add('A', { giveUpMs: 5000 })
    bus.add('C')
    // B never existed as far as the bus goes (it died): nothing is acknowledged.
    for (const m of numbers(50)) a.publish('B', 'client', m, 'sender')
    bus.location.set('client', 'C')
    await bus.run(() => a.pending === 0)
    assert.deepEqual(bus.got.get('C/client'), numbers(50))
    // Resumed on the sender's own instance: handed over here.
    for (const m of numbers(5)) a.publish('B', 'other', m)
    bus.location.set('other', 'A')
    await bus.run(() => a.pending === 0)
    assert.deepEqual(bus.got.get('A/other'), numbers(5))
  })

  it('tells the sender TARGET_GONE for what nobody took, and refuses past its bound with OVERLOADED', async () => {
    const bus = new LossyBus()
    const a = bus.add('A', { maxPending: 30 })
    for (const m of numbers(30)) assert.ok(a.publish('B', 'client', m, 'sender'))
    assert.equal(a.publish('B', 'client', 'one too many', 'sender'), false, 'the bound holds')
    bus.location.set('client', 'B')
    await bus.run(() => a.pending === 0)
    assert.deepEqual(
      bus.undelivered.map((u) => [u.message, u.code, u.senderId]),
      numbers(30).map((m) => [m, 'TARGET_GONE', 'sender']),
    )
  })

  it('takes a repeated message once (its acknowledgement was lost), and one ahead of a gap after the gap', async () => {
    const bus = new LossyBus()
    const b = bus.add('B')
    const envelope = 'm\nA\n1\n1\nclient\n\nhello'
    b.receive(envelope)
    b.receive(envelope)
    b.receive('m\nA\n3\n1\nclient\n\nafter a gap\nwith a line break')
    b.receive('m\nA\n2\n1\nclient\nsender\nsecond')
    b.receive('nonsense\n5')
    b.receive('m\nA\nfour\n1\nclient\n\nnot a number')
    b.receive('{"not":"an envelope"}')
    assert.deepEqual(bus.got.get('B/client'), ['hello', 'second', 'after a gap\nwith a line break'])
  })

  it("sends one turn's messages for an instance as one publish, each intact whatever it holds", async () => {
    const bus = new LossyBus()
    const a = bus.add('A')
    bus.add('B')
    const odd = ['plain', 'ü€😀 multi-byte', 'line\nbreaks\n', '12\nlooks like a length', '', 'b\n3\nabc']
    for (const m of odd) a.publish('B', 'client', m)
    await bus.run(() => a.pending === 0)
    assert.deepEqual(bus.got.get('B/client'), odd)
    assert.deepEqual(bus.published, ['B', 'A'], 'one batch there, one acknowledgement back')
    // A batch cut short or with a bad length is dropped where it stops making sense.
    const b = bus.relays.get('B')
    b?.receive('b\n500\nm\nA\n7\n1\nclient\n\ncut short')
    b?.receive('b\nxx\nwhatever')
    assert.deepEqual(bus.got.get('B/client'), odd)
  })
})
