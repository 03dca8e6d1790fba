-- Messaging: message kinds, edits, deletes, reactions, pins, polls, mentions, receipts,
-- notification settings, secret chats and Web Push.

-- AlterTable
ALTER TABLE `users` ADD COLUMN `hide_read_receipts` BOOLEAN NOT NULL DEFAULT false,
    ADD COLUMN `preferred_client_id` VARCHAR(128) NULL;

-- AlterTable
ALTER TABLE `channels` ADD COLUMN `message_ttl_seconds` INTEGER NULL,
    ADD COLUMN `last_activity_at` DATETIME(3) NULL;

-- CreateIndex
CREATE INDEX `channels_last_activity_at_idx` ON `channels`(`last_activity_at`);

-- AlterTable
ALTER TABLE `deltas` MODIFY `content` MEDIUMTEXT NULL,
    ADD COLUMN `target_id` BIGINT NULL,
    ADD COLUMN `meta` MEDIUMTEXT NULL;

-- CreateIndex
CREATE INDEX `deltas_target_id_idx` ON `deltas`(`target_id`);

-- AlterTable
ALTER TABLE `messages` MODIFY `content` MEDIUMTEXT NULL,
    ADD COLUMN `kind` VARCHAR(16) NOT NULL DEFAULT 'text',
    ADD COLUMN `meta` MEDIUMTEXT NULL,
    ADD COLUMN `attachments` JSON NULL,
    ADD COLUMN `reply_to` BIGINT NULL,
    ADD COLUMN `edited_at` DATETIME(3) NULL,
    ADD COLUMN `expires_at` DATETIME(3) NULL,
    ADD COLUMN `pinned_at` DATETIME(3) NULL,
    ADD COLUMN `pinned_by` VARCHAR(32) NULL;

-- CreateIndex
CREATE INDEX `messages_expires_at_idx` ON `messages`(`expires_at`);

-- CreateIndex
CREATE INDEX `messages_channel_id_pinned_at_idx` ON `messages`(`channel_id`, `pinned_at`);

-- CreateTable
CREATE TABLE `message_reactions` (
    `message_id` BIGINT NOT NULL,
    `user_id` VARCHAR(32) NOT NULL,
    `emoji` VARCHAR(64) NOT NULL,
    `channel_id` VARCHAR(32) NOT NULL,
    `created_at` DATETIME(3) NOT NULL,

    PRIMARY KEY (`message_id`, `user_id`, `emoji`)
) ENGINE=InnoDB DEFAULT CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;

-- CreateTable
CREATE TABLE `poll_votes` (
    `message_id` BIGINT NOT NULL,
    `user_id` VARCHAR(32) NOT NULL,
    `option_idx` INTEGER NOT NULL,
    `created_at` DATETIME(3) NOT NULL,

    PRIMARY KEY (`message_id`, `user_id`, `option_idx`)
) ENGINE=InnoDB DEFAULT CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;

-- CreateTable
CREATE TABLE `message_mentions` (
    `message_id` BIGINT NOT NULL,
    `channel_id` VARCHAR(32) NOT NULL,
    `seq` BIGINT NOT NULL,
    `target` VARCHAR(40) NOT NULL,

    INDEX `message_mentions_channel_id_target_seq_idx`(`channel_id`, `target`, `seq`),
    PRIMARY KEY (`message_id`, `target`)
) ENGINE=InnoDB DEFAULT CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;

-- CreateTable
CREATE TABLE `read_markers` (
    `user_id` VARCHAR(32) NOT NULL,
    `channel_id` VARCHAR(32) NOT NULL,
    `read_seq` BIGINT NOT NULL DEFAULT 0,
    `received_seq` BIGINT NOT NULL DEFAULT 0,
    `updated_at` DATETIME(3) NOT NULL,

    INDEX `read_markers_channel_id_idx`(`channel_id`),
    PRIMARY KEY (`user_id`, `channel_id`)
) ENGINE=InnoDB DEFAULT CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;

-- CreateTable
CREATE TABLE `notification_settings` (
    `user_id` VARCHAR(32) NOT NULL,
    `channel_id` VARCHAR(32) NOT NULL,
    `level` VARCHAR(16) NOT NULL,
    `muted_until` DATETIME(3) NULL,

    PRIMARY KEY (`user_id`, `channel_id`)
) ENGINE=InnoDB DEFAULT CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;

-- CreateTable
CREATE TABLE `push_subscriptions` (
    `id` VARCHAR(32) NOT NULL,
    `user_id` VARCHAR(32) NOT NULL,
    `endpoint` VARCHAR(512) NOT NULL,
    `p256dh` VARCHAR(128) NOT NULL,
    `auth` VARCHAR(64) NOT NULL,
    `created_at` DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),

    UNIQUE INDEX `push_subscriptions_endpoint_key`(`endpoint`),
    INDEX `push_subscriptions_user_id_idx`(`user_id`),
    PRIMARY KEY (`id`)
) ENGINE=InnoDB DEFAULT CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;
