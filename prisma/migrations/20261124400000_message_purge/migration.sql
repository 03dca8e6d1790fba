-- Secret chats: the expiry sweeper marks each message whose content it purged, so that API
-- sidecars sweeping at once never purge a message twice, and finds the next expired ones
-- through (purged_at, expires_at) without scanning those purged before.

-- AlterTable
ALTER TABLE `messages` ADD COLUMN `purged_at` DATETIME(3) NULL;

-- CreateIndex
CREATE INDEX `messages_purged_at_expires_at_idx` ON `messages`(`purged_at`, `expires_at`);
