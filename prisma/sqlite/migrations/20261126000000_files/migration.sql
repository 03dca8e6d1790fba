-- Files (the SQLite twin of prisma/migrations/20261126000000_files).

-- CreateTable
CREATE TABLE "files" (
    "file_id" TEXT NOT NULL PRIMARY KEY,
    "uploader_id" TEXT NOT NULL,
    "channel_id" TEXT NOT NULL,
    "name" TEXT NOT NULL,
    "declared_type" TEXT NOT NULL,
    "mime_type" TEXT,
    "size" BIGINT NOT NULL,
    "sha256" TEXT NOT NULL,
    "status" TEXT NOT NULL,
    "object_key" TEXT NOT NULL,
    "upload_id" TEXT,
    "part_size" INTEGER,
    "inline" BOOLEAN NOT NULL DEFAULT false,
    "width" INTEGER,
    "height" INTEGER,
    "thumb_key" TEXT,
    "thumb_width" INTEGER,
    "thumb_height" INTEGER,
    "created_at" DATETIME NOT NULL,
    "confirmed_at" DATETIME,
    "attached_at" DATETIME
);

-- CreateTable
CREATE TABLE "attachments" (
    "message_id" BIGINT NOT NULL,
    "file_id" TEXT NOT NULL,
    "channel_id" TEXT NOT NULL,
    "position" INTEGER NOT NULL,

    PRIMARY KEY ("message_id", "file_id")
);

-- CreateIndex
CREATE INDEX "files_status_created_at_idx" ON "files"("status", "created_at");

-- CreateIndex
CREATE INDEX "files_uploader_id_idx" ON "files"("uploader_id");

-- CreateIndex
CREATE INDEX "attachments_file_id_idx" ON "attachments"("file_id");
