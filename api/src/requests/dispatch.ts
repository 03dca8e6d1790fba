// One entry point for requests, whether they come over MQTT (through the broker) or HTTP.
// A batch keeps its order: consecutive POST_MESSAGEs are checked concurrently and then
// handed to the sequencer in arrival order; any other action waits for what precedes it.
import { ChatError } from '../../../clients/sdk/src/errors.ts'
import type { Envelope, ErrorData } from '../../../clients/sdk/src/protocol.ts'
import { checkPostMessage, doPostMessage } from '../services/post-message.ts'
import { doRestoreHistory } from '../services/restore-history.ts'
import { doSync } from '../services/sync.ts'
import { doFetchDelta } from '../services/fetch-delta.ts'
import { doSearch } from '../services/search.ts'
import type { Caller, Core } from '../services/context.ts'
import { doMarkRead, doMarkReceived } from '../services/receipts.ts'
import { doListChatsPage } from '../services/list-chats.ts'
import { isPlainObject, requireId, type Data } from './fields.ts'
import type { AppendInput } from '../store/types.ts'
import { unexpectedError } from '../db/unavailable.ts'
import { doCreateChat, doLeaveChat } from '../services/chats.ts'
import { doSetChatTimer } from '../services/chats.ts'
import { doBroadcastMessage } from '../services/broadcast.ts'
import { doExportChat } from '../services/export.ts'
import { doClosePoll, doDeleteMessage, doEditMessage, doGetMessage, doListMessages, doListPins, doPin, doReaction, doRetractVote, doVote } from '../services/messages.ts'
import { doAcceptInvite, doJoinServer, doLeaveServer, inviteCode } from '../services/servers.ts'
import { doGetNotifications, doSetNotifications, doSetPreferredDevice } from '../services/notifications.ts'
import { doRegisterPush, doUnregisterPush } from '../services/push.ts'
import { doCompleteUpload, doDownloadFile, doUploadFile } from '../files/files.ts'

export interface RequestEnvelope {
  action: string
  data: Data
  request_id?: string
}

type Outcome = { ok: true; reply: Envelope } | { ok: false; error: unknown }

export interface DispatchLogger {
  error(obj: object, msg: string): void
}

/** Checks the envelope shape; throws INVALID_ENVELOPE. */
export function checkEnvelope(value: unknown): RequestEnvelope {
  if (!isPlainObject(value)) throw new ChatError('INVALID_ENVELOPE')
  const { action, data, request_id: requestId } = value
  if (requestId !== undefined && (typeof requestId !== 'string' || requestId.length === 0 || requestId.length > 128)) {
    throw new ChatError('INVALID_ENVELOPE', 'request_id must be a string of 1 to 128 characters')
  }
  if (typeof action !== 'string') throw new ChatError('INVALID_ENVELOPE', 'action must be a string', requestId === undefined ? undefined : { request_id: requestId })
  if (!isPlainObject(data)) throw new ChatError('INVALID_ENVELOPE', 'data must be an object', requestId === undefined ? undefined : { request_id: requestId })
  return requestId === undefined ? { action, data } : { action, data, request_id: requestId }
}

/** The request_id of a value, if it carries a well-formed one (for error replies). */
export function requestIdOf(value: unknown): string | undefined {
  if (!isPlainObject(value)) return undefined
  const id = value['request_id']
  return typeof id === 'string' && id.length > 0 && id.length <= 128 ? id : undefined
}

export function errorEnvelope(err: unknown, requestId: string | undefined, log?: DispatchLogger): Envelope<'ERROR', ErrorData> {
  // An unreachable database is UNAVAILABLE (retry), anything else unexpected INTERNAL.
  const e = err instanceof ChatError ? err : unexpectedError(err)
  if (!(err instanceof ChatError)) log?.error({ err }, 'request failed')
  const data: ErrorData = { code: e.code, message: e.message }
  if (requestId !== undefined) data.request_id = requestId
  if (e.details !== undefined) data.details = e.details
  return requestId === undefined ? { action: 'ERROR', data } : { action: 'ERROR', data, request_id: requestId }
}

function reply(action: string, data: object, requestId: string | undefined): Envelope {
  const env: Envelope = { action, data }
  if (requestId !== undefined) env.request_id = requestId
  return env
}

