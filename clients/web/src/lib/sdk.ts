// The SDK as the app uses it. What the first screen needs (HTTP calls, errors, uploads) comes
// from its modules directly; the realtime client (ChimeClient with mqtt.js, most of the
// JavaScript) is loaded on demand, while the chat list is being fetched, as its own chunk.
export { ChatError } from '../../../sdk/src/errors.ts'
export { ChimeHttp, type Session } from '../../../sdk/src/http.ts'
export { uploadFile } from '../../../sdk/src/files.ts'

export const loadRealtime = (): Promise<typeof import('../../../sdk/src/index.ts')> => import('../../../sdk/src/index.ts')
