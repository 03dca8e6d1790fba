import { ChatError } from '../../../clients/sdk/src/errors.ts'
import { hashPassword, verifyPassword } from '../auth/passwords.ts'
import { requireString, type Data } from '../requests/fields.ts'
import type { Core } from './context.ts'

const USERNAME = /^[A-Za-z0-9_.-]{3,32}$/

export interface AuthAnswer {
  user_id: string
  token: string
}

function credentials(data: Data): { username: string; password: string } {
  const username = requireString(data, 'username')
  if (!USERNAME.test(username)) throw new ChatError('INVALID_FIELD', 'username must be 3 to 32 letters, digits, dots, dashes or underscores', { field: 'username' })
  const password = requireString(data, 'password', { max: 256 })
  return { username, password }
}

export async function doRegister(core: Core, data: Data): Promise<AuthAnswer> {
  const { username, password } = credentials(data)
  if (password.length < 8) throw new ChatError('INVALID_FIELD', 'password must have at least 8 characters', { field: 'password' })
  const user = await core.store.directory.createUser({ username, passwordHash: await hashPassword(password) })
  return { user_id: user.id, token: await core.tokens.issue({ userId: user.id, username: user.username }) }
}

// A dummy hash verified when the user does not exist, so both failures take equal time.
let dummyHash: Promise<string> | undefined

export async function doLogin(core: Core, data: Data): Promise<AuthAnswer> {
  const { username, password } = credentials(data)
  const user = await core.store.directory.findUserByUsername(username)
  dummyHash ??= hashPassword('chime-dummy-password')
  const ok = await verifyPassword(user?.passwordHash ?? (await dummyHash), password)
  if (user === null || !ok) throw new ChatError('INVALID_CREDENTIALS')
  return { user_id: user.id, token: await core.tokens.issue({ userId: user.id, username: user.username }) }
}
