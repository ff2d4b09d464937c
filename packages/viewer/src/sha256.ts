import { sha256 } from '@noble/hashes/sha2.js'
import { bytesToHex } from '@noble/hashes/utils.js'
import type { Hasher } from '@smoldesk/protocol'
import { createSHA256, type IHasher } from 'hash-wasm'

/*
 * SHA-256 for files in the page. Hashing was the upload's bottleneck: the
 * JavaScript SHA-256 (@noble/hashes) took about two thirds of the page's
 * main thread at 24 MB/s in Chromium. WebCrypto cannot hash incrementally,
 * so a WebAssembly SHA-256 (hash-wasm) does the work. Its instances are made
 * asynchronously, so one is kept ready for the next transfer; a transfer
 * that finds none (several at once, or WebAssembly refused) uses noble's.
 */

const ready: IHasher[] = []
let making = false

function makeOne(): void {
  if (making || typeof WebAssembly === 'undefined') return
  making = true
  createSHA256()
    .then((h) => ready.push(h))
    .catch(() => {})
    .finally(() => {
      making = false
    })
}
makeOne()

export function fileHasher(): Hasher {
  const wasm = ready.pop()
  makeOne()
  if (wasm) {
    wasm.init()
    return {
      update: (data) => {
        wasm.update(data)
      },
      digest: () => {
        const hex = wasm.digest('hex')
        ready.push(wasm) // digest ends its use: the next transfer may take it
        return hex
      },
    }
  }
  const js = sha256.create()
  return { update: (data) => js.update(data), digest: () => bytesToHex(js.digest()) }
}
