/** X keysym of a character: Latin-1 maps directly, the rest through the Unicode keysym range. */
export function keysymFor(ch: string): number {
  const cp = ch.codePointAt(0) ?? 0
  if (ch === '\n' || ch === '\r') return 0xff0d // Return
  if (ch === '\t') return 0xff09 // Tab
  if ((cp >= 0x20 && cp <= 0x7e) || (cp >= 0xa0 && cp <= 0xff)) return cp
  return 0x1000000 + cp
}
