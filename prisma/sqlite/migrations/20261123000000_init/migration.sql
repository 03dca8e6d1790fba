-- CreateTable
CREATE TABLE "users" (
    "id" TEXT NOT NULL PRIMARY KEY,
    "username" TEXT NOT NULL,
    "password_hash" TEXT NOT NULL,
    "display_name" TEXT NOT NULL,
    "created_at" DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP
);
CREATE UNIQUE INDEX "users_username_key" ON "users"("username");

-- CreateTable
CREATE TABLE "servers" (
    "id" TEXT NOT NULL PRIMARY KEY,
    "name" TEXT NOT NULL,
    "owner_id" TEXT NOT NULL,
    "description" TEXT,
    "max_users" INTEGER NOT NULL DEFAULT 1000000,
    "is_public" BOOLEAN NOT NULL DEFAULT true,
    "created_at" DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP
);
CREATE INDEX "servers_owner_id_idx" ON "servers"("owner_id");
CREATE INDEX "servers_is_public_idx" ON "servers"("is_public");

-- CreateTable
CREATE TABLE "server_users" (
    "server_id" TEXT NOT NULL,
    "user_id" TEXT NOT NULL,
    "role" TEXT NOT NULL,
    "joined_at" DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
    PRIMARY KEY ("server_id", "user_id")
);
CREATE INDEX "server_users_user_id_idx" ON "server_users"("user_id");

-- CreateTable
CREATE TABLE "channels" (
    "id" TEXT NOT NULL PRIMARY KEY,
    "server_id" TEXT,
    "kind" TEXT NOT NULL,
    "name" TEXT NOT NULL,
    "created_at" DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "last_seq" BIGINT NOT NULL DEFAULT 0,
    "partition_no" INTEGER NOT NULL DEFAULT 0,
    "partition_deltas" INTEGER NOT NULL DEFAULT 0,
    "partition_bytes" BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX "channels_server_id_idx" ON "channels"("server_id");

-- CreateTable
CREATE TABLE "chat_members" (
    "channel_id" TEXT NOT NULL,
    "user_id" TEXT NOT NULL,
    "role" TEXT NOT NULL,
    "joined_at" DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
    PRIMARY KEY ("channel_id", "user_id")
);
CREATE INDEX "chat_members_user_id_idx" ON "chat_members"("user_id");

-- CreateTable
CREATE TABLE "deltas" (
    "delta_id" BIGINT NOT NULL PRIMARY KEY,
    "channel_id" TEXT NOT NULL,
    "seq" BIGINT NOT NULL,
    "type" TEXT NOT NULL,
    "user_id" TEXT NOT NULL,
    "content" TEXT,
    "client_msg_id" TEXT,
    "attachments" JSONB,
    "is_partition_head" BOOLEAN NOT NULL DEFAULT false,
    "timestamp" DATETIME NOT NULL
);
CREATE UNIQUE INDEX "deltas_channel_id_seq_key" ON "deltas"("channel_id", "seq");
CREATE UNIQUE INDEX "deltas_user_id_client_msg_id_key" ON "deltas"("user_id", "client_msg_id");
CREATE INDEX "deltas_channel_id_timestamp_idx" ON "deltas"("channel_id", "timestamp");

-- CreateTable
CREATE TABLE "delta_partitions" (
    "channel_id" TEXT NOT NULL,
    "partition_no" INTEGER NOT NULL,
    "start_delta_id" BIGINT NOT NULL,
    "end_delta_id" BIGINT NOT NULL,
    "start_seq" BIGINT NOT NULL,
    "end_seq" BIGINT NOT NULL,
    "delta_count" INTEGER NOT NULL,
    "byte_size" BIGINT NOT NULL,
    "sealed" BOOLEAN NOT NULL DEFAULT false,
    "created_at" DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
    PRIMARY KEY ("channel_id", "partition_no")
);

-- CreateTable
CREATE TABLE "messages" (
    "message_id" BIGINT NOT NULL PRIMARY KEY,
    "channel_id" TEXT NOT NULL,
    "seq" BIGINT NOT NULL,
    "user_id" TEXT NOT NULL,
    "content" TEXT,
    "timestamp" DATETIME NOT NULL,
    "is_edited" BOOLEAN NOT NULL DEFAULT false,
    "is_deleted" BOOLEAN NOT NULL DEFAULT false
);
CREATE INDEX "messages_channel_id_seq_idx" ON "messages"("channel_id", "seq");
CREATE INDEX "messages_user_id_idx" ON "messages"("user_id");

-- CreateTable
CREATE TABLE "sequencer" (
    "id" INTEGER NOT NULL PRIMARY KEY,
    "last_delta_id" BIGINT NOT NULL DEFAULT 0
);

-- The single sequencer row: appends lock it so that delta_id follows commit order.
INSERT INTO "sequencer" ("id", "last_delta_id") VALUES (1, 0);
