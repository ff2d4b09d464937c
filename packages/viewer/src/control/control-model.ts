import {
  type CommandResult,
  type EventName,
  type HostStatus,
  IpcClient,
  type ScreenCaptureConfig,
  SmolDeskError,
} from '@smoldesk/protocol'

/** Everything the control page shows; refreshed from the host's IPC. */
export interface ControlState {
  connection: 'connecting' | 'connected' | 'failed'
  error?: string
  status?: HostStatus
  monitors: CommandResult<'get_monitors'>
  codecs: CommandResult<'get_video_codecs'>
  accelerations: CommandResult<'get_hardware_acceleration_options'>
  viewers: CommandResult<'list_viewers'>
  transfers: CommandResult<'list_transfers'>
  logs: CommandResult<'get_recent_logs'>
  /** data: URLs of each monitor's latest thumbnail, by index. */
  thumbnails: Record<number, string>
  shareLink?: { url: string; role: string; expires_at: number }
}

/** Events after which something on the page is out of date. */
const REFRESH_ON: EventName[] = [
  'capture-started',
  'capture-stopped',
  'viewer-connected',
  'viewer-disconnected',
  'viewer-join-request',
  'transfer-offered',
  'transfer-started',
  'transfer-completed',
  'transfer-error',
  'audio-changed',
  'microphone-changed',
  'error',
]
const THUMBNAIL_EVERY_MS = 3000
const REFRESH_EVERY_MS = 5000

/**
 * The control page's logic, framework-free: one IPC connection with the
 * per-launch token (from the URL's fragment), a state refreshed on every
 * host event (and every few seconds), and one method per action. Errors
 * come back as the host's coded SmolDeskError.
 */
