// Typing indicators (docs/protocol.md, "Typing and notifications"). A member publishes
// {"action":"TYPING","data":{"state":"typing"|"stopped"}} on a channel's or chat's typing
// topic; the broker checks it, throttles it per connection and topic, and fans out its own
// rewrite, which names the real publisher, at QoS 0 and never retained. Under load typing is
// the first thing dropped: a subscriber whose socket is backed up gets none.
import type { Aedes, Client, PublishPacket } from 'aedes'
import { ChatError } from '../../clients/sdk/src/errors.ts'
import { isTypingTopic } from '../../clients/sdk/src/topics.ts'

export const TYPING_STATES = ['typing', 'stopped'] as const
export type TypingState = (typeof TYPING_STATES)[number]

/** How long subscribers show a "typing" without a newer event. */
export const TYPING_EXPIRES_MS = 6000
/** At most one "typing" per connection and topic in this window. */
export const TYPING_THROTTLE_MS = 2000
const MAX_TYPING_BYTES = 1024
/** Topics remembered per connection for the throttle; the oldest is forgotten beyond it. */
const MAX_TOPICS_PER_CONNECTION = 256
/** Bytes waiting in a subscriber's socket beyond which typing events to it are skipped. */
export const TYPING_BACKLOG_BYTES = 64 * 1024

/** Counters for operators and tests: what the typing path dropped, and why. */
export const typingStats = {
  /** Rewritten events handed to the fan-out. */
  published: 0,
  /** Dropped by the per-connection throttle. */
  throttled: 0,
  /** Refused for a malformed payload (answered with a coded ERROR). */
  invalid: 0,
  /** Not delivered to a subscriber whose socket was backed up. */
  skippedSlowSubscriber: 0,
}

/** The state of a valid typing payload, or the coded error for a malformed one. */
export function parseTyping(payload: Buffer | string): TypingState | ChatError {
  const text = payload.toString()
  if (Buffer.byteLength(text) > MAX_TYPING_BYTES) return new ChatError('PAYLOAD_TOO_LARGE', `a typing event is at most ${MAX_TYPING_BYTES} bytes`)
  let env: unknown
  try {
    env = JSON.parse(text)
  } catch {
    return new ChatError('BAD_JSON', 'typing must be {"action":"TYPING","data":{"state":"typing|stopped"}}')
  }
  const e = env as { action?: unknown; data?: { state?: unknown } }
  if (typeof env !== 'object' || env === null || Array.isArray(env) || e.action !== 'TYPING' || typeof e.data !== 'object' || e.data === null) {
    return new ChatError('INVALID_ENVELOPE', 'typing must be {"action":"TYPING","data":{"state":...}}')
  }
  const state = e.data.state
  if (state !== 'typing' && state !== 'stopped') return new ChatError('INVALID_FIELD', 'state must be typing or stopped', { field: 'state' })
  return state
}

/** What subscribers receive: the broker's own words, with the publisher's real user id. */
export function typingPayload(userId: string, state: TypingState): Buffer {
  return Buffer.from(JSON.stringify({ action: 'TYPING', data: { user_id: userId, state, expires_in_ms: TYPING_EXPIRES_MS } }))
}

interface Slot {
  /** When the last "typing" passed. */
  typingAt: number
  /** The state that passed last. */
  last: TypingState
}

/**
 * The per-connection throttle: at most one "typing" per topic every TYPING_THROTTLE_MS;
 * a "stopped" passes whenever the last state that passed there was "typing" (a repeated
 * "stopped" says nothing new and is dropped). Decisions are taken in packet order, before
 * the asynchronous access check; a refused publish gives its slot back.
 */
export class TypingThrottle {
  private readonly byClient = new WeakMap<Client, Map<string, Slot>>()

  constructor(private readonly now: () => number = Date.now) {}

  /** Takes the slot; returns a function that gives it back, or null when the event is dropped. */
  take(client: Client, topic: string, state: TypingState): (() => void) | null {
    let slots = this.byClient.get(client)
    if (slots === undefined) {
      slots = new Map()
      this.byClient.set(client, slots)
    }
    const before = slots.get(topic)
    const at = this.now()
    if (state === 'typing') {
      if (before !== undefined && at - before.typingAt < TYPING_THROTTLE_MS) return null
    } else if (before === undefined || before.last !== 'typing') return null
    const next: Slot = { typingAt: state === 'typing' ? at : before!.typingAt, last: state }
    slots.delete(topic)
    slots.set(topic, next)
    if (slots.size > MAX_TOPICS_PER_CONNECTION) slots.delete(slots.keys().next().value!)
    const owner = slots
    return () => {
      if (owner.get(topic) !== next) return
      if (before === undefined) owner.delete(topic)
      else owner.set(topic, before)
    }
  }
}

interface WritableConn {
  writableLength?: number
  writableNeedDrain?: boolean
}

/**
 * Whether a typing event to this subscriber should be skipped because its connection is
 * backed up: the socket asks for a drain (aedes is then waiting on it, see aedes
 * lib/write.js) or holds more than TYPING_BACKLOG_BYTES unsent. Synchronous and O(1).
 */
export function skipTypingTo(client: Client, topic: string): boolean {
  if (!isTypingTopic(topic)) return false
  const conn = (client as unknown as { conn?: WritableConn }).conn
  if (conn === undefined) return false
  if (conn.writableNeedDrain === true || (conn.writableLength ?? 0) > TYPING_BACKLOG_BYTES) {
    typingStats.skippedSlowSubscriber += 1
    return true
  }
  return false
}

const throttle = new TypingThrottle()

export interface TypingOutcome {
  /** Refuse the publish with a coded ERROR on the publisher's inbox. */
  refuse(err: ChatError): void
  /** Drop the publish without a word (throttled, or consumed and republished). */
  swallow(): void
}

/**
 * A PUBLISH on a typing topic: validated, throttled, access-checked, then replaced by the
 * broker's rewrite at QoS 0 without retain. The client's own packet never enters the fan-out
 * (it is swallowed after aedes has acknowledged it at the QoS it was sent with).
 */
export function authorizeTyping(client: Client, userId: string, packet: PublishPacket, mayPublish: () => Promise<boolean>, out: TypingOutcome, onError: (err: unknown) => void): void {
  const state = parseTyping(packet.payload as Buffer | string)
  if (state instanceof ChatError) {
    typingStats.invalid += 1
    return out.refuse(state)
  }
  const release = throttle.take(client, packet.topic, state)
  if (release === null) {
    typingStats.throttled += 1
    return out.swallow()
  }
  mayPublish().then(
    (ok) => {
      if (!ok) {
        release()
        return out.refuse(new ChatError('FORBIDDEN_TOPIC', `you may not publish on ${packet.topic.slice(0, 200)}`))
      }
      const broker = (client as unknown as { broker: Aedes }).broker
      typingStats.published += 1
      broker.publish({ cmd: 'publish', topic: packet.topic, payload: typingPayload(userId, state), qos: 0, retain: false, dup: false }, (err?: Error) => {
        if (err) onError(err)
      })
      out.swallow()
    },
    (err: unknown) => {
      release()
      onError(err)
      out.refuse(new ChatError('INTERNAL'))
    },
  )
}
