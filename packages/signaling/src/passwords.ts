import { randomBytes, scrypt, timingSafeEqual } from 'node:crypto'

/** Room codes people can read aloud: no 0/O or 1/I/L. */
const CODE_ALPHABET = 'ABCDEFGHJKMNPQRSTUVWXYZ23456789'

export function randomRoomCode(length = 8): string {
  // 256 % 31 ≠ 0 biases the first letters a little; 8 letters still leave ~2^39 codes.
  const bytes = randomBytes(length)
  return Array.from(bytes, (b) => CODE_ALPHABET[b % CODE_ALPHABET.length]).join('')
}

const KEY_BYTES = 32

function derive(password: string, salt: Buffer): Promise<Buffer> {
  // Async: scrypt takes tens of milliseconds and must not stall every other client's relay.
  return new Promise((resolve, reject) => {
    scrypt(password, salt, KEY_BYTES, (err, key) => (err ? reject(err) : resolve(key)))
  })
}

/** `scrypt$<salt>$<hash>` in base64url: a string, so it can live in Redis as well as in memory. */
export async function hashPassword(password: string): Promise<string> {
  const salt = randomBytes(16)
  const hash = await derive(password, salt)
  return `scrypt$${salt.toString('base64url')}$${hash.toString('base64url')}`
}

/** Compares in constant time; a malformed stored hash never matches. */
export async function verifyPassword(password: string, stored: string): Promise<boolean> {
  const [scheme, salt, hash] = stored.split('$')
  if (scheme !== 'scrypt' || !salt || !hash) return false
  const expected = Buffer.from(hash, 'base64url')
  const offered = await derive(password, Buffer.from(salt, 'base64url'))
  return expected.length === offered.length && timingSafeEqual(expected, offered)
}
