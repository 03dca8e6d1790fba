import { CONFIG_SCHEMA, LOG_LEVELS, type Config, type ConfigKey } from './schema.ts'

export class ConfigError extends Error {
  readonly code = 'CONFIG_INVALID'
  constructor(message: string) {
    super(message)
    this.name = 'ConfigError'
  }
}

function parseValue(key: ConfigKey, raw: string): string | number {
  const spec = CONFIG_SCHEMA[key]
  const where = `${spec.env}=${JSON.stringify(raw)}`
  switch (spec.kind) {
    case 'port': {
      const n = Number(raw)
      if (!/^\d+$/.test(raw.trim()) || n > 65535) throw new ConfigError(`${where}: a port is a whole number from 0 to 65535`)
      return n
    }
    case 'int': {
      const n = Number(raw)
      const min = ('min' in spec ? spec.min : undefined) ?? Number.MIN_SAFE_INTEGER
      const max = ('max' in spec ? spec.max : undefined) ?? Number.MAX_SAFE_INTEGER
      if (!/^-?\d+$/.test(raw.trim()) || n < min || n > max) throw new ConfigError(`${where}: expected a whole number from ${min} to ${max}`)
      return n
    }
    case 'url': {
      if (raw === '') return raw
      try {
        new URL(raw)
      } catch {
        throw new ConfigError(`${where}: not a URL`)
      }
      return raw
    }
    case 'level':
      if (!(LOG_LEVELS as readonly string[]).includes(raw)) throw new ConfigError(`${where}: expected one of ${LOG_LEVELS.join(', ')}`)
      return raw
    case 'string':
      return raw
  }
}

/**
 * Builds the frozen configuration from defaults, then the environment, then explicit
 * overrides (tests pass overrides and an empty environment).
 */
export function loadConfig(env: NodeJS.ProcessEnv = process.env, overrides: Partial<Config> = {}): Config {
  const out: Record<string, string | number> = {}
  for (const key of Object.keys(CONFIG_SCHEMA) as ConfigKey[]) {
    const spec = CONFIG_SCHEMA[key]
    const raw = env[spec.env]
    out[key] = raw === undefined ? spec.default : parseValue(key, raw)
  }
  for (const [key, value] of Object.entries(overrides)) {
    if (!(key in CONFIG_SCHEMA)) throw new ConfigError(`unknown configuration field ${key}`)
    if (value !== undefined) out[key] = value
  }
  const config = out as Config
  if (config.databaseUrl !== '' && !/^(mysql|mariadb|file):/.test(config.databaseUrl)) {
    throw new ConfigError(`DATABASE_URL must start with mysql://, mariadb:// or file:`)
  }
  if (config.redisUrl !== '' && !/^rediss?:/.test(config.redisUrl)) {
    throw new ConfigError(`REDIS_URL must start with redis:// or rediss://`)
  }
  if (config.jwtSecret !== '' && config.jwtSecret.length < 32) {
    throw new ConfigError('CHIME_JWT_SECRET must be at least 32 characters')
  }
  return Object.freeze(config)
}

/** The defaults as a table, for `chime config` and docs/configuration.md. */
export function describeConfig(): string {
  const rows = (Object.keys(CONFIG_SCHEMA) as ConfigKey[]).map((key) => {
    const s = CONFIG_SCHEMA[key]
    const value = String(s.default) === '' ? '(empty)' : `\`${String(s.default)}\``
    return `| \`${s.env}\` | ${value} | ${s.doc} |`
  })
  return ['| variable | default | meaning |', '|---|---|---|', ...rows].join('\n')
}

