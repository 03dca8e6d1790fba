// The input line of a chat: send (Enter; Shift+Enter for a new line), reply, edit, attach
// files with a progress bar and a preview of pictures, and the typing indicator it sends.
import { useEffect, useRef, useState } from 'preact/hooks'
import { uploadFile } from '../lib/sdk.ts'
import { describe, type AppModel } from '../lib/model.ts'
import type { Msg } from '../lib/timeline.ts'
import { Icon } from './icons.tsx'

interface Upload {
  id: number
  name: string
  size: number
  sent: number
  preview: string | null
}

const TYPING_REPEAT_MS = 3000
const TYPING_MIN_GAP_MS = 2100
const MAX_FILES = 10

export function Composer({ model, channelId, serverId, label, replyTo, editing, onDone, onSent, lastOwn, disabled, onEdit }: {
  model: AppModel
  channelId: string
  serverId: string | null
  label: string
  replyTo: Msg | null
  editing: Msg | null
  /** Leave reply or edit mode. */
  onDone: () => void
  onSent: () => void
  /** The user's newest message (ArrowUp in an empty input edits it). */
  lastOwn: () => Msg | null
  disabled: boolean
  onEdit: (m: Msg) => void
}) {
  const [text, setText] = useState('')
  const [uploads, setUploads] = useState<Upload[]>([])
  const input = useRef<HTMLTextAreaElement>(null)
  const typingSent = useRef(0)
  const lastTypingAt = useRef(0)
  const typingTimer = useRef<ReturnType<typeof setTimeout> | null>(null)
  const uploadSeq = useRef(0)
  const channel = { channel_id: channelId, server_id: serverId }

  useEffect(() => () => {
    if (typingTimer.current !== null) clearTimeout(typingTimer.current)
  }, [])

  useEffect(() => {
    if (editing !== null) setText(editing.content ?? '')
    if (editing !== null || replyTo !== null) input.current?.focus()
  }, [editing, replyTo])

  const stopTyping = (): void => {
    if (typingTimer.current !== null) clearTimeout(typingTimer.current)
    typingTimer.current = null
    if (typingSent.current !== 0) model.client.typing(channel, 'stopped')
    typingSent.current = 0
  }

  const sendTyping = (): void => {
    model.client.typing(channel, 'typing')
    typingSent.current = Date.now()
    lastTypingAt.current = Date.now()
  }

  const onInput = (value: string): void => {
    setText(value)
    if (editing !== null) return
    if (value.trim() === '') stopTyping()
    else if (typingTimer.current === null && Date.now() - typingSent.current > TYPING_REPEAT_MS) {
      // The broker passes one "typing" per 2 s: one sent sooner after the last (say right
      // after sending a message) would be dropped, so it waits for its turn.
      const wait = lastTypingAt.current + TYPING_MIN_GAP_MS - Date.now()
      if (wait <= 0) sendTyping()
      else typingTimer.current = setTimeout(() => {
        typingTimer.current = null
        if (input.current !== null && input.current.value.trim() !== '') sendTyping()
      }, wait)
    }
  }

  const submit = async (): Promise<void> => {
    const content = text
    if (editing !== null) {
      if (content.trim() === '' || content === editing.content) {
        onDone()
        setText('')
        return
      }
      try {
        await model.http.request('EDIT_MESSAGE', { message_id: editing.message_id, content })
        setText('')
        onDone()
      } catch (err) {
        model.notify(`Could not edit: ${describe(err)}`, 'error')
      }
      return
    }
    if (content.trim() === '') return
    stopTyping()
    setText('')
    await model.client.send(channelId, content, replyTo !== null ? { reply_to: replyTo.message_id } : {})
    onDone()
    onSent()
  }

  const attach = async (files: FileList | null): Promise<void> => {
    if (files === null || files.length === 0) return
    const chosen = Array.from(files).slice(0, MAX_FILES)
    await Promise.all(chosen.map(async (file) => {
      const id = ++uploadSeq.current
      const preview = file.type.startsWith('image/') ? URL.createObjectURL(file) : null
      setUploads((u) => [...u, { id, name: file.name, size: file.size, sent: 0, preview }])
      try {
        // The File itself: read a part at a time as it is hashed (without crypto.subtle) and sent.
        const done = await uploadFile(model.http, channelId, file, file.name, {
          ...(file.type !== '' ? { mimeType: file.type } : {}),
          onProgress: (p) => setUploads((u) => u.map((x) => (x.id === id ? { ...x, sent: p.sent } : x))),
        })
        await model.client.send(channelId, '', { attachments: [{ file_id: done.file_id }] })
        onSent()
      } catch (err) {
        model.notify(`${file.name} was not sent: ${describe(err)}`, 'error')
      } finally {
        if (preview !== null) URL.revokeObjectURL(preview)
        setUploads((u) => u.filter((x) => x.id !== id))
      }
    }))
  }

  const onKeyDown = (e: KeyboardEvent): void => {
    if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) {
      e.preventDefault()
      void submit()
    } else if (e.key === 'Escape' && (editing !== null || replyTo !== null)) {
      e.preventDefault()
      if (editing !== null) setText('')
      onDone()
    } else if (e.key === 'ArrowUp' && text === '' && editing === null) {
      const last = lastOwn()
      if (last !== null) {
        e.preventDefault()
        onEdit(last)
      }
    }
  }

  return (
    <form class="composer" onSubmit={(e) => { e.preventDefault(); void submit() }}>
      {replyTo !== null && (
        <div class="composer-banner">
          <span>Replying to <strong>{model.nameOf(replyTo.user_id)}</strong>: <span class="quote-text">{replyTo.content ?? ''}</span></span>
          <button type="button" class="icon" aria-label="Cancel reply" onClick={onDone}>×</button>
        </div>
      )}
      {editing !== null && (
        <div class="composer-banner">
          <span>Editing your message</span>
          <button type="button" class="icon" aria-label="Cancel editing" onClick={() => { setText(''); onDone() }}>×</button>
        </div>
      )}
      {uploads.map((u) => (
        <div key={u.id} class="upload">
          {u.preview !== null && <img src={u.preview} alt="" width={40} height={40} />}
          <span class="file-name">{u.name}</span>
          <progress max={u.size} value={u.sent} aria-label={`Uploading ${u.name}`} />
        </div>
      ))}
      <div class="composer-row">
        <label class="icon attach" title="Attach files">
          <Icon name="attach" />
          <input type="file" multiple class="sr-only" aria-label="Attach files" disabled={disabled || editing !== null}
            onChange={(e) => {
              const el = e.currentTarget
              void attach(el.files).finally(() => { el.value = '' })
            }} />
        </label>
        <textarea ref={input} rows={1} aria-label={label} placeholder={label} value={text} disabled={disabled} maxLength={16000}
          onInput={(e) => onInput(e.currentTarget.value)} onKeyDown={onKeyDown} onBlur={stopTyping} />
        <button type="submit" class="primary" disabled={disabled}>{editing !== null ? 'Save' : 'Send'}</button>
      </div>
    </form>
  )
}
