/*
 * The timestamp pattern the latency benchmark draws on the host's screen and
 * reads back from the viewer's decoded pixels: 24 bits of the drawing time
 * (milliseconds, modulo 2^24) and an 8-bit checksum, one black or white
 * square per bit. A torn or blurred read fails the checksum (or has a grey
 * square) and is rejected, never counted.
 */
export const PATTERN = {
  x: 32,
  y: 32,
  cell: 24,
  timeBits: 24,
  checkBits: 8,
} as const

export const PATTERN_BITS = PATTERN.timeBits + PATTERN.checkBits
export const PATTERN_WIDTH = PATTERN_BITS * PATTERN.cell
export const TIME_MODULUS = 2 ** PATTERN.timeBits

export function patternChecksum(value: number): number {
  const b0 = value & 0xff
  const b1 = (value >>> 8) & 0xff
  const b2 = (value >>> 16) & 0xff
  return (b0 * 7 + b1 * 13 + b2 * 29 + 0x5a) & 0xff
}

/** Bits, most significant first: 24 of time, then 8 of checksum. */
export function encodePattern(epochMs: number): boolean[] {
  const value = Math.floor(epochMs) % TIME_MODULUS
  const word = value * 256 + patternChecksum(value)
  const bits: boolean[] = []
  for (let i = PATTERN_BITS - 1; i >= 0; i--) bits.push(Math.floor(word / 2 ** i) % 2 === 1)
  return bits
}

/**
 * Decodes luminance samples (one per square, 0–255) back to the drawing
 * time, given the reader's current time to undo the modulus. Undefined
 * when a square is grey (a blend of two frames) or the checksum fails.
 */
export function decodePattern(luma: readonly number[], nowEpochMs: number): number | undefined {
  if (luma.length !== PATTERN_BITS) return undefined
  let word = 0
  for (const l of luma) {
    if (l > 64 && l < 192) return undefined
    word = word * 2 + (l >= 128 ? 1 : 0)
  }
  const value = Math.floor(word / 256)
  if (patternChecksum(value) !== word % 256) return undefined
  const base = nowEpochMs - (((nowEpochMs % TIME_MODULUS) - value + TIME_MODULUS) % TIME_MODULUS)
  return base
}
