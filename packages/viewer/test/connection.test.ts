import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { passwordMaySend } from '../src/session/browser-support.ts'
import { describeDiagnosis, diagnoseIce } from '../src/session/ice-diagnosis.ts'
import { MediaRecovery } from '../src/session/media-recovery.ts'

describe('viewer safety and diagnosis', () => {
  it('sends a room password over plain HTTP only to this machine, unless told to', () => {
    assert.equal(passwordMaySend('wss://desk.example.com/signal', false), true)
    assert.equal(passwordMaySend('ws://127.0.0.1:7470/signal', false), true)
    assert.equal(passwordMaySend('ws://localhost:7470/signal', false), true)
    assert.equal(passwordMaySend('ws://[::1]:7470/signal', false), true)
    assert.equal(passwordMaySend('ws://192.168.1.20:7470/signal', false), false)
    assert.equal(passwordMaySend('ws://desk.example.com/signal', false), false)
    assert.equal(passwordMaySend('ws://desk.example.com/signal', true), true)
  })

  it('explains an ICE failure from the candidates gathered and the pair tried', () => {
    const local = (id: string, candidateType: string) => ({ type: 'local-candidate', id, candidateType })
    const remote = (id: string, candidateType: string) => ({ type: 'remote-candidate', id, candidateType })
    const noRelay = diagnoseIce(
      [
        local('l1', 'host'),
        local('l2', 'srflx'),
        remote('r1', 'host'),
        { type: 'candidate-pair', id: 'p', localCandidateId: 'l1', remoteCandidateId: 'r1', state: 'failed' },
      ],
      true,
      false,
    )
    assert.deepEqual(noRelay.local, ['host', 'srflx'])
    assert.equal(noRelay.pair, 'host → host (failed)')
    assert.match(noRelay.explanation, /TURN server is unreachable or refused the credentials/)
    assert.match(
      describeDiagnosis(noRelay),
      /Gathered here: host, srflx; from the host: host; last pair tried: host → host/,
    )
    assert.match(diagnoseIce([], false, true).explanation, /No relay candidate/)
    assert.match(diagnoseIce([local('l', 'host')], false, false).explanation, /no TURN server is configured/)
    assert.match(diagnoseIce([local('l', 'relay')], true, false).explanation, /host sent no candidates/)
    assert.match(
      diagnoseIce([local('l', 'relay'), remote('r', 'host')], true, false).explanation,
      /firewall blocks UDP/,
    )
  })
})

describe('media recovery', () => {
  it('leaves a connection that came back by itself while signaling was probed', async () => {
    let state: RTCPeerConnectionState = 'disconnected'
    let networkReturns = true
    const restarts: number[] = []
    const recovery = new MediaRecovery({
      mediaState: () => state,
      // The network returns during the probe: ICE finds its way back before signaling answers.
      probeSignaling: async () => {
        await new Promise((resolve) => setTimeout(resolve, 300))
        if (networkReturns) state = 'connected'
        return true
      },
      abandonSignaling: () => assert.fail('signaling answered'),
      // As the session's restartMedia does: the next attempt waits for this one.
      restartMedia: () => {
        recovery.countAttempt()
        restarts.push(performance.now())
      },
      attempting: () => {},
    })
    recovery.connected()
    recovery.start()
    try {
      await new Promise((resolve) => setTimeout(resolve, 2500))
      assert.deepEqual(restarts, [], 'a working picture is not torn down')
      // Lost again, and not coming back by itself this time: it is made anew.
      networkReturns = false
      state = 'failed'
      await new Promise((resolve) => setTimeout(resolve, 1500))
      assert.equal(restarts.length, 1, 'a connection that stays failed is replaced')
    } finally {
      recovery.close()
    }
  })
})
