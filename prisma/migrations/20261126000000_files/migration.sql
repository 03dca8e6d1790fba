-- Files: uploads by link to object storage (files), and the messages that carry them
-- (attachments), written in the message's own append so that a file in use is never taken
-- for an orphan.

-- CreateTable
CREATE TABLE `files` (
    `file_id` VARCHAR(32) NOT NULL,
    `uploader_id` VARCHAR(32) NOT NULL,
    `channel_id` VARCHAR(32) NOT NULL,
    `name` VARCHAR(255) NOT NULL,
    `declared_type` VARCHAR(255) NOT NULL,
    `mime_type` VARCHAR(255) NULL,
    `size` BIGINT NOT NULL,
    `sha256` CHAR(64) NOT NULL,
    `status` VARCHAR(16) NOT NULL,
    `object_key` VARCHAR(255) NOT NULL,
    `upload_id` VARCHAR(255) NULL,
    `part_size` INTEGER NULL,
    `inline` BOOLEAN NOT NULL DEFAULT false,
    `width` INTEGER NULL,
    `height` INTEGER NULL,
    `thumb_key` VARCHAR(255) NULL,
    `thumb_width` INTEGER NULL,
    `thumb_height` INTEGER NULL,
    `created_at` DATETIME(3) NOT NULL,
    `confirmed_at` DATETIME(3) NULL,
    `attached_at` DATETIME(3) NULL,

    INDEX `files_status_created_at_idx`(`status`, `created_at`),
    INDEX `files_uploader_id_idx`(`uploader_id`),
    PRIMARY KEY (`file_id`)
) ENGINE=InnoDB DEFAULT CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;

-- CreateTable
CREATE TABLE `attachments` (
    `message_id` BIGINT NOT NULL,
    `file_id` VARCHAR(32) NOT NULL,
    `channel_id` VARCHAR(32) NOT NULL,
    `position` INTEGER NOT NULL,

    INDEX `attachments_file_id_idx`(`file_id`),
    PRIMARY KEY (`message_id`, `file_id`)
) ENGINE=InnoDB DEFAULT CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;
