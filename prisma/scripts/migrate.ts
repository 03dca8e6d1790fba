// `npm run db:migrate`: applies the migrations to DATABASE_URL (mysql://, mariadb:// or
// file:), creating the database if needed, then verifies the live schema against
// prisma/schema.prisma. Exits 1 with the reason on any failure, drift included.
import { migrate } from '../../api/src/db/migrate.ts'
import { redactUrl } from '../../api/src/db/open-database.ts'

const url = process.env['DATABASE_URL']
if (url === undefined || url === '') {
  console.error('db:migrate: set DATABASE_URL (mysql://user:password@host:3306/chime or file:/path/to/chime.db)')
  process.exit(1)
}
try {
  const { applied } = await migrate(url)
  const what = applied.length === 0 ? 'nothing to apply' : `applied ${applied.join(', ')}`
  console.log(`db:migrate: ${redactUrl(url)}: ${what}; the schema matches prisma/schema.prisma`)
} catch (err) {
  console.error(`db:migrate: ${redactUrl(url)}: ${err instanceof Error ? err.message : String(err)}`)
  process.exit(1)
}
