// A raw Aedes (aedes's own in-memory persistence, no hooks, nothing of Chime) on a free
// loopback port, in a process of its own: the reference peer of `npm run bench -- mqtt
// --peer aedes`, which tells how much of Chime's figures is Aedes and how much its hooks.
import { createServer } from 'node:net'
import { Aedes } from 'aedes'

const aedes = await Aedes.createBroker()
const server = createServer((socket) => aedes.handle(socket))
server.listen(0, '127.0.0.1', () => {
  const address = server.address()
  process.send?.({ port: typeof address === 'object' && address !== null ? address.port : 0 })
})
process.on('disconnect', () => {
  server.close()
  aedes.close(() => process.exit(0))
})
