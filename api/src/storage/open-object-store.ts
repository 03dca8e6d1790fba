// Picks the object store from the configuration: S3 when CHIME_S3_ENDPOINT is set, else the
// local store under CHIME_DATA_DIR/objects, in every profile. API processes sharing the local
// store must share that directory (and CHIME_JWT_SECRET, which keys the links).
import { createHmac } from 'node:crypto'
import { join, resolve } from 'node:path'
import type { Config } from '../../../config/schema.ts'
import { ConfigError } from '../../../config/load-config.ts'
import { LocalObjectStore } from './local-store.ts'
import type { ObjectStore } from './object-store.ts'
import { S3ObjectStore } from './s3-store.ts'

/** The key of the local store's links: derived from the token secret, never the secret itself. */
export function objectLinkSecret(tokenSecret: string): Buffer {
  return createHmac('sha256', tokenSecret).update('chime object links v1').digest()
}

/** S3 bucket names: 3 to 63 lowercase letters, digits, dots and hyphens, starting and ending with a letter or digit. */
const BUCKET = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/

function checkS3Config(config: Config): void {
  let url: URL
  try {
    url = new URL(config.s3Endpoint)
  } catch {
    throw new ConfigError(`CHIME_S3_ENDPOINT=${JSON.stringify(config.s3Endpoint)}: not a URL`)
  }
  if ((url.protocol !== 'http:' && url.protocol !== 'https:') || url.pathname !== '/' || url.search !== '' || url.username !== '') {
    throw new ConfigError(`CHIME_S3_ENDPOINT=${JSON.stringify(config.s3Endpoint)}: expected http(s)://host:port with no path`)
  }
  if (config.s3AccessKey === '' || config.s3SecretKey === '') throw new ConfigError('CHIME_S3_ENDPOINT needs CHIME_S3_ACCESS_KEY and CHIME_S3_SECRET_KEY')
  if (!BUCKET.test(config.s3Bucket) || config.s3Bucket.includes('..')) throw new ConfigError(`CHIME_S3_BUCKET=${JSON.stringify(config.s3Bucket)}: not a valid bucket name (3 to 63 of a-z, 0-9, '.', '-')`)
  if (!/^[a-z0-9-]{1,64}$/.test(config.s3Region)) throw new ConfigError(`CHIME_S3_REGION=${JSON.stringify(config.s3Region)}: not a region name`)
}

/** Opens the configured store (creating its directory or bucket when missing). */
export async function openObjectStore(config: Config, tokenSecret: string): Promise<ObjectStore> {
  if (config.s3Endpoint !== '') {
    checkS3Config(config)
    try {
      return await S3ObjectStore.open({ endpoint: config.s3Endpoint, accessKey: config.s3AccessKey, secretKey: config.s3SecretKey, bucket: config.s3Bucket, region: config.s3Region })
    } catch (err) {
      // Start-up stops with one line naming what to fix (wrong endpoint, credentials, region).
      throw new ConfigError(`CHIME_S3_ENDPOINT=${config.s3Endpoint}: could not check or create the bucket ${config.s3Bucket}: ${(err as Error).message}`)
    }
  }
  return new LocalObjectStore({ dir: join(resolve(config.dataDir), 'objects'), secret: objectLinkSecret(tokenSecret), publicUrl: config.publicUrl }).init()
}