async function handleOne(core: Core, caller: Caller, env: RequestEnvelope): Promise<Envelope> {
  switch (env.action) {
    case 'SYNC':
      return reply('SYNC_RESPONSE', await doSync(core, caller, env.data), env.request_id)
    case 'FETCH_DELTA':
      return reply('FETCH_DELTA_RESPONSE', await doFetchDelta(core, caller, env.data), env.request_id)
    case 'RESTORE_HISTORY':
      return reply('RESTORE_HISTORY_RESPONSE', await doRestoreHistory(core, caller, env.data), env.request_id)
    case 'POST_MESSAGE': {
      const input = await checkPostMessage(core, caller, env.data)
      return reply('POST_MESSAGE_RESPONSE', await doPostMessage(core, input), env.request_id)
    }
    case 'CREATE_CHAT':
      return reply('CREATE_CHAT_RESPONSE', await doCreateChat(core, caller, env.data), env.request_id)
    case 'JOIN_SERVER':
      return reply('JOIN_SERVER_RESPONSE', await doJoinServer(core, caller, requireId(env.data, 'server_id')), env.request_id)
    case 'LEAVE_SERVER':
      return reply('LEAVE_SERVER_RESPONSE', await doLeaveServer(core, caller, requireId(env.data, 'server_id')), env.request_id)
    case 'ACCEPT_INVITE':
      return reply('ACCEPT_INVITE_RESPONSE', await doAcceptInvite(core, caller, inviteCode(env.data['code'])), env.request_id)
    case 'LEAVE_CHAT':
      return reply('LEAVE_CHAT_RESPONSE', await doLeaveChat(core, caller, requireId(env.data, 'chat_id')), env.request_id)
    case 'EDIT_MESSAGE':
      return reply('EDIT_MESSAGE_RESPONSE', await doEditMessage(core, caller, env.data), env.request_id)
    case 'DELETE_MESSAGE':
      return reply('DELETE_MESSAGE_RESPONSE', await doDeleteMessage(core, caller, env.data), env.request_id)
    case 'ADD_REACTION':
    case 'REMOVE_REACTION':
      return reply(`${env.action}_RESPONSE`, await doReaction(core, caller, env.data, env.action === 'ADD_REACTION'), env.request_id)
    case 'PIN_MESSAGE':
    case 'UNPIN_MESSAGE':
      return reply(`${env.action}_RESPONSE`, await doPin(core, caller, env.data, env.action === 'PIN_MESSAGE'), env.request_id)
    case 'VOTE_POLL':
      return reply('VOTE_POLL_RESPONSE', await doVote(core, caller, env.data), env.request_id)
    case 'RETRACT_VOTE':
      return reply('RETRACT_VOTE_RESPONSE', await doRetractVote(core, caller, env.data), env.request_id)
    case 'CLOSE_POLL':
      return reply('CLOSE_POLL_RESPONSE', await doClosePoll(core, caller, env.data), env.request_id)
    case 'GET_MESSAGE':
      return reply('GET_MESSAGE_RESPONSE', await doGetMessage(core, caller, env.data), env.request_id)
    case 'LIST_MESSAGES':
      return reply('LIST_MESSAGES_RESPONSE', await doListMessages(core, caller, env.data), env.request_id)
    case 'LIST_PINS':
      return reply('LIST_PINS_RESPONSE', await doListPins(core, caller, env.data), env.request_id)
    case 'MARK_RECEIVED':
      return reply('MARK_RECEIVED_RESPONSE', await doMarkReceived(core, caller, env.data), env.request_id)
    case 'MARK_READ':
      return reply('MARK_READ_RESPONSE', await doMarkRead(core, caller, env.data), env.request_id)
    case 'LIST_CHATS':
      return reply('LIST_CHATS_RESPONSE', await doListChatsPage(core, caller, env.data), env.request_id)
    case 'SEARCH':
      return reply('SEARCH_RESPONSE', await doSearch(core, caller, env.data), env.request_id)
    case 'SET_CHAT_TIMER':
      return reply('SET_CHAT_TIMER_RESPONSE', await doSetChatTimer(core, caller, requireId(env.data, 'chat_id'), env.data), env.request_id)
    case 'BROADCAST_MESSAGE':
      return reply('BROADCAST_MESSAGE_RESPONSE', await doBroadcastMessage(core, caller, env.data), env.request_id)
    case 'EXPORT_CHAT':
      return reply('EXPORT_CHAT_RESPONSE', await doExportChat(core, caller, env.data), env.request_id)
    case 'SET_NOTIFICATIONS':
      return reply('SET_NOTIFICATIONS_RESPONSE', await doSetNotifications(core, caller, env.data), env.request_id)
    case 'GET_NOTIFICATIONS':
      return reply('GET_NOTIFICATIONS_RESPONSE', await doGetNotifications(core, caller, env.data), env.request_id)
    case 'SET_PREFERRED_DEVICE':
      return reply('SET_PREFERRED_DEVICE_RESPONSE', await doSetPreferredDevice(core, caller, env.data), env.request_id)
    case 'REGISTER_PUSH':
      return reply('REGISTER_PUSH_RESPONSE', await doRegisterPush(core, caller, env.data), env.request_id)
    case 'UNREGISTER_PUSH':
      return reply('UNREGISTER_PUSH_RESPONSE', await doUnregisterPush(core, caller, env.data), env.request_id)
    case 'UPLOAD_FILE':
      return reply('UPLOAD_FILE_RESPONSE', await doUploadFile(core, caller, env.data), env.request_id)
    case 'COMPLETE_UPLOAD':
      return reply('COMPLETE_UPLOAD_RESPONSE', await doCompleteUpload(core, caller, env.data), env.request_id)
    case 'DOWNLOAD_FILE':
      return reply('DOWNLOAD_FILE_RESPONSE', await doDownloadFile(core, caller, env.data), env.request_id)
    default:
      throw new ChatError('UNKNOWN_ACTION', `unknown action ${JSON.stringify(env.action).slice(0, 80)}`)
  }
}

