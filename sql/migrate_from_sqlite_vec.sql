-- Moving a sqlite-vec (vec0) table to vindex in one statement, and the queries that change.
--
--   sqlite3 my.db '.load ./dist/vindex' '.read sql/migrate_from_sqlite_vec.sql'   (on the sample below)
--
-- vindex reads the vec0 table's own shadow tables, so sqlite-vec does not have to be loaded
-- for the import. This recipe loads it anyway, to make the sample and to compare answers
-- (tests/python/test_recipes.py loads it before vindex: the later extension's vec_* functions
-- win, and vec0 itself needs none of them).
-- needs: sqlite-vec

-- A sample vec0 table as sqlite-vec 0.1.9 makes it: 300 documents of 3 users, each with a
-- category, a body, and some deleted.
CREATE VIRTUAL TABLE old_docs USING vec0(
  embedding float[8] distance_metric=cosine,
  user_id integer partition key,
  category text,
  +body text
);
WITH RECURSIVE
  n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 300),
  d(j) AS (SELECT 0 UNION ALL SELECT j + 1 FROM d WHERE j < 7)
INSERT INTO old_docs(rowid, embedding, user_id, category, body)
SELECT i, (SELECT json_group_array((i * 131 + j * 17 + i * j * 7) % 997 / 500.0 - 1.0) FROM d),
       i % 3, CASE i % 4 WHEN 0 THEN 'news' ELSE 'blog' END, 'document ' || i
  FROM n;
DELETE FROM old_docs WHERE rowid % 10 = 0;

-- 1. The move: creates docs with the same columns and copies every row (rowids, vectors,
-- metadata, partition keys, auxiliary columns), in the current transaction.
.print 'rows copied:'
SELECT vindex_import_vec0('old_docs', 'docs');
.print 'the table it made:'
SELECT sql FROM sqlite_schema WHERE name = 'docs';
-- Into a table of your own design instead, whose columns match by name (here an HNSW index):
--   CREATE VIRTUAL TABLE docs2 USING vindex(embedding float[8] distance=cosine,
--     user_id integer partition key, category text, +body text, index=hnsw(m=16));
--   INSERT INTO docs2(docs2) VALUES ('import=old_docs');
-- or in one statement: SELECT vindex_import_vec0('old_docs', 'docs2', 'index=hnsw(m=16)');

-- 2. The same query on both: same rows, same distances (to float32 precision).
.print 'vec0:'
SELECT rowid, printf('%.5f', distance), category FROM old_docs
 WHERE embedding MATCH '[1, 0, 1, 0, 1, 0, 1, 0]' AND k = 4 AND user_id = 1;
.print 'vindex:'
SELECT rowid, printf('%.5f', distance), category FROM docs
 WHERE embedding MATCH '[1, 0, 1, 0, 1, 0, 1, 0]' AND k = 4 AND user_id = 1;

-- 3. Rewrites.
-- a) SELECT * : vec0 declares rowid as a visible column, vindex does not (as ordinary tables).
.print 'SELECT rowid, * :'
SELECT rowid, user_id, category, body FROM docs WHERE rowid = 7;
-- b) k rows per partition: vec0 runs `user_id IN (0, 2)` once per value (k rows each); vindex
--    returns the k best of both partitions together. For k per partition, drive the search
--    from a list with CROSS JOIN (it keeps the list as the outer loop):
.print 'k = 2 per user:'
SELECT u.value AS user_id, docs.rowid, printf('%.5f', docs.distance)
  FROM json_each('[0, 2]') AS u
 CROSS JOIN docs ON docs.embedding MATCH '[1, 0, 1, 0, 1, 0, 1, 0]' AND docs.k = 2 AND docs.user_id = u.value;
-- c) Filters vec0 refuses work: IN on any type, LIKE, IS NULL, filters on auxiliary columns.
.print 'filters vec0 refuses:'
SELECT rowid, printf('%.5f', distance) FROM docs
 WHERE embedding MATCH '[1, 0, 1, 0, 1, 0, 1, 0]' AND k = 3 AND category LIKE 'ne%' AND body LIKE '%2%';
-- d) ORDER BY distance LIMIT n needs no k, on every SQLite version (3.40 too), and k has no cap.
.print 'ORDER BY distance LIMIT 3:'
SELECT rowid FROM docs WHERE embedding MATCH '[1, 0, 1, 0, 1, 0, 1, 0]' ORDER BY distance LIMIT 3;

-- 4. Check, then drop the old table (DROP TABLE of a vec0 table needs sqlite-vec loaded; without
-- it, the old table can simply stay).
INSERT INTO docs(docs) VALUES ('integrity-check');
DROP TABLE old_docs;
.print 'left:'
SELECT name FROM sqlite_schema WHERE name LIKE 'old_docs%';
SELECT table_name, rows, partitions FROM vindex_status;
