-- Notifications: who asked for every message of a channel is found through
-- (channel_id, level), so a post to a channel of a large server reads those users only,
-- never all of its members.

-- CreateIndex
CREATE INDEX `notification_settings_channel_id_level_idx` ON `notification_settings`(`channel_id`, `level`);
