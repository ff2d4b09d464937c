import { GenericNack, type RTCRtpSender, type RtcpPacket, RtcpTransportLayerFeedback } from 'werift'
import type { RetransmitLimiter } from '../../congestion/retransmit-limiter.ts'

/** werift's history of sent packets (private in its typings): the slot a sequence number is kept in. */
interface SenderHistory {
  rtpCache: ({ header: { sequenceNumber: number }; payload: Buffer } | undefined)[]
}
/** werift's RTP_HISTORY_SIZE (rtpSender.ts): packet `seq` is kept at `rtpCache[seq % 128]`. */
const HISTORY = 128

/**
 * Puts `limiter` between a viewer's NACKs and werift's answer to them:
 * werift resends each packet a NACK names, at once (rtpSender.ts,
 * handleRtcpPacket); the NACK it gets here names only those the limiter
 * allows. Everything else of the packet (its counting, onRtcp) is werift's
 * as before. Packets werift no longer keeps (it would skip them) are taken
 * out too, so the limiter counts only what is resent.
 */
export function limitRetransmissions(sender: RTCRtpSender, limiter: RetransmitLimiter): void {
  const handle = sender.handleRtcpPacket.bind(sender)
  const history = sender as unknown as SenderHistory
  sender.handleRtcpPacket = (packet: RtcpPacket) => {
    if (packet instanceof RtcpTransportLayerFeedback && packet.feedback instanceof GenericNack) {
      const now = performance.now()
      packet.feedback.lost = packet.feedback.lost.filter((seq) => {
        const kept = history.rtpCache[seq % HISTORY]
        return kept === undefined || kept.header.sequenceNumber !== seq
          ? false
          : limiter.allow(seq, kept.payload.length, now)
      })
    }
    handle(packet)
  }
}
