-- Maintenance of vindex tables: check, compact, rebuild, and watch their state.
--
--   sqlite3 my.db '.load ./dist/vindex' '.read sql/maintenance.sql'   (on the sample below)

-- A sample table: 5,000 rows of 32-d vectors, then a third of them deleted.
CREATE VIRTUAL TABLE docs USING vindex(embedding float[32], category integer);
WITH RECURSIVE
  n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 5000),
  d(j) AS (SELECT 0 UNION ALL SELECT j + 1 FROM d WHERE j < 31)
INSERT INTO docs(rowid, embedding, category)
SELECT i, (SELECT json_group_array((i * 31 + j * 17) % 101 / 50.0 - 1.0) FROM d), i % 10 FROM n;
DELETE FROM docs WHERE rowid % 3 = 0;

-- 1. State of every vindex table and vector column (one row each): rows, free slots left by
-- deletes, chunks, bytes on disk, and the cache the process's connections share ('shared' for a
-- database file, 'private' for :memory: like this sample, 'off' after vindex_cache_limit(0)).
.mode box
SELECT table_name, column_name, rows, free_slots, chunks, bytes_on_disk, cache_state
  FROM vindex_status;

-- 2. Check: the shadow tables agree with each other (slot maps, vectors, rows). Returns
-- nothing when all is well; an error listing every problem otherwise.
INSERT INTO docs(docs) VALUES ('integrity-check');
-- On SQLite 3.44+, PRAGMA integrity_check runs the same check on every vindex table (and
-- works on read-only databases, where the INSERT above cannot run).
PRAGMA integrity_check;

-- 3. Compact: move rows into the holes deletes left and drop emptied chunks. Run it after
-- large deletes; it is one transaction (ROLLBACK undoes it) and deterministic.
INSERT INTO docs(docs) VALUES ('optimize');
SELECT table_name, rows, free_slots, chunks, bytes_on_disk FROM vindex_status;
-- The pages freed go to SQLite's freelist; VACUUM gives them back to the file system.
VACUUM;

-- 4. Rebuild: rewrite what is derived from the vectors (the int8 codes), start a new cache
-- epoch, and compact (use if 'integrity-check' reports damaged codes).
INSERT INTO docs(docs) VALUES ('rebuild');
SELECT table_name, rows, cache_state, cache_bytes FROM vindex_status;

-- Queries work the same after each step.
.mode list
SELECT count(*) FROM docs WHERE embedding MATCH (SELECT embedding FROM docs WHERE rowid = 1) AND k = 10;

-- 5. The process-wide memory budget for cached vectors (bytes): read it, or set it.
SELECT vindex_cache_limit() > 0;
