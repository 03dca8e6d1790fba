import { defineConfig } from 'prisma/config'

// Used by the Prisma CLI where it can run (generate; migrate deploy where its engine can be
// downloaded). Chime itself applies migrations with prisma/scripts/migrate.ts.
export default defineConfig({
  schema: 'prisma/schema.prisma',
  migrations: { path: 'prisma/migrations' },
  datasource: { url: process.env.DATABASE_URL ?? 'mysql://root@127.0.0.1:3306/chime' },
})
