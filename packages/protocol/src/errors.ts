import { z } from 'zod'

/**
 * The closed set of error codes. Codes travel unchanged from the host to the
 * CLI, the viewer and the control page, so a UI can say exactly what went
 * wrong. Add a code here (and document it) rather than reusing a vague one.
 */
export const ERROR_CODES = [
  // request shape and transport
  'INVALID_JSON',
  'INVALID_REQUEST',
  'UNKNOWN_COMMAND',
  'INVALID_ARGS',
  'MESSAGE_TOO_LARGE',
  'UNAUTHORIZED',
  'FORBIDDEN_ORIGIN',
  'CONNECTION_FAILED',
  'HOST_NOT_RUNNING',
  'HOST_ALREADY_RUNNING',
  'TIMEOUT',
  // the command exists but its capability is not built yet, or not on this machine
  'UNAVAILABLE',
  /** The viewer's browser lacks something SmolDesk needs (WebRTC, in Debian's WebKitGTK). */
  'BROWSER_UNSUPPORTED',
  /** No network path for the media between viewer and host (ICE failed; the detail says what was tried). */
  'ICE_FAILED',
  // signaling
  'ROOM_NOT_FOUND',
  'ROOM_EXISTS',
  'NOT_IN_ROOM',
  'PEER_NOT_FOUND',
  'RATE_LIMITED',
  'JOIN_DENIED',
  'KICKED',
  'FORBIDDEN',
  'RESUME_FAILED',
  /** A relayed message could not reach its target (it went away, or its instance died): the sender is told. */
  'TARGET_GONE',
  /** The server (or the target's queue) is past its capacity: try again later; nothing was relayed. */
  'OVERLOADED',
  // display
  'NO_DISPLAY',
  'DISPLAY_ERROR',
  'MONITOR_NOT_FOUND',
  /** The command exists, but the display server being shared cannot do it (the message names the backend). */
  'UNSUPPORTED_ON_BACKEND',
  /** The desktop's user said no to (or closed) the desktop's own share prompt (the portal's). */
  'SHARE_DECLINED',
  // capture and encoding
  'CODEC_UNSUPPORTED',
  'HWACCEL_UNAVAILABLE',
  'ENCODER_FAILED',
  // sound
  /** No sound server answers (PulseAudio or PipeWire's pulse server): no desktop audio, no microphone; video is unaffected. */
  'NO_SOUND_SERVER',
  /** The sound helper failed (it is restarted; the message says why). */
  'AUDIO_FAILED',
  // input
  'INPUT_DISABLED',
  /** A key the host's keyboard mapping has no place for (an unknown DOM code, a key this keymap lacks). */
  'KEY_UNMAPPED',
  // clipboard
  'CLIPBOARD_ERROR',
  'CLIPBOARD_TOO_LARGE',
  // file transfer
  'TRANSFER_NOT_FOUND',
  'TRANSFER_REJECTED',
  'TRANSFER_CANCELLED',
  'TRANSFER_TOO_LARGE',
  'TRANSFER_CORRUPT',
  'TRANSFER_INTERRUPTED',
  'DISK_FULL',
  'FILE_ERROR',
  // security
  'SECURITY_KEY_TOO_SHORT',
  'TOKEN_REQUIRED',
  'TOKEN_INVALID',
  'TOKEN_EXPIRED',
  'INSECURE_TRANSPORT',
  /** Single sign-on did not complete: the provider refused, or what came back did not check out (state, code, ID token). */
  'LOGIN_FAILED',
  /** This room admits people signed in with the organisation's identity provider: sign in first. */
  'LOGIN_REQUIRED',
  // anything not foreseen; always a bug worth reporting
  'INTERNAL',
] as const

export const ErrorCodeSchema = z.enum(ERROR_CODES)
export type ErrorCode = z.infer<typeof ErrorCodeSchema>

export const ErrorPayloadSchema = z.strictObject({
  code: ErrorCodeSchema,
  message: z.string(),
})
export type ErrorPayload = z.infer<typeof ErrorPayloadSchema>

/** The one error type of SmolDesk: a code from the closed enum plus words for people. */
export class SmolDeskError extends Error {
  readonly code: ErrorCode
  /** More words for a person (what was tried, what was found); never sent over a wire. */
  readonly detail: string | undefined

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown; detail?: string }) {
    super(message, options)
    this.name = 'SmolDeskError'
    this.code = code
    this.detail = options?.detail
  }

  toJSON(): ErrorPayload {
    return { code: this.code, message: this.message }
  }

  /** Wraps anything thrown into a SmolDeskError; unknown failures become INTERNAL. */
  static from(err: unknown): SmolDeskError {
    if (err instanceof SmolDeskError) return err
    const parsed = ErrorPayloadSchema.safeParse(err)
    if (parsed.success) return new SmolDeskError(parsed.data.code, parsed.data.message)
    const message = err instanceof Error ? err.message : String(err)
    return new SmolDeskError('INTERNAL', message, { cause: err })
  }
}

/** Formats a zod failure as one readable line naming the offending fields. */
export function describeZodError(error: z.ZodError): string {
  return error.issues
    .map((issue) => {
      const path = issue.path.length > 0 ? issue.path.join('.') : '(root)'
      return `${path}: ${issue.message}`
    })
    .join('; ')
}
