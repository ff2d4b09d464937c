/**
 * V8 flags the host runs with (`./smoldesk start` passes the same; a test
 * keeps the two in step). A 1 MiB young generation: every received file
 * frame is a fresh 64 KiB Buffer whose wrapper is tiny, so with the default
 * 16 MiB semi-space hundreds of MB of finished frames waited for a
 * scavenge — host RSS grew 54–58 MB during a 1 GiB upload, 4–14 MB with
 * this flag (`./smoldesk bench transfer --mb 1024`), at the same throughput.
 */
export const HOST_NODE_FLAGS = ['--max-semi-space-size=1'] as const
