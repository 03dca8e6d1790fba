-- Identity, servers, chats and access control.

-- AlterTable
ALTER TABLE `users` ADD COLUMN `status_text` VARCHAR(256) NULL,
    ADD COLUMN `timezone` VARCHAR(64) NULL,
    ADD COLUMN `icon_file_id` VARCHAR(64) NULL,
    ADD COLUMN `deleted_at` DATETIME(3) NULL;

-- AlterTable
ALTER TABLE `servers` ADD COLUMN `icon_file_id` VARCHAR(64) NULL,
    ADD COLUMN `member_count` INTEGER NOT NULL DEFAULT 0,
    ADD COLUMN `deleted_at` DATETIME(3) NULL;

-- AlterTable
ALTER TABLE `server_users` ADD COLUMN `muted_until` DATETIME(3) NULL;

-- AlterTable
ALTER TABLE `channels` ADD COLUMN `position` INTEGER NOT NULL DEFAULT 0,
    ADD COLUMN `icon_file_id` VARCHAR(64) NULL,
    ADD COLUMN `dm_key` VARCHAR(65) NULL,
    ADD COLUMN `closed_at` DATETIME(3) NULL;

-- CreateIndex
CREATE UNIQUE INDEX `channels_dm_key_key` ON `channels`(`dm_key`);

-- CreateTable
CREATE TABLE `auth_sessions` (
    `id` VARCHAR(32) NOT NULL,
    `user_id` VARCHAR(32) NOT NULL,
    `refresh_hash` VARCHAR(64) NOT NULL,
    `client_id` VARCHAR(128) NULL,
    `created_at` DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
    `expires_at` DATETIME(3) NOT NULL,
    `revoked_at` DATETIME(3) NULL,

    UNIQUE INDEX `auth_sessions_refresh_hash_key`(`refresh_hash`),
    INDEX `auth_sessions_user_id_idx`(`user_id`),
    PRIMARY KEY (`id`)
) ENGINE=InnoDB DEFAULT CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;

-- CreateTable
CREATE TABLE `devices` (
    `client_id` VARCHAR(128) NOT NULL,
    `user_id` VARCHAR(32) NOT NULL,
    `platform` VARCHAR(32) NOT NULL DEFAULT 'unknown',
    `name` VARCHAR(128) NULL,
    `first_seen` DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
    `last_seen` DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
    `revoked_at` DATETIME(3) NULL,

    INDEX `devices_user_id_idx`(`user_id`),
    PRIMARY KEY (`client_id`)
) ENGINE=InnoDB DEFAULT CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;

-- CreateTable
CREATE TABLE `favorites` (
    `user_id` VARCHAR(32) NOT NULL,
    `favorite_id` VARCHAR(32) NOT NULL,
    `created_at` DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),

    PRIMARY KEY (`user_id`, `favorite_id`)
) ENGINE=InnoDB DEFAULT CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;

-- CreateTable
CREATE TABLE `blocks` (
    `user_id` VARCHAR(32) NOT NULL,
    `blocked_id` VARCHAR(32) NOT NULL,
    `created_at` DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),

    INDEX `blocks_blocked_id_idx`(`blocked_id`),
    PRIMARY KEY (`user_id`, `blocked_id`)
) ENGINE=InnoDB DEFAULT CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;

-- CreateTable
CREATE TABLE `server_bans` (
    `server_id` VARCHAR(32) NOT NULL,
    `user_id` VARCHAR(32) NOT NULL,
    `reason` VARCHAR(512) NULL,
    `banned_by` VARCHAR(32) NOT NULL,
    `created_at` DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),

    PRIMARY KEY (`server_id`, `user_id`)
) ENGINE=InnoDB DEFAULT CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;

-- CreateTable
CREATE TABLE `channel_overrides` (
    `channel_id` VARCHAR(32) NOT NULL,
    `server_id` VARCHAR(32) NOT NULL,
    `target_type` VARCHAR(8) NOT NULL,
    `target` VARCHAR(32) NOT NULL,
    `allow` INTEGER NOT NULL DEFAULT 0,
    `deny` INTEGER NOT NULL DEFAULT 0,

    INDEX `channel_overrides_server_id_idx`(`server_id`),
    PRIMARY KEY (`channel_id`, `target_type`, `target`)
) ENGINE=InnoDB DEFAULT CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;

-- CreateTable
CREATE TABLE `invites` (
    `code` VARCHAR(32) NOT NULL,
    `server_id` VARCHAR(32) NULL,
    `channel_id` VARCHAR(32) NULL,
    `created_by` VARCHAR(32) NOT NULL,
    `created_at` DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
    `expires_at` DATETIME(3) NULL,
    `max_uses` INTEGER NULL,
    `uses` INTEGER NOT NULL DEFAULT 0,
    `revoked_at` DATETIME(3) NULL,

    INDEX `invites_server_id_idx`(`server_id`),
    INDEX `invites_channel_id_idx`(`channel_id`),
    PRIMARY KEY (`code`)
) ENGINE=InnoDB DEFAULT CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;

-- Data: every server gets its own log (a channel of kind server whose id is the server id),
-- member counts, and 1:1 chats their pair key.
INSERT INTO `channels` (`id`, `server_id`, `kind`, `name`) SELECT `id`, `id`, 'server', `name` FROM `servers`;
UPDATE `servers` SET `member_count` = (SELECT COUNT(*) FROM `server_users` WHERE `server_users`.`server_id` = `servers`.`id`);
UPDATE `channels` SET `dm_key` = (SELECT CONCAT(MIN(`user_id`), ':', MAX(`user_id`)) FROM `chat_members` WHERE `chat_members`.`channel_id` = `channels`.`id`) WHERE `kind` = 'dm';
