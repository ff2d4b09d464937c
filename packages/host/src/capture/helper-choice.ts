import type { CapturePlan } from './capture-source.ts'
import { vp8HelperArgs } from './vp8-helper-args.ts'
import { x264HelperArgs } from './x264-helper-args.ts'

/** A capture helper's two builds: one grab loop with libx264, and with libvpx (`-DSMOLDESK_GRAB_VP8`). */
export interface HelperBuilds {
  h264: string
  vp8: string
}

/**
 * Which build of a capture helper encodes a plan, and its encoder options;
 * undefined when the plan is neither's (another codec, 4:4:4, an option
 * only ffmpeg takes). Whether the build exists here is the caller's to ask.
 */
export function helperFor(
  plan: CapturePlan,
  builds: HelperBuilds,
): { binary: string; encoder: string[] } | undefined {
  const x264 = x264HelperArgs(plan)
  if (x264) return { binary: builds.h264, encoder: x264 }
  const vp8 = vp8HelperArgs(plan)
  if (vp8) return { binary: builds.vp8, encoder: vp8 }
  return undefined
}
