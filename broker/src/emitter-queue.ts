// The queue of Aedes's message emitter in constant time.
//
// mqemitter hands a message to its subscribers at once while fewer than `concurrency` (Aedes:
// 100) are in flight, and queues the rest in an Array it takes from with shift(), which moves
// every other element: each message costs the length of the queue. Under a flood the queue
// holds tens of thousands of messages and shift() took a third of the broker's busy time
// (CPU profile of 1,000 point-to-point pairs at QoS 0), so the more was offered the less was
// delivered. A Denque (push and shift in constant time) takes the Array's place; mqemitter
// uses nothing else of it (push, shift, length). The Redis emitter inherits the same queue.
import Denque from 'denque'

interface QueuedEmitter {
  _messageQueue?: unknown
  _messageCallbacks?: unknown
}

/** Gives `mq` queues with constant-time shift; answers false for an emitter without them (left as it is). */
export function constantTimeEmitterQueue(mq: unknown): boolean {
  if (typeof mq !== 'object' || mq === null) return false
  const m = mq as QueuedEmitter
  if (!Array.isArray(m._messageQueue) || !Array.isArray(m._messageCallbacks)) return false
  m._messageQueue = new Denque(m._messageQueue as unknown[])
  m._messageCallbacks = new Denque(m._messageCallbacks as unknown[])
  return true
}
