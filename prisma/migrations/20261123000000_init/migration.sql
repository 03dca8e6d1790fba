-- CreateTable
CREATE TABLE `users` (
    `id` VARCHAR(32) NOT NULL,
    `username` VARCHAR(64) NOT NULL,
    `password_hash` VARCHAR(255) NOT NULL,
    `display_name` VARCHAR(128) NOT NULL,
    `created_at` DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),

    UNIQUE INDEX `users_username_key`(`username`),
    PRIMARY KEY (`id`)
) ENGINE=InnoDB DEFAULT CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;

-- CreateTable
CREATE TABLE `servers` (
    `id` VARCHAR(32) NOT NULL,
    `name` VARCHAR(255) NOT NULL,
    `owner_id` VARCHAR(32) NOT NULL,
    `description` TEXT NULL,
    `max_users` INTEGER NOT NULL DEFAULT 1000000,
    `is_public` BOOLEAN NOT NULL DEFAULT true,
    `created_at` DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),

    INDEX `servers_owner_id_idx`(`owner_id`),
    INDEX `servers_is_public_idx`(`is_public`),
    PRIMARY KEY (`id`)
) ENGINE=InnoDB DEFAULT CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;

-- CreateTable
CREATE TABLE `server_users` (
    `server_id` VARCHAR(32) NOT NULL,
    `user_id` VARCHAR(32) NOT NULL,
    `role` VARCHAR(16) NOT NULL,
    `joined_at` DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),

    INDEX `server_users_user_id_idx`(`user_id`),
    PRIMARY KEY (`server_id`, `user_id`)
) ENGINE=InnoDB DEFAULT CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;

-- CreateTable
CREATE TABLE `channels` (
    `id` VARCHAR(32) NOT NULL,
    `server_id` VARCHAR(32) NULL,
    `kind` VARCHAR(16) NOT NULL,
    `name` VARCHAR(255) NOT NULL,
    `created_at` DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
    `last_seq` BIGINT NOT NULL DEFAULT 0,
    `partition_no` INTEGER NOT NULL DEFAULT 0,
    `partition_deltas` INTEGER NOT NULL DEFAULT 0,
    `partition_bytes` BIGINT NOT NULL DEFAULT 0,

    INDEX `channels_server_id_idx`(`server_id`),
    PRIMARY KEY (`id`)
) ENGINE=InnoDB DEFAULT CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;

-- CreateTable
CREATE TABLE `chat_members` (
    `channel_id` VARCHAR(32) NOT NULL,
    `user_id` VARCHAR(32) NOT NULL,
    `role` VARCHAR(16) NOT NULL,
    `joined_at` DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),

    INDEX `chat_members_user_id_idx`(`user_id`),
    PRIMARY KEY (`channel_id`, `user_id`)
) ENGINE=InnoDB DEFAULT CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;

-- CreateTable
CREATE TABLE `deltas` (
    `delta_id` BIGINT NOT NULL,
    `channel_id` VARCHAR(32) NOT NULL,
    `seq` BIGINT NOT NULL,
    `type` VARCHAR(32) NOT NULL,
    `user_id` VARCHAR(32) NOT NULL,
    `content` TEXT NULL,
    `client_msg_id` VARCHAR(64) NULL,
    `attachments` JSON NULL,
    `is_partition_head` BOOLEAN NOT NULL DEFAULT false,
    `timestamp` DATETIME(3) NOT NULL,

    UNIQUE INDEX `deltas_channel_id_seq_key`(`channel_id`, `seq`),
    UNIQUE INDEX `deltas_user_id_client_msg_id_key`(`user_id`, `client_msg_id`),
    INDEX `deltas_channel_id_timestamp_idx`(`channel_id`, `timestamp`),
    PRIMARY KEY (`delta_id`)
) ENGINE=InnoDB DEFAULT CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;

-- CreateTable
CREATE TABLE `delta_partitions` (
    `channel_id` VARCHAR(32) NOT NULL,
    `partition_no` INTEGER NOT NULL,
    `start_delta_id` BIGINT NOT NULL,
    `end_delta_id` BIGINT NOT NULL,
    `start_seq` BIGINT NOT NULL,
    `end_seq` BIGINT NOT NULL,
    `delta_count` INTEGER NOT NULL,
    `byte_size` BIGINT NOT NULL,
    `sealed` BOOLEAN NOT NULL DEFAULT false,
    `created_at` DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),

    PRIMARY KEY (`channel_id`, `partition_no`)
) ENGINE=InnoDB DEFAULT CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;

-- CreateTable
CREATE TABLE `messages` (
    `message_id` BIGINT NOT NULL,
    `channel_id` VARCHAR(32) NOT NULL,
    `seq` BIGINT NOT NULL,
    `user_id` VARCHAR(32) NOT NULL,
    `content` TEXT NULL,
    `timestamp` DATETIME(3) NOT NULL,
    `is_edited` BOOLEAN NOT NULL DEFAULT false,
    `is_deleted` BOOLEAN NOT NULL DEFAULT false,

    INDEX `messages_channel_id_seq_idx`(`channel_id`, `seq`),
    INDEX `messages_user_id_idx`(`user_id`),
    PRIMARY KEY (`message_id`)
) ENGINE=InnoDB DEFAULT CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;

-- CreateTable
CREATE TABLE `sequencer` (
    `id` INTEGER NOT NULL,
    `last_delta_id` BIGINT NOT NULL DEFAULT 0,

    PRIMARY KEY (`id`)
) ENGINE=InnoDB DEFAULT CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;

-- The single sequencer row: appends lock it so that delta_id follows commit order.
INSERT INTO `sequencer` (`id`, `last_delta_id`) VALUES (1, 0);
