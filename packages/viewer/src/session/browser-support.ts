/**
 * What a browser lacks of what the viewer needs. Debian's WebKitGTK (2.50,
 * MiniBrowser and Epiphany) has no RTCPeerConnection at all: it is built
 * without a WebRTC backend, whatever its enable-webrtc setting says.
 */
export function missingBrowserFeatures(scope: object): string[] {
  const has = (name: string) => typeof (scope as Record<string, unknown>)[name] === 'function'
  return [
    ...(has('RTCPeerConnection') ? [] : ['WebRTC (RTCPeerConnection)']),
    ...(has('WebSocket') ? [] : ['WebSocket']),
  ]
}

/**
 * A password must not cross the network in the clear: over plain HTTP it is
 * sent only to this machine, unless the user says otherwise.
 */
export function passwordMaySend(signalingUrl: string, allowInsecure: boolean): boolean {
  const url = new URL(signalingUrl)
  if (url.protocol === 'wss:' || allowInsecure) return true
  return ['localhost', '127.0.0.1', '[::1]'].includes(url.hostname) || url.hostname.endsWith('.localhost')
}
