import { DATA_FRAME_MAX_PAYLOAD } from '../data-frames.ts'
import type { ErrorCode } from '../errors.ts'
import type { TransferInfo } from '../transfer-messages.ts'

/*
 * What the file-transfer engine plugs into: the peer's channel (a link),
 * storage (sources and sinks) and hashing differ between the host (Node,
 * files on disk) and the viewer (browser, Blobs); the engine does not.
 */

/*
 * Back-pressure on a data channel: a sender stops above the high-water mark
 * and goes on once the queue is down to the low-water mark. Both are wide
 * so the queue never runs dry while the sender's thread is busy elsewhere
 * (reading the file, hashing): with 1 MiB / 512 KiB the host's libdatachannel
 * queue emptied between refills and downloads to a browser on this machine
 * ran at 39–40 MB/s; with 4 MiB / 1 MiB, 41–51 (the bare channel: 51–63).
 * Every channel implementation (werift, libdatachannel, the browser's) uses
 * these two.
 */
export const CHANNEL_HIGH_WATER_BYTES = 4 * 1024 * 1024
export const CHANNEL_LOW_WATER_BYTES = 1024 * 1024

/** One peer's file channel. */
export interface TransferLink {
  send(frame: Uint8Array): void
  /** Bytes queued in the channel and not yet handed to the network. */
  bufferedAmount(): number
  /** Resolves once bufferedAmount fell to CHANNEL_LOW_WATER_BYTES (or the channel closed). */
  drained(): Promise<void>
  /** send() has copied the frame when it returns: the sender may fill the same buffer again. */
  readonly copiesOnSend?: boolean
}

export interface TransferSource {
  readonly size: number
  read(offset: number, length: number): Promise<Uint8Array>
  /** Fills `target` from `offset` on; returns the bytes read (fewer only at the end of the source). */
  readInto?(target: Uint8Array, offset: number): Promise<number>
  close(): Promise<void>
}

/** Where received bytes go: written in order, then committed (kept) or discarded (nothing left). */
export interface TransferSink {
  write(data: Uint8Array): Promise<void>
  /** Puts the verified file in place; returns where (a path, a name). */
  commit(): Promise<string>
  discard(): Promise<void>
}

export interface Hasher {
  update(data: Uint8Array): void
  /** Lowercase hex SHA-256 of everything passed to update. */
  digest(): string
}

export type TransferEvent =
  | { type: 'offered'; info: TransferInfo }
  | { type: 'started'; info: TransferInfo }
  | { type: 'progress'; info: TransferInfo; rateBytesPerS: number; etaS: number | null }
  | { type: 'completed'; info: TransferInfo }
  | { type: 'error'; info: TransferInfo; code: ErrorCode; message: string }
  | { type: 'changed'; info: TransferInfo }

export interface TransferManagerOptions {
  /** Which end this manager is: decides how directions are named in TransferInfo. */
  side: 'host' | 'viewer'
  openSink(info: { id: string; name: string; size: number }): Promise<TransferSink>
  hasher(): Hasher
  /** Largest file this side accepts. */
  maxBytes: number
  /** Accept incoming offers without asking. */
  autoAccept: boolean
  /** Whether this peer may send us files (`receive`) or be sent files (`send`). */
  allowed?: (peerId: string, what: 'send' | 'receive') => boolean
  onEvent(event: TransferEvent): void
  /** Payload bytes per data frame (64 KiB frames including the header by default). */
  chunkBytes?: number
  /** Unacknowledged bytes in flight: bounds the receiver's write queue and its memory. */
  windowBytes?: number
  /** The channel's queue is kept below this many bytes. */
  highWaterBytes?: number
  /** How long an interrupted transfer waits for its peer before it fails. */
  interruptedGraceMs?: number
  /** We answered a peer's message with an error (at most ERROR_REPLIES_PER_S a second per link): for logs. */
  onRefused?(refusal: { peerId: string; id: string | undefined; code: ErrorCode; message: string }): void
  /** Resend our unfinished transfers' state when a link attaches (the side that reconnects). */
  resyncOnAttach?: boolean
  /** A sender that has not heard where the receiver stands on a new link asks again this often. */
  reaskMs?: number
  /** Progress events per second per transfer, at most. */
  progressPerSecond?: number
  newId?: () => string
  now?: () => number
}

export const TRANSFER_DEFAULTS = {
  chunkBytes: DATA_FRAME_MAX_PAYLOAD,
  windowBytes: 4 * 1024 * 1024,
  highWaterBytes: CHANNEL_HIGH_WATER_BYTES,
  interruptedGraceMs: 10 * 60 * 1000,
  progressPerSecond: 4,
  reaskMs: 1000,
}

export type ResolvedTransferOptions = TransferManagerOptions & typeof TRANSFER_DEFAULTS
