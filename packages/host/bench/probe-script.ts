import { decodePattern, PATTERN, PATTERN_BITS, patternChecksum, TIME_MODULUS } from './pattern.ts'

/**
 * The script injected into the viewer page (SmolDesk's or noVNC's): on
 * every animation frame it copies the pattern's strip from the element the
 * page draws into (the <video>, or noVNC's <canvas>), decodes the timestamp
 * and records (frame time − drawing time) for each new timestamp, and when
 * it was seen (the gaps between are freezes, for bench network). Both
 * systems are read the same way, so their numbers compare. The decoder is
 * the very function the Node side uses, shipped as source.
 */
export function probeScript(): string {
  return `
(() => {
  const PATTERN = ${JSON.stringify(PATTERN)}
  const PATTERN_BITS = ${PATTERN_BITS}
  const TIME_MODULUS = ${TIME_MODULUS}
  ${patternChecksum.toString()}
  ${decodePattern.toString()}
  const width = PATTERN_BITS * PATTERN.cell
  const canvas = new OffscreenCanvas(width, PATTERN.cell)
  const ctx = canvas.getContext('2d', { willReadFrequently: true })
  const state = { latencies: [], times: [], rejected: 0, lastTime: undefined, running: false }
  function luma() {
    const data = ctx.getImageData(0, 0, width, PATTERN.cell).data
    const out = []
    const c = PATTERN.cell
    for (let i = 0; i < PATTERN_BITS; i++) {
      let sum = 0
      let n = 0
      for (let y = c / 2 - 4; y < c / 2 + 4; y++) {
        for (let x = i * c + c / 2 - 4; x < i * c + c / 2 + 4; x++) {
          const o = (y * width + x) * 4
          sum += 0.299 * data[o] + 0.587 * data[o + 1] + 0.114 * data[o + 2]
          n++
        }
      }
      out.push(sum / n)
    }
    return out
  }
  function frame(ts) {
    if (!state.running) return
    const source = document.querySelector('video') ?? document.querySelector('canvas')
    if (source && (source.videoWidth ?? source.width) > 0) {
      ctx.drawImage(source, PATTERN.x, PATTERN.y, width, PATTERN.cell, 0, 0, width, PATTERN.cell)
      const now = performance.timeOrigin + ts
      const drawn = decodePattern(luma(), now)
      if (drawn === undefined) state.rejected++
      else if (drawn !== state.lastTime) {
        state.lastTime = drawn
        state.latencies.push(now - drawn)
        state.times.push(now)
      }
    }
    requestAnimationFrame(frame)
  }
  window.__smoldeskProbe = {
    start() {
      state.latencies = []
      state.times = []
      state.rejected = 0
      if (!state.running) {
        state.running = true
        requestAnimationFrame(frame)
      }
    },
    stop() {
      state.running = false
      return { latencies: state.latencies, rejected: state.rejected }
    },
    frameTimes() {
      return state.times
    },
  }
})()
`
}
