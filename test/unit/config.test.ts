import t from 'tap'
import { ConfigError, describeConfig, loadConfig } from '../../config/load-config.ts'
import { CONFIG_SCHEMA } from '../../config/schema.ts'

t.test('defaults match the public contract', async (t) => {
  const c = loadConfig({})
  t.equal(c.httpPort, 8080)
  t.equal(c.mqttPort, 1883)
  t.equal(c.dataDir, './data')
  t.equal(c.databaseUrl, '')
  t.equal(c.redisUrl, '')
  t.ok(Object.isFrozen(c), 'frozen')
})

t.test('environment variables are read and typed', async (t) => {
  const c = loadConfig({ CHIME_HTTP_PORT: '9090', CHIME_MQTT_PORT: '0', DATABASE_URL: 'mysql://root@127.0.0.1:3306/chime', REDIS_URL: 'redis://127.0.0.1:6379', CHIME_MAX_CONTENT_BYTES: '2048' })
  t.equal(c.httpPort, 9090)
  t.equal(c.mqttPort, 0)
  t.equal(c.databaseUrl, 'mysql://root@127.0.0.1:3306/chime')
  t.equal(c.maxContentBytes, 2048)
})

t.test('invalid values are coded errors naming the variable', async (t) => {
  for (const [env, pattern] of [
    [{ CHIME_HTTP_PORT: 'eighty' }, /CHIME_HTTP_PORT/],
    [{ CHIME_MQTT_PORT: '70000' }, /CHIME_MQTT_PORT/],
    [{ CHIME_MAX_CONTENT_BYTES: '0' }, /CHIME_MAX_CONTENT_BYTES/],
    [{ DATABASE_URL: 'postgres://x/y' }, /DATABASE_URL/],
    [{ REDIS_URL: 'not a url' }, /REDIS_URL/],
    [{ CHIME_LOG_LEVEL: 'loud' }, /CHIME_LOG_LEVEL/],
    [{ CHIME_JWT_SECRET: 'short' }, /CHIME_JWT_SECRET/],
  ] as const) {
    let caught: unknown
    try {
      loadConfig(env)
    } catch (err) {
      caught = err
    }
    t.ok(caught instanceof ConfigError, `${JSON.stringify(env)} is refused`)
    t.equal((caught as ConfigError).code, 'CONFIG_INVALID')
    t.match((caught as ConfigError).message, pattern)
  }
})

t.test('every field is documented with its variable and default', async (t) => {
  const table = describeConfig()
  for (const spec of Object.values(CONFIG_SCHEMA)) {
    t.match(table, spec.env)
    t.ok(spec.doc.length > 10, `${spec.env} has a doc string`)
  }
})

t.test('the README and docs/configuration.md show the table the schema prints', async (t) => {
  const { readFile } = await import('node:fs/promises')
  const table = describeConfig()
  for (const file of ['../../README.md', '../../docs/configuration.md']) {
    const text = await readFile(new URL(file, import.meta.url), 'utf8')
    t.ok(text.includes(table), `${file.slice(6)} has the current configuration table`)
  }
})
