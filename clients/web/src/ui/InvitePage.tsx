// /invite/{code}: what the invitation is for, and a button to accept it.
import { useEffect, useState } from 'preact/hooks'
import type { InvitePreviewJson } from '../../../sdk/src/index.ts'
import { describe, type AppModel } from '../lib/model.ts'
import { channelPath, navigate } from '../lib/router.ts'

type InvitePreview = InvitePreviewJson

export function InvitePage({ model, code }: { model: AppModel; code: string }) {
  const [preview, setPreview] = useState<InvitePreview | null>(null)
  const [error, setError] = useState<string | null>(null)
  const [busy, setBusy] = useState(false)

  useEffect(() => {
    model.http.get<InvitePreview>(`/api/invites/${encodeURIComponent(code)}`).then(setPreview, (err: unknown) => setError(describe(err)))
  }, [code])

  const accept = async (): Promise<void> => {
    setBusy(true)
    try {
      const r = await model.http.post<{ server_id?: string; chat_id?: string; joined: boolean }>(`/api/invites/${encodeURIComponent(code)}/accept`)
      await Promise.all([model.refreshServers(), model.refreshChats()])
      if (r.server_id !== undefined) {
        const channels = await model.loadChannels(r.server_id)
        navigate(channels[0] !== undefined ? channelPath(channels[0].channel_id, r.server_id) : `/s/${r.server_id}`, { replace: true })
      } else if (r.chat_id !== undefined) navigate(channelPath(r.chat_id, null), { replace: true })
    } catch (err) {
      setError(describe(err))
      setBusy(false)
    }
  }

  return (
    <section class="invite" aria-labelledby="invite-title">
      <h2 id="invite-title">Invitation</h2>
      {error !== null && <p class="error" role="alert">{error}</p>}
      {preview === null && error === null && <p role="status">Looking at the invitation…</p>}
      {preview !== null && (
        <>
          <p>You are invited to join <strong>{preview.name ?? (preview.chat_id !== undefined ? 'a group' : 'a server')}</strong>
            {preview.member_count !== undefined ? ` (${preview.member_count} members)` : ''}.</p>
          <div class="row-buttons">
            <button type="button" class="primary" disabled={busy} onClick={() => void accept()}>Accept invitation</button>
            <button type="button" onClick={() => navigate('/')}>Not now</button>
          </div>
        </>
      )}
    </section>
  )
}
