import { existsSync } from 'node:fs'
import { resolve } from 'node:path'
import type { CapturePlan, EncoderCommand } from '../../../capture/capture-source.ts'
import { x264HelperArgs } from '../../../capture/x264-helper-args.ts'

/*
 * SmolDesk's own capture helper (smoldesk-grab.c, built by `./smoldesk
 * setup`): grabs when the X server reports damage instead of on a fixed
 * clock, and makes an IDR frame when asked instead of being restarted. It
 * covers H.264 in software (libx264) with 4:2:0 output, the default and the
 * common case; anything else goes through ffmpeg.
 */

export const GRAB_BINARY = resolve(import.meta.dirname, '../../../../.build/smoldesk-grab')

/** Whether the helper captures: wanted (HostOptions.captureHelper; off compares with ffmpeg's fixed rate) and built here. */
export function grabEnabled(wanted: boolean): boolean {
  return wanted && existsSync(GRAB_BINARY)
}

/** The helper's command line for a plan, or undefined when the plan needs ffmpeg. */
export function buildGrabArgs(plan: CapturePlan, display: string): string[] | undefined {
  const encoder = x264HelperArgs(plan)
  if (!encoder) return undefined
  const { region } = plan
  return [
    '--display',
    display,
    '--region',
    `${region.x},${region.y},${region.width},${region.height}`,
    ...encoder,
  ]
}

/** The helper as the pipeline runs it, or undefined when the plan needs ffmpeg. */
export function grabCommand(plan: CapturePlan, display: string): EncoderCommand | undefined {
  const args = buildGrabArgs(plan, display)
  if (!args) return undefined
  return {
    program: 'smoldesk-grab',
    executable: GRAB_BINARY,
    args,
    output: 'frames',
    keyframeOnRequest: true,
    rateOnRequest: true,
    // Quality mode's encoder holds frames back: the helper feeds it at a steady rate instead.
    onChange: plan.config.latencyMode !== 'Quality',
  }
}
