-- Message search (docs/protocol.md, "Search"): a FULLTEXT index over the current content of
-- messages (InnoDB). Creating it indexes the existing rows; InnoDB keeps it up to date on
-- every INSERT and UPDATE from then on (edits replace the content, deletes and expiry set it
-- to NULL), at commit time.
--
-- InnoDB does not index words shorter than innodb_ft_min_token_size (3 by default) or
-- longer than innodb_ft_max_token_size (84), nor its stopwords (the 36 words of
-- information_schema.INNODB_FT_DEFAULT_STOPWORD unless innodb_ft_server_stopword_table says
-- otherwise); the search service matches such words with LIKE instead (docs/operations.md).
-- Changing those settings needs the index rebuilt (docs/operations.md, "Search index").

-- CreateIndex
CREATE FULLTEXT INDEX `messages_content_idx` ON `messages`(`content`);
