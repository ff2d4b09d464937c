import { CHANNEL_LOW_WATER_BYTES } from '@smoldesk/protocol'
import type { RTCDataChannel } from 'werift'
import type { PeerDataChannel } from '../transport.ts'

/** A werift channel as the rest of the host sees it. */
export function wrapChannel(channel: RTCDataChannel): PeerDataChannel {
  channel.bufferedAmountLowThreshold = CHANNEL_LOW_WATER_BYTES
  const closed = () => channel.readyState === 'closed' || channel.readyState === 'closing'
  return {
    label: channel.label,
    send: (frame) => {
      if (!closed()) channel.send(Buffer.from(frame.buffer, frame.byteOffset, frame.byteLength))
    },
    bufferedAmount: () => channel.bufferedAmount,
    drained: () =>
      new Promise<void>((resolve) => {
        if (closed() || channel.bufferedAmount <= CHANNEL_LOW_WATER_BYTES) {
          resolve()
          return
        }
        const low = channel.bufferedAmountLow.subscribe(() => done())
        const state = channel.stateChanged.subscribe((s) => {
          if (s === 'closed' || s === 'closing') done()
        })
        const done = () => {
          low.unSubscribe()
          state.unSubscribe()
          resolve()
        }
      }),
    onMessage: (listener) => {
      channel.onMessage.subscribe((data) => {
        if (typeof data !== 'string') listener(data)
      })
    },
    onClose: (listener) => {
      let told = false
      channel.stateChanged.subscribe((s) => {
        if ((s === 'closed' || s === 'closing') && !told) {
          told = true
          listener()
        }
      })
    },
  }
}
