import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client'

/**
 * The signaling server's Prometheus metrics (GET /metrics). Each server has
 * its own registry, so two servers in one process (tests, a bench) do not
 * mix their counts.
 */
export class SignalingMetrics {
  readonly registry = new Registry()
  readonly connections: Gauge
  readonly rooms: Gauge
  readonly messages: Counter<'type'>
  readonly relayed: Counter
  readonly errors: Counter<'code'>
  readonly authFailures: Counter<'reason'>
  readonly rateLimited: Counter<'scope'>
  readonly refused: Counter<'code'>
  readonly handleSeconds: Histogram

  constructor(defaults: boolean) {
    const registers = [this.registry]
    if (defaults) collectDefaultMetrics({ register: this.registry, prefix: 'smoldesk_signaling_' })
    this.connections = new Gauge({
      name: 'smoldesk_signaling_connections',
      help: 'WebSocket connections open on this instance',
      registers,
    })
    this.rooms = new Gauge({
      name: 'smoldesk_signaling_rooms',
      help: 'rooms created through this instance and still open',
      registers,
    })
    this.messages = new Counter({
      name: 'smoldesk_signaling_messages_total',
      help: 'client messages accepted, by type',
      labelNames: ['type'],
      registers,
    })
    this.relayed = new Counter({
      name: 'smoldesk_signaling_relayed_total',
      help: 'offers, answers and ICE candidates relayed',
      registers,
    })
    this.errors = new Counter({
      name: 'smoldesk_signaling_errors_total',
      help: 'error replies sent, by code',
      labelNames: ['code'],
      registers,
    })
    this.authFailures = new Counter({
      name: 'smoldesk_signaling_auth_failures_total',
      help: 'refused joins and resumes (wrong password, unknown room, bad resume token)',
      labelNames: ['reason'],
      registers,
    })
    this.rateLimited = new Counter({
      name: 'smoldesk_signaling_rate_limited_total',
      help: 'messages or connections refused by a rate limit, by scope',
      labelNames: ['scope'],
      registers,
    })
    this.refused = new Counter({
      name: 'smoldesk_signaling_refused_total',
      help: 'viewers a host turned away (deny-join, kick), by the code it gave (TOKEN_INVALID, JOIN_DENIED, …)',
      labelNames: ['code'],
      registers,
    })
    this.handleSeconds = new Histogram({
      name: 'smoldesk_signaling_handle_seconds',
      help: 'time from receiving a client message to finishing its handling',
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5],
      registers,
    })
  }
}
