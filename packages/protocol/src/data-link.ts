import { z } from 'zod'

/*
 * The files channel can run on a second, data-only peer connection with a
 * native SCTP stack on the host (libdatachannel), negotiated over this small
 * channel of the main connection: the host offers, the viewer answers, both
 * trickle candidates. JSON text messages, parsed on both sides.
 */
export const DATA_LINK_CHANNEL = 'data-link'

const MAX_SDP_CHARS = 16_000

export const DataLinkMessageSchema = z.discriminatedUnion('type', [
  z.strictObject({ type: z.literal('offer'), sdp: z.string().min(1).max(MAX_SDP_CHARS) }),
  z.strictObject({ type: z.literal('answer'), sdp: z.string().min(1).max(MAX_SDP_CHARS) }),
  z.strictObject({
    type: z.literal('candidate'),
    candidate: z.string().max(1024),
    mid: z.string().max(64),
  }),
])
export type DataLinkMessage = z.infer<typeof DataLinkMessageSchema>

/** Longest data-link message read at all: a whole offer fits well within it. */
const MAX_MESSAGE_CHARS = 20_000

/** One data-link message from the other side, or undefined for anything that is not one. */
export function parseDataLinkMessage(data: unknown): DataLinkMessage | undefined {
  if (typeof data !== 'string' || data.length > MAX_MESSAGE_CHARS) return undefined
  let raw: unknown
  try {
    raw = JSON.parse(data)
  } catch {
    return undefined
  }
  const parsed = DataLinkMessageSchema.safeParse(raw)
  return parsed.success ? parsed.data : undefined
}
