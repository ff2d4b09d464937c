/**
 * What the host's path estimate did (its debug lines, `SMOLDESK_LOG_LEVEL=debug`)
 * from `since` (ms since the epoch) on, for a failure message: each
 * decrease with why (loss, queue, what was sent and arrived), and the ceiling
 * once a second in between.
 */
export function pathDecisions(hostStderr: string, since: number): string {
  const steps: string[] = []
  let shownAt = Number.NEGATIVE_INFINITY
  for (const line of hostStderr.split('\n')) {
    if (!line.includes('"path estimate"')) continue
    const entry = JSON.parse(line) as {
      time: number
      ceiling?: number
      sendKbps: number
      feedback: { rttMs?: number }
      why?: { loss?: number; queueMs: number; arrived?: number; remb?: number }
    }
    if (entry.time < since) continue
    const at = `+${((entry.time - since) / 1000).toFixed(1)} s`
    const ceiling = entry.ceiling === undefined ? 'none' : entry.ceiling.toFixed(0)
    if (entry.why) {
      const w = entry.why
      steps.push(
        `${at} ↓${ceiling} (loss ${((w.loss ?? 0) * 100).toFixed(0)} %, queue ${w.queueMs.toFixed(0)} ms, sent ${entry.sendKbps}, arrived ${w.arrived?.toFixed(0) ?? '?'}, remb ${w.remb?.toFixed(0) ?? '?'})`,
      )
      shownAt = entry.time
    } else if (entry.time - shownAt >= 1000) {
      steps.push(`${at} ${ceiling} (sent ${entry.sendKbps}, rtt ${entry.feedback.rttMs?.toFixed(0) ?? '?'})`)
      shownAt = entry.time
    }
  }
  return `the path estimate from then on: ${steps.join('; ') || 'no change'}`
}
