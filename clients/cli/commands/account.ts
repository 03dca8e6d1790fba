// register, login, logout, whoami: the session file (session.ts) is written on sign-in and
// removed on logout; tokens are never printed.
import { ChatError } from '../../sdk/src/errors.ts'
import { ChimeHttp } from '../../sdk/src/http.ts'
import type { Ctx } from '../context.ts'
import { EXIT } from '../exit-codes.ts'
import { passwordFor } from '../prompt.ts'
import { toSaved } from '../session.ts'
import { safeText } from '../terminal-text.ts'
import type { Values } from './spec.ts'

async function signIn(ctx: Ctx, how: 'register' | 'login', username: string, values: Values): Promise<number> {
  const url = await ctx.signInUrl()
  const password = await passwordFor(ctx.io, {
    ...(typeof values['password'] === 'string' ? { password: values['password'] } : {}),
    passwordStdin: values['password-stdin'] === true,
    confirm: how === 'register',
  })
  const http = new ChimeHttp({ baseUrl: url })
  const session = how === 'register' ? await http.register(username, password) : await http.login(username, password)
  const saved = toSaved(url, session)
  await ctx.store.save(saved)
  if (ctx.json) ctx.printJson({ user_id: saved.user_id, username: saved.username, url, config: ctx.store.path })
  else ctx.print(`${how === 'register' ? 'Registered and signed in' : 'Signed in'} as ${safeText(saved.username)} at ${url} (session in ${ctx.store.path})`)
  return EXIT.OK
}

export const register = (ctx: Ctx, [username]: string[], values: Values): Promise<number> => signIn(ctx, 'register', username!, values)
export const login = (ctx: Ctx, [username]: string[], values: Values): Promise<number> => signIn(ctx, 'login', username!, values)

/** Revokes the sign-in on the server (all of them with --all) and removes the session file either way. */
export async function logout(ctx: Ctx, _args: string[], values: Values): Promise<number> {
  const saved = await ctx.store.load()
  if (saved === null) {
    if (ctx.json) ctx.printJson({ signed_out: false, revoked_sessions: 0 })
    else ctx.print('Not signed in.')
    return EXIT.OK
  }
  let revoked = 0
  let failure: ChatError | undefined
  try {
    const r = await new ChimeHttp({ baseUrl: saved.url, token: saved.token }).post<{ revoked_sessions?: number }>('/api/auth/logout', values['all'] === true ? { all: true } : {})
    revoked = r.revoked_sessions ?? 1
  } catch (err) {
    // A sign-in that already ended needs no revoking; one the server could not be asked about does.
    if (!(err instanceof ChatError) || err.status !== 401) failure = err instanceof ChatError ? err : new ChatError('INTERNAL', String(err))
  }
  await ctx.store.remove()
  if (failure !== undefined) throw new ChatError(failure.code, `signed out here, but the sign-in could not be revoked on the server: ${failure.message}`, failure.details)
  if (ctx.json) ctx.printJson({ signed_out: true, revoked_sessions: revoked })
  else ctx.print(`Signed out${revoked > 1 ? ` (${revoked} sign-ins revoked)` : ''}.`)
  return EXIT.OK
}

/** Who the saved session is, as the server sees it (GET /api/users/me). */
export async function whoami(ctx: Ctx): Promise<number> {
  const { session, http } = await ctx.session()
  const me = await http.get<{ user_id: string; username: string; display_name: string }>('/api/users/me')
  if (ctx.json) ctx.printJson({ user_id: me.user_id, username: me.username, display_name: me.display_name, url: session.url })
  else ctx.print(`${safeText(me.display_name, { singleLine: true })} (@${safeText(me.username)}) at ${session.url}, user id ${me.user_id}`)
  return EXIT.OK
}
