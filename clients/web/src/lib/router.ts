// Paths of the app (the API answers index.html for all of them):
//   /                           home: servers, channels and chats
//   /s/{serverId}               a server's channels
//   /s/{serverId}/c/{channelId} a server channel
//   /c/{chatId}                 a 1:1 chat or a group
//   /invite/{code}              an invitation to accept
import { useEffect, useState } from 'preact/hooks'

export type Route =
  | { name: 'home' }
  | { name: 'server'; serverId: string }
  | { name: 'channel'; serverId: string | null; channelId: string }
  | { name: 'invite'; code: string }

const ID = '([A-Za-z0-9_-]{1,64})'

export function parseRoute(path: string): Route {
  let m = new RegExp(`^/s/${ID}/c/${ID}/?$`).exec(path)
  if (m !== null) return { name: 'channel', serverId: m[1]!, channelId: m[2]! }
  m = new RegExp(`^/c/${ID}/?$`).exec(path)
  if (m !== null) return { name: 'channel', serverId: null, channelId: m[1]! }
  m = new RegExp(`^/s/${ID}/?$`).exec(path)
  if (m !== null) return { name: 'server', serverId: m[1]! }
  m = /^\/invite\/([A-Za-z0-9_-]{1,128})\/?$/.exec(path)
  if (m !== null) return { name: 'invite', code: m[1]! }
  return { name: 'home' }
}

export function channelPath(channelId: string, serverId: string | null): string {
  return serverId === null ? `/c/${channelId}` : `/s/${serverId}/c/${channelId}`
}

const listeners = new Set<() => void>()

export function navigate(path: string, opts: { replace?: boolean } = {}): void {
  if (path === location.pathname) return
  if (opts.replace === true) history.replaceState(null, '', path)
  else history.pushState(null, '', path)
  for (const fn of [...listeners]) fn()
}

addEventListener('popstate', () => {
  for (const fn of [...listeners]) fn()
})

export function useRoute(): Route {
  const [route, setRoute] = useState(() => parseRoute(location.pathname))
  useEffect(() => {
    const update = (): void => setRoute(parseRoute(location.pathname))
    listeners.add(update)
    return () => listeners.delete(update)
  }, [])
  return route
}
