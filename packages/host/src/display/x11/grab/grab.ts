import { existsSync } from 'node:fs'
import { resolve } from 'node:path'
import type { CapturePlan, EncoderCommand } from '../../../capture/capture-source.ts'
import { helperFor as helperBuildFor } from '../../../capture/helper-choice.ts'

/*
 * SmolDesk's own capture helper (smoldesk-grab.c, built by `./smoldesk
 * setup` once per encoder): grabs when the X server reports damage instead
 * of on a fixed clock, makes a keyframe when asked instead of being
 * restarted, and takes the path's bitrate while it runs. It covers H.264
 * (libx264: smoldesk-grab) and VP8 (libvpx: smoldesk-grab-vp8, what Firefox
 * gets here) in software with 4:2:0 output; anything else goes through ffmpeg.
 */

export const GRAB_BINARY = resolve(import.meta.dirname, '../../../../.build/smoldesk-grab')
export const GRAB_VP8_BINARY = resolve(import.meta.dirname, '../../../../.build/smoldesk-grab-vp8')

/** Whether the H.264 helper captures: wanted (HostOptions.captureHelper; off compares with ffmpeg's fixed rate) and built here. */
export function grabEnabled(wanted: boolean): boolean {
  return wanted && existsSync(GRAB_BINARY)
}

/** Which helper encodes a plan and with what options, or undefined when the plan needs ffmpeg. */
function helperFor(plan: CapturePlan): { binary: string; encoder: string[] } | undefined {
  return helperBuildFor(plan, { h264: GRAB_BINARY, vp8: GRAB_VP8_BINARY })
}

/** The command line of `helper` for a plan on `display`. */
function argsFor(helper: { encoder: string[] }, plan: CapturePlan, display: string): string[] {
  const { region } = plan
  return [
    '--display',
    display,
    '--region',
    `${region.x},${region.y},${region.width},${region.height}`,
    ...helper.encoder,
  ]
}

/** The helper's command line for a plan, or undefined when the plan needs ffmpeg. */
export function buildGrabArgs(plan: CapturePlan, display: string): string[] | undefined {
  const helper = helperFor(plan)
  return helper && argsFor(helper, plan, display)
}

/** The helper binary that runs a plan (whether or not it was built here), or undefined when the plan needs ffmpeg. */
export function grabBinary(plan: CapturePlan): string | undefined {
  return helperFor(plan)?.binary
}

/**
 * The helper as the pipeline runs it, or undefined when the plan needs
 * ffmpeg or its helper was not built here (`wanted`: HostOptions.captureHelper).
 */
export function grabCommand(plan: CapturePlan, display: string, wanted = true): EncoderCommand | undefined {
  const helper = wanted ? helperFor(plan) : undefined
  if (!helper || !existsSync(helper.binary)) return undefined
  return {
    program: 'smoldesk-grab',
    executable: helper.binary,
    args: argsFor(helper, plan, display),
    output: 'frames',
    keyframeOnRequest: true,
    rateOnRequest: true,
    shrinkOnRequest: true,
    pauseOnRequest: true,
    // Quality mode's encoder holds frames back: the helper feeds it at a steady rate instead.
    onChange: plan.config.latencyMode !== 'Quality',
  }
}
