import type { ChildProcess } from 'node:child_process'
import { spawn } from 'node:child_process'
import { join } from 'node:path'
import { DESKTOP_SINK } from '../src/audio/private-sound-server.ts'
import { inPage, type Page } from './browser.ts'
import { run } from './helpers.ts'

/*
 * Sound as the tests hear it: tones made with ffmpeg, played with paplay,
 * recorded with parec, and found again by frequency, on the host (a
 * Goertzel scan of recorded PCM) and in the page (a WebAudio analyser).
 */

/** A WAV of a sine tone (16-bit, 48 kHz). */
export async function toneWav(dir: string, hz: number, seconds: number, channels = 2): Promise<string> {
  const file = join(dir, `tone-${hz}-${channels}ch.wav`)
  await run('ffmpeg', [
    '-loglevel',
    'error',
    '-y',
    '-f',
    'lavfi',
    '-i',
    `sine=frequency=${hz}:duration=${seconds}:sample_rate=48000`,
    '-ac',
    String(channels),
    '-af',
    'volume=0.5',
    file,
  ])
  return file
}

/** Plays a file on the sound server's default sink, as a desktop application would. */
export function play(server: string, file: string): ChildProcess {
  return spawn('paplay', ['--server', server, file], { stdio: 'ignore' })
}

/** Records a source for `ms` as 48 kHz mono s16le samples. */
export async function record(server: string, source: string, ms: number): Promise<Int16Array> {
  const child = spawn(
    'parec',
    [
      '--server',
      server,
      '-d',
      source,
      '--raw',
      '--format=s16le',
      '--rate=48000',
      '--channels=1',
      '--latency-msec=20',
    ],
    { stdio: ['ignore', 'pipe', 'ignore'] },
  )
  const chunks: Buffer[] = []
  child.stdout.on('data', (c: Buffer) => chunks.push(c))
  await new Promise((resolve) => setTimeout(resolve, ms))
  child.kill('SIGTERM')
  await new Promise((resolve) => child.once('exit', resolve))
  const bytes = Buffer.concat(chunks)
  return new Int16Array(bytes.buffer, bytes.byteOffset, Math.floor(bytes.length / 2))
}

/** The strongest frequency in PCM (Goertzel, 100–4000 Hz in 2 Hz steps) and its RMS level in dBFS. */
export function dominantTone(samples: Int16Array, rate = 48000): { hz: number; rmsDb: number } {
  const n = Math.min(samples.length, rate) // one second is plenty
  let best = { hz: 0, power: 0 }
  for (let hz = 100; hz <= 4000; hz += 2) {
    const coeff = 2 * Math.cos((2 * Math.PI * hz) / rate)
    let s1 = 0
    let s2 = 0
    for (let i = samples.length - n; i < samples.length; i++) {
      const s = (samples[i] ?? 0) / 32768 + coeff * s1 - s2
      s2 = s1
      s1 = s
    }
    const power = s1 * s1 + s2 * s2 - coeff * s1 * s2
    if (power > best.power) best = { hz, power }
  }
  let sum = 0
  for (let i = samples.length - n; i < samples.length; i++) sum += ((samples[i] ?? 0) / 32768) ** 2
  return { hz: best.hz, rmsDb: 10 * Math.log10(sum / Math.max(1, n) + 1e-12) }
}

// The page's objects these functions touch (the Node test code is type-checked without the DOM).
declare const window: {
  smoldesk?: {
    connection: { peerConnection?: { getReceivers(): { track: { kind: string } }[] } }
  }
  __toneAnalyser?: { peak(): { hz: number; db: number } }
}
declare class AudioContext {
  sampleRate: number
  createMediaStreamSource(stream: unknown): { connect(node: unknown): void }
  createAnalyser(): {
    fftSize: number
    smoothingTimeConstant: number
    frequencyBinCount: number
    getFloatFrequencyData(bins: Float32Array): void
  }
  resume(): Promise<void>
}
declare class MediaStream {
  constructor(tracks: unknown[])
}

/**
 * The loudest frequency of the received audio track, measured in the page by
 * an analyser of the test's own on the track (what arrived, before the page's
 * volume and mute): the strongest of a few looks over `ms`.
 */
export function receivedTone(page: Page, ms = 600): Promise<{ hz: number; db: number }> {
  return inPage(
    page,
    async (wait) => {
      if (!window.__toneAnalyser) {
        const receiver = window.smoldesk?.connection.peerConnection
          ?.getReceivers()
          .find((r) => r.track.kind === 'audio')
        if (!receiver) return { hz: 0, db: -999 }
        const context = new AudioContext()
        // A context the browser holds back would never resume: look anyway, and say so below.
        await Promise.race([context.resume(), new Promise((resolve) => setTimeout(resolve, 500))])
        const analyser = context.createAnalyser()
        analyser.fftSize = 8192
        analyser.smoothingTimeConstant = 0
        context.createMediaStreamSource(new MediaStream([receiver.track])).connect(analyser)
        window.__toneAnalyser = {
          peak() {
            const bins = new Float32Array(analyser.frequencyBinCount)
            analyser.getFloatFrequencyData(bins)
            let best = 1
            for (let i = 2; i < bins.length; i++)
              if ((bins[i] ?? -Infinity) > (bins[best] ?? -Infinity)) best = i
            // Silence is −Infinity, which JSON cannot carry out of the page.
            return {
              hz: (best * context.sampleRate) / analyser.fftSize,
              db: Math.max(-999, bins[best] ?? -999),
            }
          },
        }
      }
      const analyser = window.__toneAnalyser
      let loudest = { hz: 0, db: -999 }
      for (let t = 0; t < wait; t += 100) {
        await new Promise((resolve) => setTimeout(resolve, 100))
        const peak = analyser.peak()
        if (peak.db > loudest.db) loudest = peak
      }
      return loudest
    },
    ms,
  )
}

/** What the viewer machine's speakers play (its sound server's output), as a listener would hear it. */
export async function heardTone(speakers: string, ms = 600): Promise<{ hz: number; rmsDb: number }> {
  return dominantTone(await record(speakers, `${DESKTOP_SINK}.monitor`, ms))
}
