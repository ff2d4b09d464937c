/**
 * Messages a client has been sent and has not yet acknowledged, numbered
 * from its welcome on. A connection the network dropped can look open to
 * the server for a heartbeat or two (half-open): whatever was written to it
 * meanwhile never arrived. The client's `resume` says how many messages it
 * got, and the outbox gives back the rest, in order, before anything newer.
 * Only clients that asked for it (`?ack=1` on the WebSocket URL) are kept
 * for; they acknowledge every few messages. What is held is bounded in
 * messages and in bytes (a client that never acknowledges costs no more):
 * past either bound the oldest go, and a resume from before them fails.
 */
export class Outbox {
  /** How many messages the client has been sent, in all. */
  #sent = 0
  /** The last messages sent, oldest first: numbers #sent - length + 1 … #sent. */
  #unacked: string[] = []
  /** Their length in all (UTF-16 units, as held in memory, about twice the bytes). */
  #units = 0
  readonly #limit: number
  readonly #maxUnits: number

  /**
   * `sent`: how many the client was sent before this outbox took over (its
   * count, on a resume here); at most `limit` messages and `maxUnits` string
   * units are held.
   */
  constructor(limit: number, sent = 0, maxUnits = 1 << 20) {
    this.#limit = limit
    this.#sent = sent
    this.#maxUnits = maxUnits
  }

  get sent(): number {
    return this.#sent
  }

  get held(): number {
    return this.#unacked.length
  }

  /** Numbers a message as sent (whether or not its connection is still open). */
  push(json: string): void {
    this.#sent++
    this.#unacked.push(json)
    this.#units += json.length
    while (this.#unacked.length > this.#limit || (this.#units > this.#maxUnits && this.#unacked.length > 1)) {
      this.#units -= this.#unacked.shift()?.length ?? 0
    }
  }

  /** The client got the first `received` messages: they need not be kept. */
  ack(received: number): void {
    const first = this.#sent - this.#unacked.length + 1
    const done = Math.min(received - first + 1, this.#unacked.length)
    if (done > 0) for (const gone of this.#unacked.splice(0, done)) this.#units -= gone.length
  }

  /**
   * What a client that got `received` messages is missing, oldest first;
   * `lost` counts those no longer held (it fell more than the limit behind,
   * or claims more than it was sent, which is then not trusted).
   */
  since(received: number): { replay: string[]; lost: number } {
    if (received > this.#sent) return { replay: [], lost: 0 }
    const first = this.#sent - this.#unacked.length + 1
    const from = received + 1
    if (from < first) return { replay: [...this.#unacked], lost: first - from }
    return { replay: this.#unacked.slice(from - first), lost: 0 }
  }
}
