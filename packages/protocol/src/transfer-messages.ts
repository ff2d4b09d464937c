import { z } from 'zod'
import { FRAME_ID_PATTERN } from './data-frames.ts'
import { ErrorCodeSchema } from './errors.ts'

/*
 * Control messages of the file channel (data goes in data frames, see
 * data-frames.ts). The sender offers, the receiver accepts from an offset
 * (0 at first, where it stopped after a pause or a dropped connection), data
 * flows within a window of unacknowledged bytes, `end` carries the sender's
 * SHA-256 and the receiver answers `done` once the hash matched and the file
 * is in place — or `error`, and nothing is kept.
 */
const Id = z.string().regex(FRAME_ID_PATTERN)
const Offset = z.number().int().min(0).max(Number.MAX_SAFE_INTEGER)
const Sha256 = z.string().regex(/^[0-9a-f]{64}$/)

export const TransferMessageSchema = z.discriminatedUnion('type', [
  /** Sender → receiver; sent again with the same id after a reconnect (the receiver resumes it). */
  z.strictObject({
    type: z.literal('offer'),
    id: Id,
    name: z.string().min(1).max(1024),
    size: Offset,
    mime: z.string().max(255).optional(),
  }),
  /** Receiver → sender: send from this offset (first accept, resume, reconnect). */
  z.strictObject({ type: z.literal('accept'), id: Id, offset: Offset }),
  z.strictObject({ type: z.literal('reject'), id: Id, reason: z.string().max(500).optional() }),
  /** Receiver → sender: bytes up to here are written. */
  z.strictObject({ type: z.literal('ack'), id: Id, offset: Offset }),
  z.strictObject({ type: z.literal('pause'), id: Id }),
  /** Either side asks to go on; the receiver answers with `accept` and its offset. */
  z.strictObject({ type: z.literal('resume'), id: Id }),
  z.strictObject({ type: z.literal('cancel'), id: Id }),
  z.strictObject({ type: z.literal('end'), id: Id, sha256: Sha256 }),
  z.strictObject({ type: z.literal('done'), id: Id, sha256: Sha256 }),
  z.strictObject({
    type: z.literal('error'),
    id: Id.optional(),
    code: ErrorCodeSchema,
    message: z.string().max(1000),
  }),
])
export type TransferMessage = z.infer<typeof TransferMessageSchema>

export const TransferDirectionSchema = z.enum(['host-to-viewer', 'viewer-to-host'])
export type TransferDirection = z.infer<typeof TransferDirectionSchema>

export const TransferStateSchema = z.enum([
  /** Offered, waiting for the receiver to accept. */
  'pending',
  'active',
  'paused',
  /** The peer's connection dropped; resumes from the last written offset when it is back. */
  'interrupted',
  'completed',
  'cancelled',
  'failed',
])
export type TransferState = z.infer<typeof TransferStateSchema>

export const TransferInfoSchema = z.strictObject({
  id: z.string(),
  direction: TransferDirectionSchema,
  name: z.string(),
  size: z.number().int().min(0),
  transferred: z.number().int().min(0),
  state: TransferStateSchema,
  peer_id: z.string(),
  /** Where the received file was put (host side, after completion). */
  path: z.string().optional(),
  sha256: z.string().optional(),
  error: z.string().optional(),
})
export type TransferInfo = z.infer<typeof TransferInfoSchema>
