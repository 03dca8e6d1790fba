-- Messaging: message kinds, edits, deletes, reactions, pins, polls, mentions, receipts,
-- notification settings, secret chats and Web Push.

-- AlterTable
ALTER TABLE "users" ADD COLUMN "hide_read_receipts" BOOLEAN NOT NULL DEFAULT false;
ALTER TABLE "users" ADD COLUMN "preferred_client_id" TEXT;

-- AlterTable
ALTER TABLE "channels" ADD COLUMN "message_ttl_seconds" INTEGER;
ALTER TABLE "channels" ADD COLUMN "last_activity_at" DATETIME;

-- CreateIndex
CREATE INDEX "channels_last_activity_at_idx" ON "channels"("last_activity_at");

-- AlterTable
ALTER TABLE "deltas" ADD COLUMN "target_id" BIGINT;
ALTER TABLE "deltas" ADD COLUMN "meta" TEXT;

-- CreateIndex
CREATE INDEX "deltas_target_id_idx" ON "deltas"("target_id");

-- AlterTable
ALTER TABLE "messages" ADD COLUMN "kind" TEXT NOT NULL DEFAULT 'text';
ALTER TABLE "messages" ADD COLUMN "meta" TEXT;
ALTER TABLE "messages" ADD COLUMN "attachments" JSONB;
ALTER TABLE "messages" ADD COLUMN "reply_to" BIGINT;
ALTER TABLE "messages" ADD COLUMN "edited_at" DATETIME;
ALTER TABLE "messages" ADD COLUMN "expires_at" DATETIME;
ALTER TABLE "messages" ADD COLUMN "pinned_at" DATETIME;
ALTER TABLE "messages" ADD COLUMN "pinned_by" TEXT;

-- CreateIndex
CREATE INDEX "messages_expires_at_idx" ON "messages"("expires_at");

-- CreateIndex
CREATE INDEX "messages_channel_id_pinned_at_idx" ON "messages"("channel_id", "pinned_at");

-- CreateTable
CREATE TABLE "message_reactions" (
    "message_id" BIGINT NOT NULL,
    "user_id" TEXT NOT NULL,
    "emoji" TEXT NOT NULL,
    "channel_id" TEXT NOT NULL,
    "created_at" DATETIME NOT NULL,

    PRIMARY KEY ("message_id", "user_id", "emoji")
);

-- CreateTable
CREATE TABLE "poll_votes" (
    "message_id" BIGINT NOT NULL,
    "user_id" TEXT NOT NULL,
    "option_idx" INTEGER NOT NULL,
    "created_at" DATETIME NOT NULL,

    PRIMARY KEY ("message_id", "user_id", "option_idx")
);

-- CreateTable
CREATE TABLE "message_mentions" (
    "message_id" BIGINT NOT NULL,
    "channel_id" TEXT NOT NULL,
    "seq" BIGINT NOT NULL,
    "target" TEXT NOT NULL,

    PRIMARY KEY ("message_id", "target")
);

-- CreateIndex
CREATE INDEX "message_mentions_channel_id_target_seq_idx" ON "message_mentions"("channel_id", "target", "seq");

-- CreateTable
CREATE TABLE "read_markers" (
    "user_id" TEXT NOT NULL,
    "channel_id" TEXT NOT NULL,
    "read_seq" BIGINT NOT NULL DEFAULT 0,
    "received_seq" BIGINT NOT NULL DEFAULT 0,
    "updated_at" DATETIME NOT NULL,

    PRIMARY KEY ("user_id", "channel_id")
);

-- CreateIndex
CREATE INDEX "read_markers_channel_id_idx" ON "read_markers"("channel_id");

-- CreateTable
CREATE TABLE "notification_settings" (
    "user_id" TEXT NOT NULL,
    "channel_id" TEXT NOT NULL,
    "level" TEXT NOT NULL,
    "muted_until" DATETIME,

    PRIMARY KEY ("user_id", "channel_id")
);

-- CreateTable
CREATE TABLE "push_subscriptions" (
    "id" TEXT NOT NULL PRIMARY KEY,
    "user_id" TEXT NOT NULL,
    "endpoint" TEXT NOT NULL,
    "p256dh" TEXT NOT NULL,
    "auth" TEXT NOT NULL,
    "created_at" DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP
);

-- CreateIndex
CREATE UNIQUE INDEX "push_subscriptions_endpoint_key" ON "push_subscriptions"("endpoint");

-- CreateIndex
CREATE INDEX "push_subscriptions_user_id_idx" ON "push_subscriptions"("user_id");
