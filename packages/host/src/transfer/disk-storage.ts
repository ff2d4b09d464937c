import { createHash } from 'node:crypto'
import { constants, type FileHandle, link, mkdir, open, statfs, unlink } from 'node:fs/promises'
import { basename, join } from 'node:path'
import { type Hasher, SmolDeskError, type TransferSink, type TransferSource } from '@smoldesk/protocol'
import { createLogger } from '../log.ts'
import { numberedName, sanitizeFileName } from './file-names.ts'

const log = createLogger('transfer.disk')

/** Collisions tried before giving up (a folder with a thousand "report (n).pdf" is someone's attack). */
const MAX_SUFFIX = 1000

/** Maps a file-system failure to a code a user understands. */
function fileError(err: unknown, what: string): SmolDeskError {
  const code = (err as NodeJS.ErrnoException).code
  if (code === 'ENOSPC' || code === 'EDQUOT')
    return new SmolDeskError('DISK_FULL', `${what}: the download folder's disk is full`)
  return new SmolDeskError('FILE_ERROR', `${what}: ${(err as Error).message}`)
}

export function sha256Hasher(): Hasher {
  const hash = createHash('sha256')
  return { update: (data) => hash.update(data), digest: () => hash.digest('hex') }
}

/**
 * Received files: a private temporary file in the download folder, renamed
 * into place (under a sanitised, non-colliding name) only after the SHA-256
 * matched. Failures and cancels delete it.
 */
export class DiskSink implements TransferSink {
  readonly #dir: string
  readonly #name: string
  readonly #temp: string
  #file: FileHandle | undefined

  private constructor(dir: string, name: string, temp: string, file: FileHandle) {
    this.#dir = dir
    this.#name = name
    this.#temp = temp
    this.#file = file
  }

  static async open(dir: string, id: string, suggested: string, size: number): Promise<DiskSink> {
    await mkdir(dir, { recursive: true, mode: 0o700 })
    const space = await statfs(dir)
    const free = space.bavail * space.bsize
    if (size > free) {
      throw new SmolDeskError('DISK_FULL', `${size} bytes do not fit: ${free} bytes free in ${dir}`)
    }
    // The id is [A-Za-z0-9_-] (checked by the schema): the temporary name cannot climb out either.
    const temp = join(dir, `.smoldesk-${id}.part`)
    try {
      const file = await open(temp, constants.O_CREAT | constants.O_EXCL | constants.O_WRONLY, 0o600)
      return new DiskSink(dir, sanitizeFileName(suggested), temp, file)
    } catch (err) {
      throw fileError(err, 'cannot create the temporary file')
    }
  }

  async write(data: Uint8Array): Promise<void> {
    if (!this.#file) throw new SmolDeskError('FILE_ERROR', 'the temporary file is closed')
    try {
      let done = 0
      while (done < data.length) {
        const { bytesWritten } = await this.#file.write(data, done, data.length - done)
        done += bytesWritten
      }
    } catch (err) {
      throw fileError(err, 'writing the file failed')
    }
  }

  /** Links the verified file under the first free name (link fails instead of overwriting), then drops the temp name. */
  async commit(): Promise<string> {
    await this.#close()
    for (let n = 0; n <= MAX_SUFFIX; n++) {
      const path = join(this.#dir, numberedName(this.#name, n))
      try {
        await link(this.#temp, path)
        await unlink(this.#temp)
        return path
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'EEXIST') continue
        await this.discard()
        throw fileError(err, 'cannot put the file in place')
      }
    }
    await this.discard()
    throw new SmolDeskError('FILE_ERROR', `too many files named like ${this.#name}`)
  }

  async discard(): Promise<void> {
    await this.#close()
    await unlink(this.#temp).catch((err: NodeJS.ErrnoException) => {
      if (err.code !== 'ENOENT')
        log.warn({ err: err.message, temp: this.#temp }, 'could not remove a partial file')
    })
  }

  async #close(): Promise<void> {
    const file = this.#file
    this.#file = undefined
    await file?.close().catch(() => {})
  }
}

/** A local file to send, read chunk by chunk (never whole). */
export class DiskSource implements TransferSource {
  readonly size: number
  readonly name: string
  readonly #file: FileHandle

  private constructor(file: FileHandle, size: number, name: string) {
    this.#file = file
    this.size = size
    this.name = name
  }

  static async open(path: string): Promise<DiskSource> {
    let file: FileHandle
    try {
      file = await open(path, constants.O_RDONLY | constants.O_NOFOLLOW)
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code
      if (code === 'ENOENT') throw new SmolDeskError('FILE_ERROR', `no file ${path}`)
      if (code === 'ELOOP')
        throw new SmolDeskError('FILE_ERROR', `${path} is a symbolic link; pass the file itself`)
      throw fileError(err, `cannot open ${path}`)
    }
    const stat = await file.stat()
    if (!stat.isFile()) {
      await file.close()
      throw new SmolDeskError('FILE_ERROR', `${path} is not a regular file`)
    }
    return new DiskSource(file, stat.size, basename(path))
  }

  async read(offset: number, length: number): Promise<Uint8Array> {
    const buffer = Buffer.allocUnsafe(length)
    return buffer.subarray(0, await this.readInto(buffer, offset))
  }

  async readInto(target: Uint8Array, offset: number): Promise<number> {
    let done = 0
    while (done < target.length) {
      const { bytesRead } = await this.#file.read(target, done, target.length - done, offset + done)
      if (bytesRead === 0) break
      done += bytesRead
    }
    return done
  }

  async close(): Promise<void> {
    await this.#file.close().catch(() => {})
  }
}
