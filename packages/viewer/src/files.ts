import {
  type TransferEvent,
  type TransferInfo,
  type TransferLink,
  TransferManager,
  type TransferSink,
  type TransferSource,
} from '@smoldesk/protocol'
import { fileHasher } from './sha256.ts'

/** What a capability gives back for one data channel. */
export interface ChannelEnd {
  receive(frame: Uint8Array): void
  detach(): void
}

/** The peer id the viewer's side uses for its one host. */
export const HOST_PEER = 'host'
/** Largest file the browser keeps in memory for a download. */
const VIEWER_MAX_BYTES = 2 * 1024 * 1024 * 1024

/** A received file in the browser: its bytes end up in a Blob the page offers as a download. */
class BlobSink implements TransferSink {
  #parts: Uint8Array<ArrayBuffer>[] = []
  readonly #name: string
  readonly #done: (blob: Blob) => void

  constructor(name: string, done: (blob: Blob) => void) {
    this.#name = name
    this.#done = done
  }

  async write(data: Uint8Array): Promise<void> {
    this.#parts.push(data.slice() as Uint8Array<ArrayBuffer>)
  }

  async commit(): Promise<string> {
    this.#done(new Blob(this.#parts, { type: 'application/octet-stream' }))
    this.#parts = []
    return this.#name
  }

  async discard(): Promise<void> {
    this.#parts = []
  }
}

/** Bytes read from a Blob at once: each read is a round trip to the browser's blob store, 64 KiB at a time is slow. */
const READ_AHEAD_BYTES = 4 * 1024 * 1024

/** A file the user dropped or picked, read in large slices and handed out chunk by chunk. */
export function blobSource(blob: Blob): TransferSource {
  let cache: { offset: number; bytes: Uint8Array } | undefined
  return {
    size: blob.size,
    read: async (offset, length) => {
      if (!cache || offset < cache.offset || offset + length > cache.offset + cache.bytes.length) {
        const end = Math.min(blob.size, Math.max(offset + length, offset + READ_AHEAD_BYTES))
        cache = { offset, bytes: new Uint8Array(await blob.slice(offset, end).arrayBuffer()) }
      }
      const at = offset - cache.offset
      return cache.bytes.subarray(at, at + length)
    },
    close: async () => {
      cache = undefined
    },
  }
}

export interface ViewerFilesOptions {
  /** Called on every change, for the UI. */
  onChange(transfers: TransferInfo[]): void
  /** A download is complete and verified: offer it to the user. */
  onDownload(name: string, blob: Blob): void
  onEvent?(event: TransferEvent): void
}

/**
 * The viewer's side of file transfer: the same engine as the host's, with
 * files from the page (drag and drop, file picker) and downloads as Blobs.
 * It outlives peer connections: after a reconnect it re-attaches to the new
 * files channel and every unfinished transfer carries on where it stopped.
 */
export class ViewerFiles extends TransferManager {
  readonly #options: ViewerFilesOptions
  readonly downloads: Map<string, Blob>
  #end: ReturnType<TransferManager['attach']> | undefined

  constructor(options: ViewerFilesOptions) {
    const downloads = new Map<string, Blob>()
    let changed = () => {}
    super({
      side: 'viewer',
      maxBytes: VIEWER_MAX_BYTES,
      autoAccept: false,
      resyncOnAttach: true,
      hasher: fileHasher,
      openSink: async ({ id, name }) =>
        new BlobSink(name, (blob) => {
          downloads.set(id, blob)
          options.onDownload(name, blob)
        }),
      onEvent: (event) => {
        options.onEvent?.(event)
        changed()
      },
    })
    this.#options = options
    this.downloads = downloads
    changed = () => this.#options.onChange(this.list())
  }

  /** The files channel of a (new) peer connection opened; `detach` when it closes (transfers then wait). */
  attachHost(link: TransferLink): ChannelEnd {
    this.#end?.detach()
    const end = this.attach(HOST_PEER, link)
    this.#end = end
    return {
      receive: (frame) => end.receive(frame),
      detach: () => {
        if (this.#end !== end) return
        end.detach()
        this.#end = undefined
      },
    }
  }

  get connected(): boolean {
    return this.#end !== undefined
  }

  sendFile(file: Blob, name: string): TransferInfo {
    return this.send(HOST_PEER, name, blobSource(file))
  }

  /** Sends bytes from any source (the transfer benchmark generates them as they are read). */
  sendSource(name: string, source: TransferSource): TransferInfo {
    return this.send(HOST_PEER, name, source)
  }
}
