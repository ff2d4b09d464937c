/**
 * Why a peer connection failed, in words: which candidate types were
 * gathered on each side, which pair was tried last, and what that means
 * (no relay candidate: TURN unreachable or its credentials refused).
 * Plain TypeScript over getStats() reports, so it runs in tests too.
 */
export interface IceDiagnosis {
  local: string[]
  remote: string[]
  /** "host → relay (failed)", the last nominated or most recent pair. */
  pair: string | undefined
  explanation: string
  /** A relay was wanted (configured or forced) and none came: the TURN server is the thing to check. */
  relayFailed: boolean
}

type Report = { type: string; id: string } & Record<string, unknown>

const kinds = (reports: Report[], type: string) =>
  [...new Set(reports.filter((r) => r.type === type).map((r) => String(r.candidateType ?? '?')))].sort()

export function diagnoseIce(stats: Iterable<Report>, usedTurn: boolean, relayOnly: boolean): IceDiagnosis {
  const reports = [...stats]
  const byId = new Map(reports.map((r) => [r.id, r]))
  const local = kinds(reports, 'local-candidate')
  const remote = kinds(reports, 'remote-candidate')
  const pairs = reports.filter((r) => r.type === 'candidate-pair')
  const tried = pairs.find((p) => p.nominated) ?? pairs.at(-1)
  const pair = tried
    ? `${String(byId.get(String(tried.localCandidateId))?.candidateType ?? '?')} → ${String(
        byId.get(String(tried.remoteCandidateId))?.candidateType ?? '?',
      )} (${String(tried.state ?? '?')})`
    : undefined
  let explanation: string
  let relayFailed = false
  if (local.length === 0) {
    relayFailed = relayOnly
    explanation = relayOnly
      ? 'No relay candidate was gathered: the TURN server is unreachable or refused the credentials.'
      : 'This browser gathered no candidates at all: WebRTC may be blocked here.'
  } else if (usedTurn && !local.includes('relay')) {
    relayFailed = true
    explanation =
      'No relay candidate was gathered: the TURN server is unreachable or refused the credentials, and the direct paths did not work.'
  } else if (!usedTurn && !local.includes('srflx') && !local.includes('relay')) {
    explanation =
      'Only local addresses were found and no TURN server is configured: across different networks a relay is needed.'
  } else if (remote.length === 0) {
    explanation = 'The host sent no candidates: it may be offline or its signaling connection dropped.'
  } else {
    explanation =
      'Candidates were exchanged but no pair connected: a firewall blocks UDP between the two sides.'
  }
  return { local, remote, pair, explanation, relayFailed }
}

export function describeDiagnosis(d: IceDiagnosis): string {
  return `${d.explanation} Gathered here: ${d.local.join(', ') || 'none'}; from the host: ${
    d.remote.join(', ') || 'none'
  }; last pair tried: ${d.pair ?? 'none'}.`
}
