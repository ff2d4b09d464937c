import { readFile } from 'node:fs/promises'
import { SmolDeskError } from '@smoldesk/protocol'
import type { SignalingOptions } from '@smoldesk/signaling'
import { connectRedis } from '@smoldesk/signaling/redis'
import { createLogger } from '../log.ts'
import { Coturn } from '../relay/coturn.ts'
import { SSO_OPTIONS, type SsoValues, setUpSso } from './sso-options.ts'

const log = createLogger('redis')

/** Flags of `start` and `signaling` that shape how peers reach each other. */
export const NETWORK_OPTIONS = {
  turn: { type: 'boolean' },
  'turn-url': { type: 'string', multiple: true },
  'turn-secret-file': { type: 'string' },
  redis: { type: 'string' },
  'tls-cert': { type: 'string' },
  'tls-key': { type: 'string' },
  'trust-proxy': { type: 'boolean' },
  ...SSO_OPTIONS,
} as const

export interface NetworkValues extends SsoValues {
  turn?: boolean | undefined
  'turn-url'?: string[] | undefined
  'turn-secret-file'?: string | undefined
  redis?: string | undefined
  'tls-cert'?: string | undefined
  'tls-key'?: string | undefined
  'trust-proxy'?: boolean | undefined
}

export interface NetworkSetup {
  signaling: SignalingOptions
  tls: { cert: string; key: string } | undefined
  /** The local coturn started for `--turn`; stop it with everything else. */
  coturn: Coturn | undefined
  describe: string[]
}

/**
 * Turns the flags into signaling options: a local coturn (`--turn`) or an
 * external one (`--turn-url` + its shared secret from a file or
 * SMOLDESK_TURN_SECRET, never the command line), Redis scale-out, TLS.
 */
export async function setUpNetwork(values: NetworkValues, listen: string): Promise<NetworkSetup> {
  if (Boolean(values['tls-cert']) !== Boolean(values['tls-key'])) {
    throw new SmolDeskError('INVALID_ARGS', '--tls-cert and --tls-key go together')
  }
  const describe: string[] = []
  const signaling: SignalingOptions = { trustProxy: values['trust-proxy'] ?? false }
  // First, before anything that would need stopping: a wrong issuer stops the start at once.
  // Cookies are Secure over HTTPS, or behind a proxy (which is there to add the TLS).
  signaling.sso = await setUpSso(values, Boolean(values['tls-cert']) || (values['trust-proxy'] ?? false))
  const publicUrl = values['public-url']
  if (publicUrl !== undefined) {
    // The provider sends people back to it and pages of its origin are the only ones trusted.
    if (!URL.canParse(publicUrl) || !/^https?:$/.test(new URL(publicUrl).protocol))
      throw new SmolDeskError('INVALID_ARGS', `--public-url '${publicUrl}' is not an http(s) URL`)
    signaling.publicUrl = new URL(publicUrl).origin
  }
  if (signaling.sso) describe.push(`Single sign-on: ${signaling.sso.issuer}`)
  let coturn: Coturn | undefined
  if (values.turn && values['turn-url']) {
    throw new SmolDeskError(
      'INVALID_ARGS',
      'use either --turn (a local coturn) or --turn-url (an external one)',
    )
  }
  if (values.turn) {
    coturn = await Coturn.start({ listen })
    signaling.turn = { urls: coturn.urls, secret: coturn.secret }
    describe.push(`TURN relay: local coturn at ${coturn.urls.join(', ')}`)
  } else if (values['turn-url']) {
    const file = values['turn-secret-file']
    const secret = file ? (await readFile(file, 'utf8')).trim() : process.env.SMOLDESK_TURN_SECRET
    if (!secret) {
      throw new SmolDeskError(
        'INVALID_ARGS',
        '--turn-url needs coturn’s static-auth-secret: --turn-secret-file PATH or SMOLDESK_TURN_SECRET',
      )
    }
    signaling.turn = { urls: values['turn-url'], secret }
    describe.push(`TURN relay: ${values['turn-url'].join(', ')}`)
  }
  try {
    if (values.redis) {
      const { store, bus } = await connectRedis(values.redis, (level, message, fields) =>
        log[level](fields ?? {}, message),
      )
      signaling.store = store
      signaling.bus = bus
      describe.push(`Rooms shared through Redis at ${values.redis.replace(/\/\/[^@/]*@/, '//***@')}`)
    }
  } catch (err) {
    await coturn?.close()
    throw new SmolDeskError('CONNECTION_FAILED', `cannot reach Redis at ${values.redis}: ${String(err)}`)
  }
  const tls =
    values['tls-cert'] && values['tls-key'] ? { cert: values['tls-cert'], key: values['tls-key'] } : undefined
  return { signaling, tls, coturn, describe }
}
