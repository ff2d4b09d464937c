import type { EventName, EventPayload } from '@smoldesk/protocol'

/**
 * How a capability tells the world something happened (capture started, a
 * transfer moved on, a viewer left): the host forwards each event to IPC
 * listeners. Every service takes one of these instead of reaching into
 * another service, so capture/, transfer/ and clipboard/ import nothing from webrtc/.
 */
export type EmitEvent = <E extends EventName>(event: E, payload: EventPayload<E>) => void
