import { networkInterfaces } from 'node:os'

/*
 * The packet size of the files link. libdatachannel sends SCTP in packets
 * for a 1280-byte path (the IPv6 minimum): safe anywhere, since it does no
 * path-MTU discovery and a packet too big for the path would be dropped
 * silently, stalling the transfer. Per-packet work dominates the cost of a
 * transfer (Chromium hands every UDP packet between its network process and
 * the page's WebRTC thread), so bigger packets are much faster, but only
 * where the path is known to carry them: a viewer on this machine, whose
 * packets never leave the loopback interface (MTU 64 KiB). Chromium drops
 * DTLS datagrams over 2048 bytes (kMaxDtlsPacketLen in its DTLS transport);
 * libdatachannel's `mtu` counts 108 bytes of IPv6, UDP, DTLS and SCTP
 * headers, so 2000 keeps every datagram under that with room to spare.
 * Measured here, Chromium receiving from a libdatachannel peer that only
 * sends: 45.7–47.3 MB/s at the default, 70.6 MB/s at 2000; 3000 stalls.
 */
export const SAME_MACHINE_MTU = 2000

export interface PathEnd {
  /** The candidate's address. */
  host: string
  /** host, srflx, prflx or relay. */
  type: string
}

/** Addresses of this machine's interfaces, loopback included. */
export function localAddresses(): Set<string> {
  return new Set(
    Object.values(networkInterfaces())
      .flat()
      .flatMap((i) => (i ? [i.address] : [])),
  )
}

const isLoopback = (address: string) => address === '::1' || /^127\./.test(address)

/**
 * The MTU for a viewer's files link, judged by the pair its main connection
 * uses: SAME_MACHINE_MTU when neither end is a relay and the viewer's address
 * is one of ours, otherwise undefined (libdatachannel's default).
 */
export function linkMtu(
  local: PathEnd | undefined,
  remote: PathEnd | undefined,
  ours: Set<string> = localAddresses(),
): number | undefined {
  if (!local || !remote || local.type === 'relay' || remote.type === 'relay') return undefined
  const address = remote.host.replace(/^::ffff:/, '')
  return isLoopback(address) || ours.has(address) ? SAME_MACHINE_MTU : undefined
}
