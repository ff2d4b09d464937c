import { sha256 } from '@noble/hashes/sha2.js'
import { bytesToHex } from '@noble/hashes/utils.js'
import {
  ClipboardAssembler,
  type ClipboardContent,
  ClipboardRefusedError,
  clipboardBytes,
  encodeControl,
  SmolDeskError,
  sendClipboard,
  type TransferLink,
} from '@smoldesk/protocol'
import type { ChannelEnd } from './files.ts'

/** Same default as the host's; the host enforces its own limit too. */
const MAX_BYTES = 10 * 1024 * 1024

export interface RemoteClipboard {
  content: ClipboardContent
  /** Whether it reached the browser's clipboard; if not, `why`, and the UI offers a copy button. */
  copied: boolean
  why?: string
}

export interface ViewerClipboardOptions {
  onRemote(remote: RemoteClipboard): void
  /** A coded refusal from the host (no permission, too large) or a browser refusal. */
  onError(message: string): void
}

const fingerprint = (content: ClipboardContent) => bytesToHex(sha256(clipboardBytes(content)))

/**
 * The viewer's half of clipboard sharing. Host copies arrive on the
 * clipboard channel and go to the browser's clipboard (the Clipboard API
 * needs permission and focus; when it refuses, the content waits for a
 * click on "copy"). The browser's clipboard goes to the host when the page
 * gets focus (or on the paste button): whatever the user copied elsewhere
 * is there when they press Ctrl+V in the remote desktop. A fingerprint of
 * the last content either side has stops echoes.
 */
export class ViewerClipboard {
  readonly #options: ViewerClipboardOptions
  readonly #assembler = new ClipboardAssembler(() => MAX_BYTES)
  #link: TransferLink | undefined
  /** Fingerprint of the content both sides have now. */
  #shared: string | undefined
  #sent = 0
  remote: RemoteClipboard | undefined

  constructor(options: ViewerClipboardOptions) {
    this.#options = options
  }

  attachHost(link: TransferLink): ChannelEnd {
    this.#link = link
    return {
      receive: (frame) => this.#onFrame(frame),
      detach: () => {
        if (this.#link === link) this.#link = undefined
      },
    }
  }

  /** Sends a content to the host unless the host has it already. */
  async send(content: ClipboardContent): Promise<boolean> {
    const link = this.#link
    const print = fingerprint(content)
    if (!link || print === this.#shared) return false
    this.#shared = print
    await sendClipboard(link, `v${Date.now().toString(36)}${this.#sent++}`, content)
    return true
  }

  /** Reads the browser's clipboard (text, else a PNG) and sends it; false with a reason when the browser refuses. */
  async syncFromBrowser(): Promise<{ sent: boolean; why?: string }> {
    try {
      const content = await readBrowserClipboard()
      if (!content) return { sent: false, why: 'the clipboard is empty or holds neither text nor an image' }
      return { sent: await this.send(content) }
    } catch (err) {
      return { sent: false, why: `the browser did not allow reading the clipboard (${describe(err)})` }
    }
  }

  /** Puts the host's last copy on the browser's clipboard (from a click, when automatic copying was refused). */
  async copyRemoteToBrowser(): Promise<boolean> {
    const remote = this.remote
    if (!remote) return false
    try {
      await writeBrowserClipboard(remote.content)
      remote.copied = true
      delete remote.why
    } catch (err) {
      remote.copied = false
      remote.why = describe(err)
    }
    this.#options.onRemote(remote)
    return remote.copied
  }

  #onFrame(frame: Uint8Array): void {
    let content: ClipboardContent | undefined
    try {
      content = this.#assembler.push(frame)
    } catch (err) {
      const error = SmolDeskError.from(err)
      this.#options.onError(`${error.code}: ${error.message}`)
      if (!(error instanceof ClipboardRefusedError))
        this.#link?.send(encodeControl({ type: 'clip-error', code: error.code, message: error.message }))
      return
    }
    if (!content) return
    this.#shared = fingerprint(content)
    this.remote = { content, copied: false }
    void this.copyRemoteToBrowser()
  }
}

async function readBrowserClipboard(): Promise<ClipboardContent | undefined> {
  const clipboard = navigator.clipboard
  if (typeof clipboard.read === 'function') {
    const items = await clipboard.read()
    for (const item of items) {
      if (item.types.includes('text/plain')) {
        return { kind: 'text', text: await (await item.getType('text/plain')).text() }
      }
      if (item.types.includes('image/png')) {
        return { kind: 'image', png: new Uint8Array(await (await item.getType('image/png')).arrayBuffer()) }
      }
    }
    return undefined
  }
  const text = await clipboard.readText()
  return text === '' ? undefined : { kind: 'text', text }
}

async function writeBrowserClipboard(content: ClipboardContent): Promise<void> {
  if (content.kind === 'text') {
    await navigator.clipboard.writeText(content.text)
    return
  }
  const blob = new Blob([content.png as Uint8Array<ArrayBuffer>], { type: 'image/png' })
  await navigator.clipboard.write([new ClipboardItem({ 'image/png': blob })])
}

function describe(err: unknown): string {
  return err instanceof Error ? err.message : String(err)
}
