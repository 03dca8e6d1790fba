// Every command of `chime`, in the order help lists them (docs/cli.md describes each).
import type { Ctx } from '../context.ts'
import { login, logout, register, whoami } from './account.ts'
import { channels, chats, servers } from './lists.ts'
import { history, search } from './read.ts'
import { restore } from './restore.ts'
import { send } from './send.ts'
import { stringOption, type CommandSpec, type OptionSpec, type Values } from './spec.ts'

const PASSWORD: Record<string, OptionSpec> = {
  password: { type: 'string', value: 'password', help: 'the password (else $CHIME_PASSWORD, else asked on the terminal)' },
  'password-stdin': { type: 'boolean', help: 'read the password from the first line of stdin' },
}

const MQTT_URL: OptionSpec = { type: 'string', value: 'url', help: 'MQTT URL (default ws(s)://<host of --url>/mqtt; mqtt://host:1883 works too)' }

export const COMMANDS: CommandSpec[] = [
  { name: 'register', args: ['<username>'], summary: 'Create an account and sign in (the session is saved).', options: PASSWORD, run: register },
  { name: 'login', args: ['<username>'], summary: 'Sign in (the session is saved).', options: PASSWORD, run: login },
  { name: 'logout', args: [], summary: 'Sign out: revoke the sign-in on the server and remove the saved session.', options: { all: { type: 'boolean', help: 'revoke every sign-in of the account' } }, run: logout },
  { name: 'whoami', args: [], summary: 'Show who is signed in, and where.', options: {}, run: whoami },
  { name: 'servers', args: [], summary: 'List your servers.', options: {}, run: servers },
  { name: 'channels', args: ['<server>'], summary: 'List the channels of a server you are in (by name or id).', options: {}, run: channels },
  { name: 'chats', args: [], summary: 'List every channel and chat, most recent first, with unread counts.', options: { unread: { type: 'boolean', help: 'only those with unread messages' } }, run: chats },
  {
    name: 'send', args: ['<channel>', '[text...]'], summary: 'Send a message: the words as text ("-" reads it from stdin), files, or both.',
    options: {
      file: { type: 'string', multiple: true, value: 'path', help: 'upload and attach a file (repeatable, up to 10)' },
      'reply-to': { type: 'string', value: 'id|#seq', help: 'reply to a message: its id, or #seq in the channel' },
    },
    run: send,
  },
  {
    name: 'tail', args: ['<channel>'], summary: 'Print the last deltas of a channel, then new ones as they arrive, until Ctrl-C.',
    options: {
      lines: { type: 'string', short: 'n', value: 'n', help: 'how many of the latest deltas to print first (default 10)' },
      from: { type: 'string', value: 'seq', help: 'print every delta after this seq first instead' },
      'mqtt-url': MQTT_URL,
    },
    // Loaded when used: the live connection brings in MQTT.
    run: async (ctx, args, values) => (await import('./tail.ts')).tail(ctx, args, values),
  },
  {
    name: 'history', args: ['<channel>'], summary: 'Print messages as they are now, oldest first.',
    options: {
      limit: { type: 'string', value: 'n', help: 'how many (1 to 200, default 50)' },
      before: { type: 'string', value: 'seq', help: 'only messages before this seq (older pages)' },
    },
    run: history,
  },
  {
    name: 'search', args: ['<query...>'], summary: 'Find messages by their words, newest first.',
    options: {
      channel: { type: 'string', value: 'channel', help: 'only in this channel or chat' },
      server: { type: 'string', value: 'server', help: 'only in the channels of this server' },
      limit: { type: 'string', value: 'n', help: 'results per page (1 to 50, default 20)' },
      cursor: { type: 'string', value: 'cursor', help: 'the next page of the same search' },
      after: { type: 'string', value: 'date', help: 'only messages after this ISO date or time' },
      before: { type: 'string', value: 'date', help: 'only messages before this ISO date or time' },
      'has-file': { type: 'boolean', help: 'only messages with files' },
    },
    run: search,
  },
  {
    name: 'restore', args: ['<channel>'], summary: 'Download the whole history (archives checked by SHA-256) as NDJSON, one delta per line.',
    options: {
      out: { type: 'string', short: 'o', value: 'file', help: 'write to this file (default stdout)' },
      after: { type: 'string', value: 'seq', help: 'only the deltas after this seq' },
    },
    run: restore,
  },
  {
    name: 'ui', args: [], summary: 'The full-screen interactive mode (also `chime` alone, on a terminal).',
    options: { 'mqtt-url': MQTT_URL },
    run: async (ctx: Ctx, _args: string[], values: Values) => {
      const mqttUrl = stringOption(values, 'mqtt-url')
      return (await import('../ui/app.ts')).runUi(ctx, mqttUrl !== undefined ? { mqttUrl } : {})
    },
  },
]
