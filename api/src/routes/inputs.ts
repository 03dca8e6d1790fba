// What every HTTP route reads from a request: the JSON body, the authenticated caller, ids
// in the path and the query string. Each failure is a coded ChatError.
import type { FastifyRequest } from 'fastify'
import { ChatError } from '../../../clients/sdk/src/errors.ts'
import { isValidId } from '../../../clients/sdk/src/topics.ts'
import { isPlainObject, type Data } from '../requests/fields.ts'
import type { Caller } from '../services/context.ts'

declare module 'fastify' {
  interface FastifyRequest {
    caller: Caller | null
  }
}

export function body(request: FastifyRequest): Data {
  if (!isPlainObject(request.body)) throw new ChatError('INVALID_ENVELOPE', 'the body must be a JSON object')
  return request.body
}

/** The body, or {} when there is none (for actions whose fields are all optional). */
export function optionalBody(request: FastifyRequest): Data {
  return request.body === undefined || request.body === null ? {} : body(request)
}

export function caller(request: FastifyRequest): Caller {
  if (request.caller === null) throw new ChatError('UNAUTHENTICATED')
  return request.caller
}

export function pathId(request: FastifyRequest, name: string): string {
  const v = (request.params as Record<string, unknown>)[name]
  if (!isValidId(v)) throw new ChatError('INVALID_FIELD', `${name} is not a valid id`, { field: name })
  return v
}

export function pathParam(request: FastifyRequest, name: string): unknown {
  return (request.params as Record<string, unknown>)[name]
}

export function query(request: FastifyRequest): Record<string, unknown> {
  return (request.query ?? {}) as Record<string, unknown>
}