export class HostControl {
  #client: IpcClient | undefined
  #state: ControlState = {
    connection: 'connecting',
    monitors: [],
    codecs: [],
    accelerations: [],
    viewers: [],
    transfers: [],
    logs: [],
    thumbnails: {},
  }
  readonly #onChange: (state: ControlState) => void
  #timers: ReturnType<typeof setInterval>[] = []
  #refreshing: Promise<void> | undefined
  #again = false

  constructor(onChange: (state: ControlState) => void) {
    this.#onChange = onChange
  }

  get state(): ControlState {
    return this.#state
  }

  async connect(url: string, token: string): Promise<void> {
    try {
      const client = await IpcClient.connect({ url, token })
      this.#client = client
      for (const event of REFRESH_ON) await client.listen(event, () => this.refresh())
      // Progress comes up to 4 times a second per transfer: only the transfer list changes.
      await client.listen('transfer-progress', () => this.#refreshTransfers())
      this.#set({ connection: 'connected' })
      const [codecs, accelerations] = await Promise.all([
        client.invoke<CommandResult<'get_video_codecs'>>('get_video_codecs'),
        client.invoke<CommandResult<'get_hardware_acceleration_options'>>(
          'get_hardware_acceleration_options',
        ),
      ])
      this.#set({ codecs, accelerations })
      await this.refresh()
      await this.newShareLink('viewer')
      void this.#refreshThumbnails()
      this.#timers.push(setInterval(() => void this.refresh(), REFRESH_EVERY_MS))
      this.#timers.push(setInterval(() => void this.#refreshThumbnails(), THUMBNAIL_EVERY_MS))
    } catch (err) {
      const error = SmolDeskError.from(err)
      this.#set({
        connection: 'failed',
        error:
          error.code === 'CONNECTION_FAILED'
            ? 'The host refused this page: open the control link that ./smoldesk start printed (it carries this launch’s token), and check the host is running.'
            : `${error.code}: ${error.message}`,
      })
    }
  }

  close(): void {
    for (const timer of this.#timers) clearInterval(timer)
    this.#client?.close()
  }

  /** Reads everything again; calls arriving meanwhile are folded into one more pass. */
  refresh(): Promise<void> {
    if (this.#refreshing) {
      this.#again = true
      return this.#refreshing
    }
    this.#refreshing = this.#refreshOnce().finally(() => {
      this.#refreshing = undefined
      if (this.#again) {
        this.#again = false
        void this.refresh()
      }
    })
    return this.#refreshing
  }

  async #refreshOnce(): Promise<void> {
    const client = this.#client
    if (!client || client.closed) return
    try {
      const [status, monitors, viewers, transfers, logs] = await Promise.all([
        client.invoke<HostStatus>('get_host_status'),
        client.invoke<CommandResult<'get_monitors'>>('get_monitors').catch(() => []),
        client.invoke<CommandResult<'list_viewers'>>('list_viewers').catch(() => []),
        client.invoke<CommandResult<'list_transfers'>>('list_transfers'),
        client.invoke<CommandResult<'get_recent_logs'>>('get_recent_logs', { limit: 50 }),
      ])
      this.#set({ status, monitors, viewers, transfers, logs })
    } catch (err) {
      if (client.closed)
        this.#set({ connection: 'failed', error: 'The host stopped (its IPC connection closed).' })
      else throw err
    }
  }

  #transfersPending = false

  /** Just the transfer list. Progress arriving while a call is under way is skipped: the next event,
   * or the full refresh that completion, failure and the 5 s timer bring, catches up. */
  async #refreshTransfers(): Promise<void> {
    const client = this.#client
    if (!client || client.closed || this.#transfersPending) return
    this.#transfersPending = true
    try {
      this.#set({ transfers: await client.invoke<CommandResult<'list_transfers'>>('list_transfers') })
    } catch {
      // the next event or the periodic refresh tries again
    } finally {
      this.#transfersPending = false
    }
  }

  async #refreshThumbnails(): Promise<void> {
    const client = this.#client
    if (!client || client.closed) return
    const thumbnails: Record<number, string> = {}
    for (const monitor of this.#state.monitors) {
      const shot = await client
        .invoke<CommandResult<'get_monitor_thumbnail'>>('get_monitor_thumbnail', {
          monitorIndex: monitor.index,
          width: 240,
        })
        .catch(() => undefined)
      if (shot) thumbnails[monitor.index] = `data:${shot.mime};base64,${shot.data}`
    }
    this.#set({ thumbnails })
  }

  // actions: each refreshes what it changed

  async share(monitorIndex: number, config: ScreenCaptureConfig): Promise<void> {
    await this.#invoke('start_capture', { monitorIndex, config })
  }

  async stopSharing(): Promise<void> {
    await this.#invoke('stop_capture')
  }

  async setInput(enabled: boolean): Promise<void> {
    await this.#invoke('set_input_enabled', { enabled })
  }

  async approve(peerId: string, role: 'viewer' | 'view-only'): Promise<void> {
    await this.#invoke('approve_viewer', { peerId, role })
  }

  async deny(peerId: string): Promise<void> {
    await this.#invoke('deny_viewer', { peerId })
  }

  async kick(peerId: string): Promise<void> {
    await this.#invoke('kick_viewer', { peerId })
  }

  /** The desktop's sound for viewers, on or off. */
  async setAudio(enabled: boolean): Promise<void> {
    await this.#invoke('set_audio_enabled', { enabled })
  }

  /** Whether this viewer may talk into the desktop's "SmolDesk microphone". */
  async setMicrophone(viewerId: string, allowed: boolean): Promise<void> {
    await this.#invoke('set_viewer_microphone', { viewerId, allowed })
  }

  async setRole(peerId: string, role: 'viewer' | 'view-only'): Promise<void> {
    await this.#invoke('set_viewer_role', { peerId, role })
  }

  async setAccess(change: {
    password?: string
    approval?: boolean
    allow?: string[]
    linkAlone?: boolean
  }): Promise<void> {
    await this.#invoke('set_room_access', change)
  }

  /** Whether viewers may give the shared (virtual) monitor their window's size. */
  async setViewerResize(allowed: boolean): Promise<void> {
    await this.#invoke('set_viewer_resize', { allowed })
  }

  async setSecurityKey(secretKey: string): Promise<void> {
    await this.#invoke('initialize_security', { secretKey })
    // Links signed with the old key no longer work: make a new one.
    await this.newShareLink('viewer')
  }

  async transfer(
    action: 'accept' | 'reject' | 'pause' | 'resume' | 'cancel',
    transferId: string,
  ): Promise<void> {
    await this.#invoke(`${action}_transfer`, { transferId })
  }

  async newShareLink(role: 'viewer' | 'view-only', ttlSeconds = 3600): Promise<void> {
    const client = this.#requireClient()
    const issued = await client.invoke<CommandResult<'create_viewer_token'>>('create_viewer_token', {
      role,
      ttlSeconds,
    })
    if (issued.url)
      this.#set({ shareLink: { url: issued.url, role: issued.role, expires_at: issued.expires_at } })
  }

  async #invoke(command: string, args: Record<string, unknown> = {}): Promise<void> {
    await this.#requireClient().invoke(command, args)
    await this.refresh()
  }

  #requireClient(): IpcClient {
    if (!this.#client || this.#client.closed)
      throw new SmolDeskError('CONNECTION_FAILED', 'not connected to the host')
    return this.#client
  }

  #set(change: Partial<ControlState>): void {
    this.#state = { ...this.#state, ...change }
    this.#onChange(this.#state)
  }
}
