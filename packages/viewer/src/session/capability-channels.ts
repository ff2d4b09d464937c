import {
  CHANNEL_LOW_WATER_BYTES,
  type CLIPBOARD_CHANNEL,
  type FILES_CHANNEL,
  type SESSION_CHANNEL,
  type TransferLink,
} from '@smoldesk/protocol'
import type { ChannelEnd } from '../files.ts'

/** A page-long capability (clipboard, files, session) that takes each new channel of its own. */
export interface Capability {
  attachHost(link: TransferLink): ChannelEnd
}

export type Capabilities = Partial<
  Record<typeof CLIPBOARD_CHANNEL | typeof FILES_CHANNEL | typeof SESSION_CHANNEL, Capability>
>

/** A browser data channel as the shared clipboard/file code sees it. */
function channelLink(channel: RTCDataChannel): TransferLink {
  channel.bufferedAmountLowThreshold = CHANNEL_LOW_WATER_BYTES
  return {
    send: (frame) => {
      if (channel.readyState === 'open') channel.send(frame as Uint8Array<ArrayBuffer>)
    },
    bufferedAmount: () => channel.bufferedAmount,
    drained: () =>
      new Promise<void>((resolve) => {
        if (channel.readyState !== 'open' || channel.bufferedAmount <= CHANNEL_LOW_WATER_BYTES) {
          resolve()
          return
        }
        const done = () => {
          channel.removeEventListener('bufferedamountlow', done)
          channel.removeEventListener('close', done)
          resolve()
        }
        channel.addEventListener('bufferedamountlow', done)
        channel.addEventListener('close', done)
      }),
  }
}

/**
 * One peer connection's capability channels: each is handed to its
 * capability once open and taken back when it closes. The capabilities
 * outlive this (a reconnect brings new channels to the same objects).
 */
export class CapabilityChannels {
  readonly #capabilities: Capabilities
  readonly #channels = new Set<RTCDataChannel>()
  #closed = false

  constructor(capabilities: Capabilities) {
    this.#capabilities = capabilities
  }

  /** Takes a channel if a capability wants it; false for any other channel. */
  adopt(channel: RTCDataChannel): boolean {
    channel.binaryType = 'arraybuffer'
    const capability = this.#capabilities[channel.label as typeof FILES_CHANNEL]
    if (!capability) return false
    if (this.#closed) return true
    let end: ChannelEnd | undefined
    this.#channels.add(channel)
    const open = () => {
      end = capability.attachHost(channelLink(channel))
    }
    if (channel.readyState === 'open') open()
    else channel.addEventListener('open', open, { once: true })
    channel.addEventListener('message', (msg) => {
      if (msg.data instanceof ArrayBuffer) end?.receive(new Uint8Array(msg.data))
    })
    channel.addEventListener('close', () => end?.detach())
    return true
  }

  /** The open channel with this label (for diagnostics and the fuzz tests). */
  get(label: string): RTCDataChannel | undefined {
    return [...this.#channels].find((c) => c.label === label && c.readyState === 'open')
  }

  /** The peer connection is going: closing it locally fires no close event, so tell the capabilities. */
  close(): void {
    if (this.#closed) return
    this.#closed = true
    for (const channel of this.#channels) channel.dispatchEvent(new Event('close'))
    this.#channels.clear()
  }
}
