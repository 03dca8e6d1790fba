// The one configuration schema of Chime. Every field has an environment variable, a
// default and a doc string; `npm start -- config` prints them, docs/configuration.md
// lists them, and an invalid value is a coded error at start-up.

type Kind = 'port' | 'string' | 'url' | 'int' | 'level'

interface FieldSpec<K extends Kind> {
  env: string
  kind: K
  default: K extends 'port' | 'int' ? number : string
  doc: string
  min?: number
  max?: number
}

function field<K extends Kind>(spec: FieldSpec<K>): FieldSpec<K> {
  return spec
}

export const CONFIG_SCHEMA = {
  httpPort: field({ env: 'CHIME_HTTP_PORT', kind: 'port', default: 8080, doc: 'HTTP API, web client and MQTT over WebSocket (path /mqtt). 0 picks a free port.' }),
  mqttPort: field({ env: 'CHIME_MQTT_PORT', kind: 'port', default: 1883, doc: 'MQTT over TCP. 0 picks a free port.' }),
  host: field({ env: 'CHIME_HOST', kind: 'string', default: '0.0.0.0', doc: 'Address the listeners bind to.' }),
  dataDir: field({ env: 'CHIME_DATA_DIR', kind: 'string', default: './data', doc: 'Embedded profile: the SQLite database and the generated token secret. Without CHIME_S3_ENDPOINT (any profile): stored files, in CHIME_DATA_DIR/objects.' }),
  databaseUrl: field({ env: 'DATABASE_URL', kind: 'url', default: '', doc: 'mysql://user:pass@host:3306/db for MySQL/MariaDB; empty for SQLite in CHIME_DATA_DIR.' }),
  redisUrl: field({ env: 'REDIS_URL', kind: 'url', default: '', doc: 'redis://host:6379: broker sessions (aedes-persistence-redis) and fan-out between broker nodes (mqemitter-redis); empty for in-memory.' }),
  apiUrl: field({ env: 'CHIME_API_URL', kind: 'url', default: 'http://127.0.0.1:8080', doc: 'Broker process only: base URL of the co-located API sidecar that requests are handed to.' }),
  jwtSecret: field({ env: 'CHIME_JWT_SECRET', kind: 'string', default: '', doc: 'HMAC secret for tokens (32+ characters). Empty: the embedded profile generates one in CHIME_DATA_DIR; the production profile requires it.' }),
  tokenTtlSeconds: field({ env: 'CHIME_TOKEN_TTL_SECONDS', kind: 'int', default: 86_400, min: 60, max: 31_536_000, doc: 'Lifetime of an access token.' }),
  refreshTtlSeconds: field({ env: 'CHIME_REFRESH_TTL_SECONDS', kind: 'int', default: 2_592_000, min: 300, max: 31_536_000, doc: 'Lifetime of a sign-in (auth session): its refresh token works this long after the last login or refresh.' }),
  authRateWindowSeconds: field({ env: 'CHIME_AUTH_RATE_WINDOW_SECONDS', kind: 'int', default: 60, min: 1, max: 86_400, doc: 'Window of the login/register/refresh/single sign-on rate limits, per API process.' }),
  authRatePerIp: field({ env: 'CHIME_AUTH_RATE_PER_IP', kind: 'int', default: 1000, min: 0, max: 10_000_000, doc: 'Most sign-in attempts (login, register, refresh, single sign-on, password) from one address per window; 0: no limit.' }),
  authRatePerAccount: field({ env: 'CHIME_AUTH_RATE_PER_ACCOUNT', kind: 'int', default: 20, min: 0, max: 10_000_000, doc: 'Most sign-in attempts for one username (or one sign-in, for refresh) per window; 0: no limit.' }),
  trustProxyHops: field({ env: 'CHIME_TRUST_PROXY_HOPS', kind: 'int', default: 0, min: 0, max: 10, doc: 'Reverse proxies in front of the API whose X-Forwarded-For entries name the client address for rate limits; 0 uses the socket address.' }),
  oidcIssuer: field({ env: 'CHIME_OIDC_ISSUER', kind: 'url', default: '', doc: 'Single sign-on: the OpenID Connect issuer (the ID tokens\' iss). With CHIME_OIDC_JWKS_URL and CHIME_OIDC_AUDIENCE it enables POST /api/auth/oidc.' }),
  oidcJwksUrl: field({ env: 'CHIME_OIDC_JWKS_URL', kind: 'url', default: '', doc: "Single sign-on: the issuer's JWKS URL (its signing keys)." }),
  oidcAudience: field({ env: 'CHIME_OIDC_AUDIENCE', kind: 'string', default: '', doc: "Single sign-on: Chime's client id at the issuer; ID tokens must name it in aud." }),
  maxContentBytes: field({ env: 'CHIME_MAX_CONTENT_BYTES', kind: 'int', default: 16_384, min: 1, max: 1_048_576, doc: 'Largest message content, in UTF-8 bytes.' }),
  maxPageSize: field({ env: 'CHIME_MAX_PAGE_SIZE', kind: 'int', default: 1000, min: 1, max: 10_000, doc: 'Most deltas one SYNC or RESTORE page returns.' }),
  sequencerBatchMax: field({ env: 'CHIME_SEQUENCER_BATCH_MAX', kind: 'int', default: 500, min: 1, max: 10_000, doc: 'Most posts committed in one transaction (group commit).' }),
  sequencerLingerMs: field({ env: 'CHIME_SEQUENCER_LINGER_MS', kind: 'int', default: 2, min: 0, max: 100, doc: 'Under load (a post arriving within 5 ms of the last commit), how long the next transaction waits for more posts to join it; 0 never waits.' }),
  partitionMaxDeltas: field({ env: 'CHIME_PARTITION_MAX_DELTAS', kind: 'int', default: 10_000, min: 1, max: 10_000_000, doc: 'A channel log partition is closed after this many deltas.' }),
  partitionMaxBytes: field({ env: 'CHIME_PARTITION_MAX_BYTES', kind: 'int', default: 10 * 1024 * 1024, min: 1, max: 1_073_741_824, doc: 'A channel log partition is closed after this many content bytes.' }),
  syncMaxBehind: field({ env: 'CHIME_SYNC_MAX_BEHIND', kind: 'int', default: 10_000, min: 1, max: 10_000_000, doc: 'SYNC answers restore_required instead of deltas when the client misses more than this many deltas (catch up with FETCH_DELTA or RESTORE_HISTORY instead).' }),
  archiveIntervalMs: field({ env: 'CHIME_ARCHIVE_INTERVAL_MS', kind: 'int', default: 2000, min: 0, max: 3_600_000, doc: 'How often (milliseconds) each API process writes sealed history partitions to object storage; 0: this process does not archive (another one must).' }),
  archiveBatchMax: field({ env: 'CHIME_ARCHIVE_BATCH_MAX', kind: 'int', default: 20, min: 1, max: 10_000, doc: 'Most sealed partitions one archive run writes.' }),
  restoreLinkTtlSeconds: field({ env: 'CHIME_RESTORE_LINK_TTL_SECONDS', kind: 'int', default: 600, min: 10, max: 86_400, doc: 'Lifetime of the history archive links RESTORE_HISTORY hands out.' }),
  restoreBurst: field({ env: 'CHIME_RESTORE_BURST', kind: 'int', default: 300, min: 0, max: 10_000_000, doc: 'RESTORE_HISTORY rate limit: the cost units a user may spend at once (a request costs 1, plus 1 per archive link, plus 1 per 1,000 deltas of the page, times the traffic factor); 0: no limit.' }),
  restoreRatePerSecond: field({ env: 'CHIME_RESTORE_RATE_PER_SECOND', kind: 'int', default: 20, min: 1, max: 10_000_000, doc: "RESTORE_HISTORY rate limit: cost units a user's budget regains per second, per API process." }),
  restoreBusyDeltasPerSecond: field({ env: 'CHIME_RESTORE_BUSY_DELTAS_PER_SECOND', kind: 'int', default: 2000, min: 1, max: 10_000_000, doc: "RESTORE_HISTORY rate limit: at this many deltas committed per second by the API process, restores cost twice as much (the traffic factor is 1 + rate / this)." }),
  restoreMaxConcurrent: field({ env: 'CHIME_RESTORE_MAX_CONCURRENT', kind: 'int', default: 16, min: 1, max: 10_000, doc: 'Most RESTORE_HISTORY requests one API process answers at once; more are refused with RATE_LIMITED and a retry time.' }),
  logLevel: field({ env: 'CHIME_LOG_LEVEL', kind: 'level', default: 'info', doc: 'fatal, error, warn, info, debug, trace or silent.' }),
  vapidPublicKey: field({ env: 'CHIME_VAPID_PUBLIC_KEY', kind: 'string', default: '', doc: 'Web Push: the VAPID public key (URL-safe base64, 65 bytes decoded). Empty: the embedded profile generates a key pair into CHIME_DATA_DIR/vapid-keys.json on first start; separate API processes then send no Web Push.' }),
  vapidPrivateKey: field({ env: 'CHIME_VAPID_PRIVATE_KEY', kind: 'string', default: '', doc: 'Web Push: the VAPID private key (URL-safe base64, 32 bytes decoded); set together with CHIME_VAPID_PUBLIC_KEY.' }),
  vapidSubject: field({ env: 'CHIME_VAPID_SUBJECT', kind: 'string', default: 'mailto:postmaster@localhost', doc: 'Web Push: the VAPID subject push services may contact, a mailto: address or an https: URL.' }),
  pushAllowLoopback: field({ env: 'CHIME_PUSH_ALLOW_LOOPBACK', kind: 'int', default: 0, min: 0, max: 1, doc: 'Web Push: 1 also accepts push endpoints on this machine (http or https to 127.0.0.1, localhost, [::1]), for tests and local development; 0: https endpoints elsewhere only.' }),
  notifyQueueMax: field({ env: 'CHIME_NOTIFY_QUEUE_MAX', kind: 'int', default: 10_000, min: 1, max: 1_000_000, doc: 'Notifications: most committed messages waiting to be notified, per API process; beyond it new ones are not notified (and counted in the log).' }),
  expirySweepMs: field({ env: 'CHIME_EXPIRY_SWEEP_MS', kind: 'int', default: 1000, min: 0, max: 3_600_000, doc: 'Secret chats: how often (milliseconds) each API process purges messages past their expiry; 0: this process does not sweep (another one must).' }),
  expiryBatchMax: field({ env: 'CHIME_EXPIRY_BATCH_MAX', kind: 'int', default: 500, min: 1, max: 10_000, doc: 'Secret chats: most expired messages purged in one transaction.' }),
  smtpUrl: field({ env: 'CHIME_SMTP_URL', kind: 'url', default: '', doc: 'Chat history by email: the SMTP server, smtp://user:pass@host:587 (STARTTLS when offered) or smtps://...:465; empty: emailing an export answers EMAIL_NOT_CONFIGURED.' }),
  smtpFrom: field({ env: 'CHIME_SMTP_FROM', kind: 'string', default: 'Chime <chime@localhost>', doc: 'Chat history by email: the From address of exported chat histories.' }),
  publicUrl: field({ env: 'CHIME_PUBLIC_URL', kind: 'url', default: '', doc: 'Base URL people reach the HTTP API at, for links in exported chat histories (/api/files/download/?file_id=...) and to files in the local object store (/api/objects/...); empty: the links are relative paths.' }),
  exportRatePerHour: field({ env: 'CHIME_EXPORT_RATE_PER_HOUR', kind: 'int', default: 5, min: 0, max: 10_000, doc: 'Most chat history exports (emails and downloads) per user per hour, per API process; 0: no limit.' }),
  exportMaxMessages: field({ env: 'CHIME_EXPORT_MAX_MESSAGES', kind: 'int', default: 10_000, min: 1, max: 100_000, doc: 'Most messages one chat history export holds; a longer range is cut there and says where to continue.' }),
  searchScanRows: field({ env: 'CHIME_SEARCH_SCAN_ROWS', kind: 'int', default: 10_000, min: 0, max: 1_000_000, doc: "Search on MySQL/MariaDB: most of the newest messages one search checks row by row before it asks the FULLTEXT index, which is slow for words found in many messages; 0: always the index. SQLite's FTS5 index needs no such help." }),
  offlineMaxMessages: field({ env: 'CHIME_OFFLINE_MAX_MESSAGES', kind: 'int', default: 1000, min: 1, max: 1_000_000, doc: 'Broker: most QoS 1 packets queued for one persistent session (clean = false) while it is away; beyond it the oldest are dropped (clients recover them by SYNC).' }),
  offlineTtlSeconds: field({ env: 'CHIME_OFFLINE_TTL_SECONDS', kind: 'int', default: 604_800, min: 1, max: 31_536_000, doc: 'Broker: a packet queued for a persistent session is dropped after this many seconds (7 days by default).' }),
  sessionExpirySeconds: field({ env: 'CHIME_SESSION_EXPIRY_SECONDS', kind: 'int', default: 2_592_000, min: 1, max: 315_360_000, doc: 'Broker: a persistent session not connected for this many seconds (30 days by default) loses its stored subscriptions and queue.' }),
  ingressMaxLagMs: field({ env: 'CHIME_INGRESS_MAX_LAG_MS', kind: 'int', default: 50, min: 0, max: 10_000, doc: 'Broker: while its event loop is late by more than this many milliseconds, new publishes are held back unanswered (QoS 1 ones unacknowledged; nothing is dropped) until it has caught up, so it levels off past its capacity instead of collapsing; 0: never.' }),
  ingressClientRate: field({ env: 'CHIME_INGRESS_CLIENT_RATE', kind: 'int', default: 2000, min: 0, max: 10_000_000, doc: 'Broker: publishes per second (requests included) one connection may sustain; beyond it its publishes wait, in order, until its budget allows them, so one client cannot take the broker from the others; 0: no limit.' }),
  ingressClientBurst: field({ env: 'CHIME_INGRESS_CLIENT_BURST', kind: 'int', default: 4000, min: 1, max: 10_000_000, doc: 'Broker: publishes one connection may send at once beyond CHIME_INGRESS_CLIENT_RATE.' }),
  qos1MaxMembers: field({ env: 'CHIME_QOS1_MAX_MEMBERS', kind: 'int', default: 1000, min: 0, max: 100_000_000, doc: 'Deltas of a server with more members than this go out at QoS 0 (never queued for sessions that are away; members SYNC after reconnecting); chats and inboxes always use QoS 1.' }),
  s3Endpoint: field({ env: 'CHIME_S3_ENDPOINT', kind: 'url', default: '', doc: 'Object storage (files, sealed history): an S3 endpoint such as MinIO, http(s)://host:port; its presigned links point there, so clients must reach it. Empty: files under CHIME_DATA_DIR/objects, served by the API (several API processes then need one shared CHIME_DATA_DIR).' }),
  s3AccessKey: field({ env: 'CHIME_S3_ACCESS_KEY', kind: 'string', default: '', doc: 'Object storage: the access key for CHIME_S3_ENDPOINT.' }),
  s3SecretKey: field({ env: 'CHIME_S3_SECRET_KEY', kind: 'string', default: '', doc: 'Object storage: the secret key for CHIME_S3_ENDPOINT.' }),
  s3Bucket: field({ env: 'CHIME_S3_BUCKET', kind: 'string', default: 'chime', doc: 'Object storage: the bucket, created at start when missing.' }),
  s3Region: field({ env: 'CHIME_S3_REGION', kind: 'string', default: 'us-east-1', doc: 'Object storage: the region the links are signed for (MinIO accepts us-east-1 unless configured otherwise).' }),
  fileMaxBytes: field({ env: 'CHIME_FILE_MAX_BYTES', kind: 'int', default: 104_857_600, min: 1, max: 5_368_709_120, doc: 'Largest file one upload may be (100 MiB by default); a larger UPLOAD_FILE is refused before any byte is stored.' }),
  filePartBytes: field({ env: 'CHIME_FILE_PART_BYTES', kind: 'int', default: 8_388_608, min: 5_242_880, max: 536_870_912, doc: 'Files larger than this are uploaded in parts of this size (multipart: a dropped connection resumes with the missing parts); at least 5 MiB, the S3 minimum.' }),
  fileUploadTtlSeconds: field({ env: 'CHIME_FILE_UPLOAD_TTL_SECONDS', kind: 'int', default: 3600, min: 60, max: 604_800, doc: 'Lifetime of upload links; an upload not completed this long after UPLOAD_FILE is removed with its parts.' }),
  fileLinkSeconds: field({ env: 'CHIME_FILE_LINK_SECONDS', kind: 'int', default: 300, min: 10, max: 604_800, doc: 'Lifetime of the download links DOWNLOAD_FILE hands out.' }),
  fileOrphanSeconds: field({ env: 'CHIME_FILE_ORPHAN_SECONDS', kind: 'int', default: 86_400, min: 60, max: 31_536_000, doc: 'A completed file that no message carries is removed this long after its upload completed or a post last named it.' }),
  fileSweepMs: field({ env: 'CHIME_FILE_SWEEP_MS', kind: 'int', default: 60_000, min: 0, max: 86_400_000, doc: 'How often (milliseconds) each API process removes expired uploads and orphaned files; 0: this process does not sweep (another one must).' }),
} as const

type Schema = typeof CONFIG_SCHEMA
export type ConfigKey = keyof Schema
export type Config = {
  readonly [K in ConfigKey]: Schema[K]['kind'] extends 'port' | 'int' ? number : string
}

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const
