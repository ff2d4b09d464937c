import { type DataLinkMessage, parseDataLinkMessage } from '@smoldesk/protocol'

/**
 * The viewer's end of the host's data link: a second, data-only peer
 * connection whose offer, answer and candidates travel over the main
 * connection's data-link channel. The host puts its files channel there
 * when it has a native SCTP stack (much faster than its JavaScript one).
 * Messages are handled one after another, so a candidate never races the
 * offer it belongs to.
 */
export function attachDataLink(
  channel: RTCDataChannel,
  config: RTCConfiguration,
  onChannel: (channel: RTCDataChannel) => void,
): RTCPeerConnection {
  const pc = new RTCPeerConnection(config)
  const send = (message: DataLinkMessage) => {
    if (channel.readyState === 'open') channel.send(JSON.stringify(message))
  }
  pc.addEventListener('datachannel', (ev) => onChannel(ev.channel))
  pc.addEventListener('icecandidate', (ev) => {
    if (ev.candidate?.candidate)
      send({ type: 'candidate', candidate: ev.candidate.candidate, mid: ev.candidate.sdpMid ?? '0' })
  })
  let queue = Promise.resolve()
  // Candidates that come before the offer wait for it (the host sends the offer first, but a
  // candidate that cannot be used must not bring the link down either).
  const early: { candidate: string; sdpMid: string }[] = []
  const addCandidate = (c: { candidate: string; sdpMid: string }) => pc.addIceCandidate(c).catch(() => {})
  const handle = async (message: DataLinkMessage) => {
    if (message.type === 'offer') {
      await pc.setRemoteDescription({ type: 'offer', sdp: message.sdp })
      const answer = await pc.createAnswer()
      await pc.setLocalDescription(answer)
      send({ type: 'answer', sdp: answer.sdp ?? '' })
      for (const c of early.splice(0)) await addCandidate(c)
    } else if (message.type === 'candidate' && message.candidate !== '') {
      const c = { candidate: message.candidate, sdpMid: message.mid }
      if (pc.remoteDescription) await addCandidate(c)
      else if (early.length < 64) early.push(c)
    }
  }
  channel.addEventListener('message', (ev) => {
    const message = parseDataLinkMessage(ev.data)
    if (!message || pc.signalingState === 'closed') return
    // A link that cannot be set up stays down: files are then unavailable, the session goes on.
    queue = queue.then(() => handle(message)).catch(() => pc.close())
  })
  channel.addEventListener('close', () => pc.close())
  return pc
}
