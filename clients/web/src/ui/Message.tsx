// One message of the chat view. Everything a user wrote is rendered as text (Preact escapes
// it); links are anchors only for http(s) URLs, and mentions show the user's name.
import type { ComponentChild } from 'preact'
import { memo } from 'preact/compat'
import { useEffect, useState } from 'preact/hooks'
import type { AttachmentJson, OutboxItem } from '../../../sdk/src/index.ts'
import type { AppModel } from '../lib/model.ts'
import type { Msg } from '../lib/timeline.ts'
import { formatSize, formatTime, initials } from '../lib/format.ts'
import { Icon } from './icons.tsx'
import { PresenceDot } from './Presence.tsx'

export const QUICK_REACTIONS = ['👍', '❤️', '😂', '🎉', '😮', '😢']

const TOKENS = /(<@[A-Za-z0-9_-]{1,64}>|<@&(?:owner|admin|moderator|member)>|<@everyone>|https?:\/\/[^\s<>"']+)/g

/** Text with its mentions and links; never HTML. */
export function RichText({ model, text }: { model: AppModel; text: string }) {
  const parts: ComponentChild[] = []
  let last = 0
  for (const m of text.matchAll(TOKENS)) {
    const token = m[0]
    if (m.index > last) parts.push(text.slice(last, m.index))
    if (token.startsWith('http')) {
      // Trailing punctuation belongs to the sentence, not the link.
      const url = token.replace(/[).,;:!?]+$/, '')
      parts.push(<a href={url} target="_blank" rel="noopener noreferrer nofollow">{url}</a>, token.slice(url.length))
    } else if (token === '<@everyone>') parts.push(<span class="mention">@everyone</span>)
    else if (token.startsWith('<@&')) parts.push(<span class="mention">@{token.slice(3, -1)}</span>)
    else {
      const id = token.slice(2, -1)
      parts.push(<span class={`mention ${id === model.me.user_id ? 'me' : ''}`}>@{model.nameOf(id)}</span>)
    }
    last = m.index + token.length
  }
  if (last < text.length) parts.push(text.slice(last))
  return <>{parts}</>
}

function fitThumb(a: AttachmentJson): { width: number; height: number } {
  const w = a.width ?? 320
  const h = a.height ?? 240
  const scale = Math.min(1, 320 / w, 240 / h)
  return { width: Math.max(1, Math.round(w * scale)), height: Math.max(1, Math.round(h * scale)) }
}

function Attachment({ model, a }: { model: AppModel; a: AttachmentJson }) {
  const [thumb, setThumb] = useState<string | null>(null)
  const picture = a.thumbnail === true && a.mime_type.startsWith('image/')
  useEffect(() => {
    if (!picture) return
    let live = true
    model.fileLink(a.file_id, true).then((url) => live && setThumb(url), () => undefined)
    return () => { live = false }
  }, [a.file_id])
  const openFile = async (): Promise<void> => {
    try {
      const url = await model.fileLink(a.file_id)
      const link = document.createElement('a')
      link.href = url
      link.target = '_blank'
      link.rel = 'noopener noreferrer'
      if (!picture) link.download = a.name
      link.click()
    } catch (err) {
      model.notify(`Could not open ${a.name}: ${String(err)}`, 'error')
    }
  }
  if (picture) {
    const size = fitThumb(a)
    return (
      <button type="button" class="picture" onClick={openFile} title={`Open ${a.name}`} style={{ width: `${size.width}px`, aspectRatio: `${size.width} / ${size.height}` }}>
        {thumb !== null ? <img src={thumb} alt={a.name} width={size.width} height={size.height} /> : <span class="sr-only">{a.name}</span>}
      </button>
    )
  }
  return (
    <button type="button" class="file" onClick={openFile}>
      <Icon name="attach" size={16} /> <span class="file-name">{a.name}</span> <span class="file-size">{formatSize(a.size)}</span>
    </button>
  )
}

export interface MessageActions {
  reply(m: Msg): void
  edit(m: Msg): void
  remove(m: Msg): void
  react(m: Msg, emoji: string, on: boolean): void
  jump(messageId: string): void
}

export const MessageView = memo(function MessageView({ model, m, actions, canModerate, highlighted, continued }: {
  model: AppModel
  m: Msg
  actions: MessageActions
  canModerate: boolean
  highlighted: boolean
  /** Follows a message of the same author within minutes: shown without name and picture. */
  continued: boolean
  /** The known profiles: a new object when one arrives, so names fill in. */
  users: object
}) {
  const [picking, setPicking] = useState(false)
  const mine = m.user_id === model.me.user_id
  const name = model.nameOf(m.user_id)
  return (
    <article class={`msg ${mine ? 'mine' : ''} ${highlighted ? 'highlight' : ''} ${continued ? 'continued' : ''}`} data-message={m.message_id} data-seq={m.seq} aria-label={`${name}, ${formatTime(m.timestamp)}`}>
      {continued ? <time class="side-time" dateTime={m.timestamp} aria-hidden="true">{formatTime(m.timestamp)}</time> : <span class="avatar" aria-hidden="true">{initials(name)}</span>}
      <div class="msg-body">
        <header class={`msg-head ${continued ? 'sr-only' : ''}`}>
          <strong class="author">{name}</strong>{!mine && <PresenceDot model={model} userId={m.user_id} inline />} <time dateTime={m.timestamp}>{formatTime(m.timestamp)}</time>
          {m.edited && !m.deleted && <span class="edited"> (edited)</span>}
          {m.pinned && <span class="pinned"> · pinned</span>}
        </header>
        {m.reply_to !== undefined && (
          <button type="button" class="quote" onClick={() => actions.jump(m.reply_to!.message_id)} disabled={m.reply_to.original === 'deleted'}
            aria-label={`Reply to ${model.nameOf(m.reply_to.user_id)}: ${m.reply_to.content ?? 'original message deleted'}`}>
            <span aria-hidden="true">↪ </span><strong>{model.nameOf(m.reply_to.user_id)}</strong>{' '}
            <span class="quote-text">{m.reply_to.original === 'deleted' || m.reply_to.content === null ? 'Original message deleted' : m.reply_to.content}</span>
          </button>
        )}
        {m.deleted ? <p class="text deleted">This message was deleted.</p> : m.content !== null && m.content !== '' && <p class="text"><RichText model={model} text={m.content} /></p>}
        {m.attachments.length > 0 && <div class="attachments">{m.attachments.map((a) => <Attachment key={a.file_id} model={model} a={a} />)}</div>}
        {m.reactions.length > 0 && (
          <div class="reactions" role="group" aria-label="Reactions">
            {m.reactions.map((r) => (
              <button key={r.emoji} type="button" class={`chip ${r.me ? 'me' : ''}`} aria-pressed={r.me} aria-label={`${r.emoji} ${r.count}${r.me ? ', yours' : ''}`}
                onClick={() => actions.react(m, r.emoji, !r.me)}>{r.emoji} {r.count}</button>
            ))}
          </div>
        )}
      </div>
      {!m.deleted && (
        <div class="msg-actions" role="toolbar" aria-label="Message actions">
          <button type="button" class="icon" aria-label="Add a reaction" aria-expanded={picking} onClick={() => setPicking(!picking)}><Icon name="smile" size={18} /></button>
          <button type="button" class="icon" aria-label="Reply" onClick={() => actions.reply(m)}><Icon name="reply" size={18} /></button>
          {mine && (m.kind === 'text' || m.kind === 'file') && <button type="button" class="icon" aria-label="Edit" onClick={() => actions.edit(m)}><Icon name="edit" size={18} /></button>}
          {(mine || canModerate) && <button type="button" class="icon danger" aria-label="Delete" onClick={() => actions.remove(m)}><Icon name="trash" size={18} /></button>}
          {picking && (
            <div class="picker" role="group" aria-label="Pick a reaction">
              {QUICK_REACTIONS.map((e) => (
                <button key={e} type="button" class="icon" aria-label={`React with ${e}`} onClick={() => { setPicking(false); actions.react(m, e, !m.reactions.some((r) => r.emoji === e && r.me)) }}>{e}</button>
              ))}
            </div>
          )}
        </div>
      )}
    </article>
  )
})

/** A post the server has not confirmed yet (the outbox): shown at once, marked as sending or failed. */
export function PendingView({ model, item }: { model: AppModel; item: OutboxItem }) {
  const content = typeof item.data['content'] === 'string' ? item.data['content'] : ''
  const files = Array.isArray(item.data['attachments']) ? item.data['attachments'].length : 0
  return (
    <article class={`msg mine pending ${item.state}`} data-pending={item.client_msg_id} aria-label={item.state === 'failed' ? 'Message not sent' : 'Message sending'}>
      <span class="avatar" aria-hidden="true">{initials(model.nameOf(model.me.user_id))}</span>
      <div class="msg-body">
        <header class="msg-head">
          <strong class="author">{model.nameOf(model.me.user_id)}</strong>{' '}
          <span class="state">{item.state === 'failed' ? `Not sent (${item.error?.code ?? 'error'})` : 'Sending…'}</span>
        </header>
        {content !== '' && <p class="text"><RichText model={model} text={content} /></p>}
        {files > 0 && <p class="text muted">{files === 1 ? 'a file' : `${files} files`}</p>}
        {item.state === 'failed' && (
          <div class="pending-actions">
            <button type="button" onClick={() => void model.client.retry(item.client_msg_id)}>Retry</button>
            <button type="button" onClick={() => void model.client.discard(item.client_msg_id)}>Discard</button>
          </div>
        )}
      </div>
    </article>
  )
}
