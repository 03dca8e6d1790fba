-- Message search (docs/protocol.md, "Search"): an FTS5 table over the current content of
-- messages. It is an external-content table (content='messages'): it keeps only the index
-- and reads the text (for snippets) from messages itself, by message_id. The triggers below
-- keep it in step with every INSERT, UPDATE of content (edits; deletes and expiry set the
-- content to NULL) and DELETE on messages, in the same transaction. The drift check
-- (api/src/db/schema-drift.ts, SQLITE_SEARCH_EXTRAS) requires exactly these objects.
--
-- Tokens: runs of letters, digits and "_" (unicode61 with "_" as a token character, like
-- InnoDB's parser), case-folded and without diacritics ("Café" matches "cafe").

-- CreateVirtualTable
CREATE VIRTUAL TABLE "messages_fts" USING fts5(
    "content",
    content='messages',
    content_rowid='message_id',
    tokenize="unicode61 remove_diacritics 2 tokenchars '_'"
);

-- CreateTrigger: every messages row has its FTS5 row, also while its content is NULL
-- (which indexes nothing), as FTS5's integrity-check expects of an external-content table.
CREATE TRIGGER "messages_fts_insert" AFTER INSERT ON "messages" BEGIN
    INSERT INTO "messages_fts" (rowid, "content") VALUES (new."message_id", new."content");
END;

-- CreateTrigger: the old text must be given back exactly to take it out of the index.
CREATE TRIGGER "messages_fts_update" AFTER UPDATE OF "content" ON "messages" WHEN old."content" IS NOT new."content" BEGIN
    INSERT INTO "messages_fts" ("messages_fts", rowid, "content") VALUES ('delete', old."message_id", old."content");
    INSERT INTO "messages_fts" (rowid, "content") VALUES (new."message_id", new."content");
END;

-- CreateTrigger
CREATE TRIGGER "messages_fts_delete" AFTER DELETE ON "messages" BEGIN
    INSERT INTO "messages_fts" ("messages_fts", rowid, "content") VALUES ('delete', old."message_id", old."content");
END;

-- Backfill: index the messages that exist already.
INSERT INTO "messages_fts" ("messages_fts") VALUES ('rebuild');
