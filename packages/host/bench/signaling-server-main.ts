/*
 * One signaling instance for `smoldesk bench signaling`, in its own process
 * so the load generator does not share its event loop. Every peer comes from
 * 127.0.0.1, so the per-IP limits (meant for the internet) are lifted; the
 * per-connection limit stays as deployed. Prints its port on stdout.
 */
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { SignalingServer } from '@smoldesk/signaling'
import { connectRedis } from '@smoldesk/signaling/redis'

const redisUrl = process.argv[2]
const shared = redisUrl ? await connectRedis(redisUrl) : undefined
const server = new SignalingServer({
  ...(shared && { store: shared.store, bus: shared.bus }),
  limits: { connectionsPerIp: 1e9, ipMessagesPerSecond: 1e9, ipMessageBurst: 1e9 },
  shedOnLoad: true,
})
const http = createServer((req, res) => {
  if (!server.handleHttp(req, res)) res.writeHead(404).end()
})
http.on('upgrade', (req, socket, head) => server.handleUpgrade(req, socket, head))
http.listen(0, '127.0.0.1', () => {
  process.stdout.write(`${(http.address() as AddressInfo).port}\n`)
})
process.on('SIGTERM', async () => {
  await server.close()
  process.exit(0)
})
