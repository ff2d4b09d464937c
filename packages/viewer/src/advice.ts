import type { ErrorCode } from '@smoldesk/protocol'
import type { ConnectionState, ConnectionStatus } from './session/viewer-session.ts'

/** What the page says about a state: in words, and what the user can do about it. */
export interface Advice {
  headline: string
  /** The coded reason, when there is one (e.g. JOIN_DENIED). */
  code?: ErrorCode
  detail?: string
  /** What to do next; absent when there is nothing to do but wait. */
  action?: string
  /** The page should ask for the room password. */
  askPassword?: boolean
  /** The page should offer to sign in with the organisation's identity provider. */
  signIn?: boolean
}

const STATE_WORDS: Record<ConnectionState, string> = {
  connecting: 'Connecting to the signaling server…',
  'waiting-for-approval': 'Waiting for the host to let you in…',
  'waiting-for-host': 'In the room; waiting for the host to offer its screen…',
  reconnecting: 'Reconnecting…',
  negotiating: 'Setting up the video connection…',
  connected: 'Connected',
  disconnected: 'Disconnected',
  failed: 'Could not connect',
}

/** Per error code: what it means for the person in front of the page, and what to do. */
const CODE_ADVICE: Partial<
  Record<ErrorCode, { headline: string; action?: string; askPassword?: boolean; signIn?: boolean }>
> = {
  UNAUTHORIZED: {
    headline: 'Wrong or missing room password',
    action: 'Type the room password the host gave you.',
    askPassword: true,
  },
  INSECURE_TRANSPORT: {
    headline: 'The password would travel unencrypted',
    action: 'Open the HTTPS link the host printed, or ask the host to start with --tls-cert.',
  },
  JOIN_DENIED: {
    headline: 'The host did not let you in',
    action: 'Ask the host to approve you, then reload this page.',
  },
  KICKED: { headline: 'The host removed you from the session', action: 'Ask the host for a new link.' },
  ROOM_NOT_FOUND: {
    headline: 'The host is offline (no such room)',
    action: 'Check the room code, or ask the host to start sharing, then reload this page.',
  },
  TOKEN_EXPIRED: { headline: 'The link has expired', action: 'Ask the host for a new link.' },
  TOKEN_INVALID: {
    headline: 'The link is not valid for this host',
    action: 'Ask the host for a new link.',
  },
  TOKEN_REQUIRED: {
    headline: 'This room needs a link from the host',
    action: 'Open the full link the host shared.',
  },
  RATE_LIMITED: { headline: 'Too many attempts', action: 'Wait a minute, then reload.' },
  LOGIN_REQUIRED: {
    headline: 'Sign in to join',
    action: 'This host lets in people signed in with their organisation’s account.',
    signIn: true,
  },
  LOGIN_FAILED: {
    headline: 'Signing in did not work',
    action: 'Try signing in again; if it keeps failing, ask whoever runs your organisation’s sign-in.',
    signIn: true,
  },
  FORBIDDEN: {
    headline: 'You are not on this host’s list',
    action: 'Ask the host to add you (or your group), or sign in with another account.',
    signIn: true,
  },
  OVERLOADED: {
    headline: 'The signaling server is too busy to take you in',
    action: 'It was tried again for half a minute; wait a minute, then reload.',
  },
  BROWSER_UNSUPPORTED: {
    headline: 'This browser cannot show a remote desktop',
    action: 'Open the link in a current Chrome, Edge or Firefox (Debian’s WebKit browsers have no WebRTC).',
  },
  CONNECTION_FAILED: {
    headline: 'The server cannot be reached',
    action: 'Check your network and the address, then reload this page.',
  },
  TIMEOUT: { headline: 'The server did not answer', action: 'Check your network, then reload.' },
  CODEC_UNSUPPORTED: {
    headline: 'Your browser cannot play any video format the host can send',
    action:
      'Use a current Chrome, Edge or Firefox; clipboard and files still work. The host can install another encoder (VP8 comes with ffmpeg).',
  },
  ICE_FAILED: {
    headline: 'No network path to the host',
    action: 'A firewall may block WebRTC; ask the host to enable a TURN relay (--turn).',
  },
}

/** A relay was wanted and none came: the TURN server, not the firewall, is what to check. */
const RELAY_ACTION =
  'The relay (TURN) server is unreachable: check its address and credentials with the host.'

/** Turns the connection's status (a state, its coded reason or words) into advice. */
export function adviceFor(status: Pick<ConnectionStatus, 'state'> & Partial<ConnectionStatus>): Advice {
  const { state, error, detail = '' } = status
  if (error) {
    const known = CODE_ADVICE[error.code]
    const words = [error.message, error.detail].filter(Boolean).join('. ')
    const action = error.code === 'ICE_FAILED' && status.ice?.relayFailed ? RELAY_ACTION : known?.action
    return {
      headline: known?.headline ?? STATE_WORDS[state],
      code: error.code,
      ...(words && { detail: words }),
      ...(action && { action }),
      ...(known?.askPassword && { askPassword: true }),
      ...(known?.signIn && { signIn: true }),
    }
  }
  if (state === 'disconnected' && status.hostGone) {
    return { headline: 'The host stopped sharing', detail, action: 'Reload once the host is back.' }
  }
  return { headline: STATE_WORDS[state], ...(detail && { detail }) }
}

/** The status in one line ("CODE: message (detail)", or its words): for logs, tests and the debug surface. */
export function statusLine(status: Pick<ConnectionStatus, 'error' | 'detail'>): string {
  const { error } = status
  if (!error) return status.detail
  return `${error.code}: ${error.message}${error.detail ? ` (${error.detail})` : ''}`
}
