// `chime [all|broker|api|config]`: npm start, npm run broker, npm run api.
import { describeConfig, loadConfig } from '../config/load-config.ts'
import { createLogger, startApiNode, startBrokerNode, startEmbedded, type Running } from './processes.ts'

const mode = process.argv[2] ?? 'all'

async function main(): Promise<void> {
  if (mode === 'config') {
    console.log(describeConfig())
    return
  }
  const config = loadConfig()
  const log = createLogger(config)
  let running: Running
  if (mode === 'all') running = await startEmbedded(config, log)
  else if (mode === 'broker') running = await startBrokerNode(config, log)
  else if (mode === 'api') running = await startApiNode(config, log)
  else throw new Error(`unknown mode ${mode}: use all, broker, api or config`)

  const host = config.host === '0.0.0.0' ? 'localhost' : config.host
  const lines = [`Chime (${mode}) is running`]
  if (mode !== 'broker') lines.push(`  HTTP API      http://${host}:${running.httpPort}/api/`)
  if (mode !== 'api') lines.push(`  MQTT/WS       ws://${host}:${running.httpPort}/mqtt`, `  MQTT/TCP      mqtt://${host}:${running.mqttPort}`)
  lines.push(`  database      ${running.databaseUrl.startsWith('file:') ? running.databaseUrl + ' (SQLite)' : 'MySQL/MariaDB'}`)
  lines.push(`  broker state  ${config.redisUrl ? 'Redis' : 'in memory'}`)
  console.log(lines.join('\n'))

  let stopping = false
  const stop = (): void => {
    if (stopping) return
    stopping = true
    running.close().then(() => process.exit(0), (err: unknown) => {
      log.error({ err }, 'shutdown failed')
      process.exit(1)
    })
  }
  process.once('SIGINT', stop)
  process.once('SIGTERM', stop)
}

main().catch((err: unknown) => {
  const code = (err as { code?: unknown }).code
  if (code === 'PORT_IN_USE' || code === 'CONFIG_INVALID') {
    console.error(`chime: ${(err as Error).message}`)
  } else {
    console.error('chime: failed to start:', err)
  }
  process.exit(1)
})
