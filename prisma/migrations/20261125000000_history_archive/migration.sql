-- History archive: a sealed partition of a channel's log is written once to object storage
-- as gzip-compressed NDJSON. object_key, sha256 (of the compressed bytes) and
-- archived_bytes describe that file; archived_at is when it was written, NULL while it is
-- still to be written (or must be written again, after the expiry sweeper purged the
-- content of a message in it). archive_version grows with every such invalidation, so an
-- archiver that read the partition before it never marks its stale file as current. The
-- archiver finds its work through (sealed, archived_at).

-- AlterTable
ALTER TABLE `delta_partitions` ADD COLUMN `object_key` VARCHAR(255) NULL;
ALTER TABLE `delta_partitions` ADD COLUMN `sha256` CHAR(64) NULL;
ALTER TABLE `delta_partitions` ADD COLUMN `archived_bytes` BIGINT NULL;
ALTER TABLE `delta_partitions` ADD COLUMN `archived_at` DATETIME(3) NULL;
ALTER TABLE `delta_partitions` ADD COLUMN `archive_version` INTEGER NOT NULL DEFAULT 0;

-- CreateIndex
CREATE INDEX `delta_partitions_sealed_archived_at_idx` ON `delta_partitions`(`sealed`, `archived_at`);

-- CreateIndex (SYNC by delta id reads a channel's deltas after a delta id in delta id order;
-- without it SQLite walks every delta of the channel and sorts)
CREATE INDEX `deltas_channel_id_delta_id_idx` ON `deltas`(`channel_id`, `delta_id`);