/** Posts of one batch checked at once. */
const CHECK_SLICE = 200

const settle = <T>(p: Promise<T>): Promise<{ ok: true; value: T } | { ok: false; error: unknown }> =>
  p.then((value) => ({ ok: true as const, value }), (error: unknown) => ({ ok: false as const, error }))

/** Answers each request with its reply or an ERROR envelope, in order. Never throws. */
export async function dispatchRequests(core: Core, caller: Caller, requests: readonly unknown[], log?: DispatchLogger): Promise<Envelope[]> {
  const outcomes: Outcome[] = new Array(requests.length)
  const envelopes = requests.map((value) => {
    try {
      return checkEnvelope(value)
    } catch (error) {
      return error as ChatError
    }
  })
  const isPost = (k: number): boolean => {
    const e = envelopes[k]
    return !(e instanceof ChatError) && e !== undefined && e.action === 'POST_MESSAGE'
  }
  let i = 0
  while (i < requests.length) {
    const env = envelopes[i]!
    if (env instanceof ChatError) {
      outcomes[i] = { ok: false, error: env }
      i++
      continue
    }
    if (!isPost(i)) {
      const r = await settle(handleOne(core, caller, env))
      outcomes[i] = r.ok ? { ok: true, reply: r.value } : { ok: false, error: r.error }
      i++
      continue
    }
    let j = i
    while (j < requests.length && isPost(j)) j++
    const run = envelopes.slice(i, j) as RequestEnvelope[]
    // Checked concurrently, a slice at a time: Prisma merges concurrent lookups into one
    // query, which must stay under SQLite's limit of bound parameters.
    const checked: Awaited<ReturnType<typeof settle<AppendInput>>>[] = []
    for (let k = 0; k < run.length; k += CHECK_SLICE) {
      checked.push(...(await Promise.all(run.slice(k, k + CHECK_SLICE).map((e) => settle(checkPostMessage(core, caller, e.data))))))
    }
    // doPostMessage hands its input to the sequencer synchronously, so this map keeps order.
    const committed = await Promise.all(checked.map((c) => (c.ok ? settle(doPostMessage(core, c.value)) : Promise.resolve(c))))
    committed.forEach((c, k) => {
      const e = run[k]!
      outcomes[i + k] = c.ok ? { ok: true, reply: reply('POST_MESSAGE_RESPONSE', c.value, e.request_id) } : { ok: false, error: c.error }
    })
    i = j
  }
  return outcomes.map((o, k) => (o.ok ? o.reply : errorEnvelope(o.error, requestIdOf(requests[k]), log)))
}
