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
