/**
 * What the host's path estimate did (its debug lines, `SMOLDESK_LOG_LEVEL=debug`)
 * from `since` (ms since the epoch) on, for a failure message: each
 * decrease with why (loss, queue, what was sent and arrived), the ceiling
 * once a second in between, each frame rate and picture size the governor
 * gave the encoder (and when it moved one down for sending past its ceiling), the host's warnings and errors, and how many keyframes
 * the viewers asked for.
 */
export function pathDecisions(hostStderr: string, since: number): string {
  const steps: string[] = []
  let shownAt = Number.NEGATIVE_INFINITY
  let lastShape = ''
  let keyframes = 0
  /** A log line's time as seconds after `since`. */
  const after = (time: number) => `+${((time - since) / 1000).toFixed(1)} s`
  for (const line of hostStderr.split('\n')) {
    if (/"level":(40|50|60)/.test(line)) {
      // A warning or error of the host's (an encoder that crashed or stopped) in the same window.
      const entry = JSON.parse(line) as { time: number; name?: string; msg?: string }
      if (entry.time >= since) steps.push(`${after(entry.time)} ${entry.name ?? 'host'}: ${entry.msg ?? ''}`)
      continue
    }
    if (line.includes('"asking the encoder for a keyframe"')) {
      if ((JSON.parse(line) as { time: number }).time >= since) keyframes++
      continue
    }
    if (line.includes('"the encoder overshoots its ceiling: one rung down"')) {
      const entry = JSON.parse(line) as { time: number; kbps: number; sentKbps: number }
      if (entry.time >= since)
        steps.push(`${after(entry.time)} the encoder sent ${entry.sentKbps} under ${entry.kbps}: a rung down`)
      continue
    }
    if (line.includes('"path ceiling"')) {
      // What the governor made of it: the encoder's frame rate and picture size.
      const entry = JSON.parse(line) as { time: number; fps: number | string; shrink: number }
      const shape = `${entry.fps}/${entry.shrink}`
      if (entry.time < since || shape === lastShape) continue
      lastShape = shape
      steps.push(`${after(entry.time)} encoder at ${entry.fps} frames/s, 1/${entry.shrink} size`)
      continue
    }
    if (!line.includes('"path estimate"')) continue
    const entry = JSON.parse(line) as {
      time: number
      ceiling?: number
      sendKbps: number
      feedback: { rttMs?: number }
      why?: { loss?: number; queueMs: number; arrived?: number; remb?: number }
    }
    if (entry.time < since) continue
    const at = after(entry.time)
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
  return `the path estimate from then on: ${steps.join('; ') || 'no change'}; ${keyframes} keyframes asked of the encoder`
}

/** How many times since `since` the governor moved an encoder down a rung for sending past its ceiling. */
export function overshoots(hostStderr: string, since: number): number {
  return hostStderr
    .split('\n')
    .filter((line) => line.includes('"the encoder overshoots its ceiling: one rung down"'))
    .filter((line) => (JSON.parse(line) as { time: number }).time >= since).length
}
