-- Identity, servers, chats and access control.

-- AlterTable
ALTER TABLE "users" ADD COLUMN "status_text" TEXT;
ALTER TABLE "users" ADD COLUMN "timezone" TEXT;
ALTER TABLE "users" ADD COLUMN "icon_file_id" TEXT;
ALTER TABLE "users" ADD COLUMN "deleted_at" DATETIME;

-- AlterTable
ALTER TABLE "servers" ADD COLUMN "icon_file_id" TEXT;
ALTER TABLE "servers" ADD COLUMN "member_count" INTEGER NOT NULL DEFAULT 0;
ALTER TABLE "servers" ADD COLUMN "deleted_at" DATETIME;

-- AlterTable
ALTER TABLE "server_users" ADD COLUMN "muted_until" DATETIME;

-- AlterTable
ALTER TABLE "channels" ADD COLUMN "position" INTEGER NOT NULL DEFAULT 0;
ALTER TABLE "channels" ADD COLUMN "icon_file_id" TEXT;
ALTER TABLE "channels" ADD COLUMN "dm_key" TEXT;
ALTER TABLE "channels" ADD COLUMN "closed_at" DATETIME;

-- CreateIndex
CREATE UNIQUE INDEX "channels_dm_key_key" ON "channels"("dm_key");

-- CreateTable
CREATE TABLE "auth_sessions" (
    "id" TEXT NOT NULL PRIMARY KEY,
    "user_id" TEXT NOT NULL,
    "refresh_hash" TEXT NOT NULL,
    "client_id" TEXT,
    "created_at" DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "expires_at" DATETIME NOT NULL,
    "revoked_at" DATETIME
);
CREATE UNIQUE INDEX "auth_sessions_refresh_hash_key" ON "auth_sessions"("refresh_hash");
CREATE INDEX "auth_sessions_user_id_idx" ON "auth_sessions"("user_id");

-- CreateTable
CREATE TABLE "devices" (
    "client_id" TEXT NOT NULL PRIMARY KEY,
    "user_id" TEXT NOT NULL,
    "platform" TEXT NOT NULL DEFAULT 'unknown',
    "name" TEXT,
    "first_seen" DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "last_seen" DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "revoked_at" DATETIME
);
CREATE INDEX "devices_user_id_idx" ON "devices"("user_id");

-- CreateTable
CREATE TABLE "favorites" (
    "user_id" TEXT NOT NULL,
    "favorite_id" TEXT NOT NULL,
    "created_at" DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,

    PRIMARY KEY ("user_id", "favorite_id")
);

-- CreateTable
CREATE TABLE "blocks" (
    "user_id" TEXT NOT NULL,
    "blocked_id" TEXT NOT NULL,
    "created_at" DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,

    PRIMARY KEY ("user_id", "blocked_id")
);
CREATE INDEX "blocks_blocked_id_idx" ON "blocks"("blocked_id");

-- CreateTable
CREATE TABLE "server_bans" (
    "server_id" TEXT NOT NULL,
    "user_id" TEXT NOT NULL,
    "reason" TEXT,
    "banned_by" TEXT NOT NULL,
    "created_at" DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,

    PRIMARY KEY ("server_id", "user_id")
);

-- CreateTable
CREATE TABLE "channel_overrides" (
    "channel_id" TEXT NOT NULL,
    "server_id" TEXT NOT NULL,
    "target_type" TEXT NOT NULL,
    "target" TEXT NOT NULL,
    "allow" INTEGER NOT NULL DEFAULT 0,
    "deny" INTEGER NOT NULL DEFAULT 0,

    PRIMARY KEY ("channel_id", "target_type", "target")
);
CREATE INDEX "channel_overrides_server_id_idx" ON "channel_overrides"("server_id");

-- CreateTable
CREATE TABLE "invites" (
    "code" TEXT NOT NULL PRIMARY KEY,
    "server_id" TEXT,
    "channel_id" TEXT,
    "created_by" TEXT NOT NULL,
    "created_at" DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "expires_at" DATETIME,
    "max_uses" INTEGER,
    "uses" INTEGER NOT NULL DEFAULT 0,
    "revoked_at" DATETIME
);
CREATE INDEX "invites_server_id_idx" ON "invites"("server_id");
CREATE INDEX "invites_channel_id_idx" ON "invites"("channel_id");

-- Data: every server gets its own log (a channel of kind server whose id is the server id),
-- member counts, and 1:1 chats their pair key.
INSERT INTO "channels" ("id", "server_id", "kind", "name") SELECT "id", "id", 'server', "name" FROM "servers";
UPDATE "servers" SET "member_count" = (SELECT COUNT(*) FROM "server_users" WHERE "server_users"."server_id" = "servers"."id");
UPDATE "channels" SET "dm_key" = (SELECT MIN("user_id") || ':' || MAX("user_id") FROM "chat_members" WHERE "chat_members"."channel_id" = "channels"."id") WHERE "kind" = 'dm';
