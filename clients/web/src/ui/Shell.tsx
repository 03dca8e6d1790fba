// The signed-in layout: the servers rail, the list (chats, or a server's channels), and the
// chat view. On a phone's width one of list and chat view shows at a time.
import { useEffect, useState } from 'preact/hooks'
import type { AppModel } from '../lib/model.ts'
import { useStore } from '../lib/store.ts'
import { navigate, useRoute } from '../lib/router.ts'
import { Rail, Sidebar } from './Sidebar.tsx'
import { ChatView } from './ChatView.tsx'
import { Dialogs, type DialogKind } from './dialogs.tsx'
import { InvitePage } from './InvitePage.tsx'

export function Shell({ model, onSignOut }: { model: AppModel; onSignOut: () => void }) {
  const route = useRoute()
  const [dialog, setDialog] = useState<DialogKind | null>(null)
  const status = useStore(model.state, (s) => s.status)
  const serverId = route.name === 'server' ? route.serverId : route.name === 'channel' ? route.serverId : null
  const chatOpen = route.name === 'channel' || route.name === 'invite'

  useEffect(() => {
    model.openChannel = route.name === 'channel' ? route.channelId : null
  }, [route])

  return (
    <div class={`shell ${chatOpen ? 'shows-main' : 'shows-list'}`}>
      <a class="skip" href="#main">Skip to conversation</a>
      <Rail model={model} serverId={serverId} open={setDialog} />
      <Sidebar model={model} serverId={serverId} channelId={route.name === 'channel' ? route.channelId : null} open={setDialog} onSignOut={onSignOut} />
      <main id="main" class="main" tabIndex={-1}>
        {status !== 'online' && <p class={`connection ${status}`} role="status">{status === 'connecting' ? 'Connecting…' : status === 'offline' ? 'Offline: messages will be sent when the connection is back.' : 'Disconnected'}</p>}
        {route.name === 'channel' && <ChatView key={route.channelId} model={model} channelId={route.channelId} serverId={route.serverId} open={setDialog} />}
        {route.name === 'invite' && <InvitePage model={model} code={route.code} />}
        {!chatOpen && (
          <div class="welcome">
            <h2>Welcome, {model.nameOf(model.me.user_id)}</h2>
            <p>Pick a chat or a channel, or start something new.</p>
            <div class="welcome-actions">
              <button type="button" onClick={() => setDialog({ kind: 'add-friend' })}>Add a friend</button>
              <button type="button" onClick={() => setDialog({ kind: 'create-group' })}>New group</button>
              <button type="button" onClick={() => setDialog({ kind: 'create-server' })}>New server</button>
              <button type="button" onClick={() => setDialog({ kind: 'join' })}>Join with an invite</button>
            </div>
          </div>
        )}
      </main>
      <Dialogs model={model} dialog={dialog} close={() => setDialog(null)} open={setDialog} />
      <Toast model={model} />
    </div>
  )
}

function Toast({ model }: { model: AppModel }) {
  const notice = useStore(model.state, (s) => s.notice)
  useEffect(() => {
    if (notice === null) return
    const t = setTimeout(() => model.state.set({ notice: null }), 5000)
    return () => clearTimeout(t)
  }, [notice])
  return (
    <div class="toast-area" role="status" aria-live="polite">
      {notice !== null && (
        <div class={`toast ${notice.kind}`}>
          <span>{notice.text}</span>
          <button type="button" class="icon" aria-label="Dismiss" onClick={() => model.state.set({ notice: null })}>×</button>
        </div>
      )}
    </div>
  )
}

