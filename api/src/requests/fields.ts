// Field checks shared by every request: each failure is a ChatError naming the field.
import { ChatError } from '../../../clients/sdk/src/errors.ts'
import { isValidId } from '../../../clients/sdk/src/topics.ts'

export type Data = Record<string, unknown>

export function isPlainObject(v: unknown): v is Data {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
}

export function requireId(data: Data, name: string, alias?: string): string {
  const v = data[name] ?? (alias === undefined ? undefined : data[alias])
  if (v === undefined) throw new ChatError('INVALID_FIELD', `${name} is required`, { field: name })
  if (!isValidId(v)) throw new ChatError('INVALID_FIELD', `${name} must be an id string`, { field: name })
  return v
}

export function optionalId(data: Data, name: string): string | undefined {
  return data[name] === undefined ? undefined : requireId(data, name)
}

export function requireString(data: Data, name: string, opts: { min?: number; max?: number } = {}): string {
  const v = data[name]
  if (typeof v !== 'string') throw new ChatError('INVALID_FIELD', `${name} must be a string`, { field: name })
  if (opts.min !== undefined && v.length < opts.min) throw new ChatError('INVALID_FIELD', `${name} must have at least ${opts.min} characters`, { field: name })
  if (opts.max !== undefined && v.length > opts.max) throw new ChatError('INVALID_FIELD', `${name} must have at most ${opts.max} characters`, { field: name })
  return v
}

export function optionalBoolean(data: Data, name: string): boolean | undefined {
  const v = data[name]
  if (v === undefined) return undefined
  if (typeof v !== 'boolean') throw new ChatError('INVALID_FIELD', `${name} must be true or false`, { field: name })
  return v
}

/** A non-negative integer given as a decimal string (ids are strings) or a safe integer. */
export function optionalCursor(data: Data, name: string): bigint | undefined {
  const v = data[name]
  if (v === undefined || v === null) return undefined
  if (typeof v === 'number' && Number.isSafeInteger(v) && v >= 0) return BigInt(v)
  if (typeof v === 'string' && /^\d{1,19}$/.test(v)) return BigInt(v)
  throw new ChatError('INVALID_CURSOR', `${name} must be a non-negative integer string`, { field: name })
}

/** A message id (the delta_id of the message's first delta) as a decimal string. */
export function requireMessageId(data: Data, name = 'message_id'): bigint {
  const v = data[name]
  if (v === undefined) throw new ChatError('INVALID_FIELD', `${name} is required`, { field: name })
  if (typeof v !== 'string' || !/^[1-9]\d{0,18}$/.test(v)) throw new ChatError('INVALID_FIELD', `${name} must be a message id (a decimal string)`, { field: name })
  return BigInt(v)
}

export function optionalLimit(data: Data, max: number): number {
  const v = data['limit']
  if (v === undefined) return max
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 1) throw new ChatError('INVALID_FIELD', 'limit must be a positive integer', { field: 'limit' })
  return Math.min(v, max)
}
