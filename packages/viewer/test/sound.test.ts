import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { ViewerSound } from '../src/sound.ts'

/*
 * The speaker's states when a browser holds sound back. Headless Chromium
 * (with --autoplay-policy=user-gesture-required or
 * document-user-activation-required) and Firefox ESR (media.autoplay.default
 * = 1) both played a WebRTC track's sound here without a click, so that
 * refusal cannot be provoked in a real browser on this machine: the element
 * is a stand-in that refuses play() the way browsers do (NotAllowedError)
 * until a click has happened. Everything else about sound is tested in real
 * browsers (packages/host/test/audio.test.ts).
 */

class StandInAudio {
  volume = 1
  muted = false
  autoplay = false
  srcObject: unknown = null
  clicked = false
  plays = 0
  play(): Promise<void> {
    this.plays++
    return this.clicked
      ? Promise.resolve()
      : Promise.reject(new DOMException('needs a gesture', 'NotAllowedError'))
  }
  pause(): void {}
}
// The page's MediaStream, reduced to what ViewerSound uses.
;(globalThis as { MediaStream?: unknown }).MediaStream = class {
  readonly tracks: unknown[]
  constructor(tracks: unknown[]) {
    this.tracks = tracks
  }
}
const stream = (track: unknown) => ({ getAudioTracks: () => [track] }) as unknown as MediaStream
const settle = () => new Promise((resolve) => setTimeout(resolve, 0))

describe('viewer sound', () => {
  it('says the browser holds sound back, and plays it once the user clicks', async () => {
    const element = new StandInAudio()
    let changes = 0
    const sound = new ViewerSound(
      { volume: 0.5, muted: false },
      () => changes++,
      element as unknown as HTMLAudioElement,
    )
    assert.equal(sound.state, 'none', 'no track yet')
    assert.equal(element.volume, 0.5, 'the remembered volume')
    sound.attach(stream({ kind: 'audio' }))
    await settle()
    assert.equal(sound.state, 'blocked')
    assert.ok(changes > 0, 'the page was told')
    element.clicked = true
    sound.unlock()
    await settle()
    assert.equal(sound.state, 'playing')
    assert.equal(element.plays, 2)
    sound.setMuted(true)
    assert.equal(sound.state, 'muted')
    assert.equal(element.muted, true)
    sound.setVolume(0.8)
    assert.equal(sound.state, 'playing', 'turning the volume up unmutes')
    assert.equal(element.volume, 0.8)
    sound.close()
  })
})
