-- History archive (the SQLite twin of prisma/migrations/20261125000000_history_archive).

-- AlterTable
ALTER TABLE "delta_partitions" ADD COLUMN "object_key" TEXT;
ALTER TABLE "delta_partitions" ADD COLUMN "sha256" TEXT;
ALTER TABLE "delta_partitions" ADD COLUMN "archived_bytes" BIGINT;
ALTER TABLE "delta_partitions" ADD COLUMN "archived_at" DATETIME;
ALTER TABLE "delta_partitions" ADD COLUMN "archive_version" INTEGER NOT NULL DEFAULT 0;

-- CreateIndex
CREATE INDEX "delta_partitions_sealed_archived_at_idx" ON "delta_partitions"("sealed", "archived_at");

-- CreateIndex (SYNC by delta id reads a channel's deltas after a delta id in delta id order;
-- without it SQLite walks every delta of the channel and sorts)
CREATE INDEX "deltas_channel_id_delta_id_idx" ON "deltas"("channel_id", "delta_id");
