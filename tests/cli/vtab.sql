-- The vindex table through the sqlite3 CLI (3.40: no LIMIT push-down, so ORDER BY distance
-- LIMIT runs through the lazy cursor). Vectors hold small integers, so every distance is exact;
-- cosine distances are rounded anyway to keep the output short.

-- CREATE with every column kind.
CREATE VIRTUAL TABLE docs USING vindex(
  embedding float[4] distance=cosine,
  h float16[4] distance=l2,
  q int8[4] distance=l1,
  b bit[8] distance=hamming,
  category text, year integer, score float, raw blob,
  +body text, +extra
);
SELECT name FROM sqlite_schema ORDER BY name;
SELECT table_name, column_name, element_type, dimensions, metric, index_type, rows, free_slots, chunks, chunk_capacity, format_version FROM vindex_status ORDER BY column_name;

-- Inserts: JSON text, blobs as X'..' literals, vec_f32() / vec_f16() / vec_int8() / vec_bit().
INSERT INTO docs(rowid, embedding, h, q, b, category, year, score, raw, body, extra)
  VALUES (1, '[1, 0, 0, 0]', '[1, 0, 0, 0]', '[1, 0, 0, 0]', X'01', 'news', 2020, 0.5, X'CAFE', 'first', 42);
INSERT INTO docs(rowid, embedding, h, q, b, category, year, body)
  VALUES (2, X'000000000000803F0000000000000000', vec_f16('[0, 1, 0, 0]'), vec_int8('[0, 1, 0, 0]'), vec_bit(X'02'), 'blog', 2021, 'second');
INSERT INTO docs(rowid, embedding, h, q, b, category, year, body)
  VALUES (3, vec_f32('[1, 1, 0, 0]'), vec_f32('[1, 1, 0, 0]'), '[1, 1, 0, 0]', '[1,1,0,0,0,0,0,0]', 'news', 2022, 'third');
INSERT INTO docs(embedding, h, q, b, category, year, body)
  VALUES ('[0, 0, 1, 0]', '[0, 0, 2, 0]', '[0, 0, 2, 0]', X'04', NULL, 2023, 'fourth');
INSERT INTO docs(embedding, h, q, b, category, body)
  VALUES ('[1, 1, 1, 1]', '[2, 2, 2, 2]', '[-1, -1, -1, -1]', X'FF', 'news', 'fifth'),
         ('[-1, 0, 0, 0]', '[-1, 0, 0, 0]', '[-2, 0, 0, 0]', X'00', 'blog', 'sixth');
SELECT last_insert_rowid(), count(*) FROM docs;
SELECT rowid, vec_to_json(embedding), vec_to_json(h), vec_to_json(q), vec_to_json(b), category, year, score, hex(raw), body, extra FROM docs ORDER BY rowid;
SELECT typeof(embedding), vec_type(embedding), vec_type(h), vec_type(q), vec_type(b), hex(embedding) FROM docs WHERE rowid = 2;

-- KNN with k: ascending distance, ties by rowid.
SELECT rowid, round(distance, 6), body FROM docs WHERE embedding MATCH '[1, 0, 0, 0]' AND k = 3;
SELECT rowid, distance FROM docs WHERE h MATCH '[0, 0, 0, 0]' AND k = 10;
SELECT rowid, distance, typeof(distance) FROM docs WHERE q MATCH vec_int8('[1, 1, 0, 0]') AND k = 4;
SELECT rowid, distance FROM docs WHERE b MATCH vec_bit(X'03') AND k = 6;
SELECT rowid, distance FROM docs WHERE h MATCH vec_f16('[1, 0, 0, 0]') AND k = 0;
-- the query vector from another row
SELECT rowid, round(distance, 6) FROM docs WHERE embedding MATCH (SELECT embedding FROM docs WHERE rowid = 3) AND k = 2;

-- ORDER BY distance LIMIT: lazy on 3.40; OFFSET too.
SELECT rowid, distance FROM docs WHERE h MATCH '[0, 0, 0, 0]' ORDER BY distance LIMIT 3;
SELECT rowid, distance FROM docs WHERE h MATCH '[0, 0, 0, 0]' ORDER BY distance LIMIT 2 OFFSET 2;
SELECT rowid, distance FROM docs WHERE b MATCH X'00';

-- Filters inside the search.
SELECT rowid, round(distance, 6) FROM docs WHERE embedding MATCH '[1, 0, 0, 0]' AND k = 10 AND category = 'news';
SELECT rowid, round(distance, 6) FROM docs WHERE embedding MATCH '[1, 0, 0, 0]' AND k = 10 AND category = 'NEWS' COLLATE NOCASE AND year >= 2021;
SELECT rowid, distance FROM docs WHERE h MATCH '[0, 0, 0, 0]' AND k = 10 AND category IN ('blog', 'other');
SELECT rowid, distance FROM docs WHERE h MATCH '[0, 0, 0, 0]' AND k = 10 AND category IS NULL;
SELECT rowid, distance FROM docs WHERE h MATCH '[0, 0, 0, 0]' AND k = 10 AND year IS NOT NULL AND year BETWEEN 2021 AND 2023;
SELECT rowid, distance FROM docs WHERE h MATCH '[0, 0, 0, 0]' AND k = 10 AND category LIKE 'n%' AND score IS NULL;
SELECT rowid, distance FROM docs WHERE h MATCH '[0, 0, 0, 0]' AND k = 10 AND rowid IN (1, 3, 5, 99);
SELECT rowid, distance FROM docs WHERE h MATCH '[0, 0, 0, 0]' AND k = 10 AND rowid IN (SELECT value FROM json_each('[2, 4, 6]'));
SELECT rowid, distance FROM docs WHERE h MATCH '[0, 0, 0, 0]' AND k = 10 AND rowid > 2 AND rowid != 4;
SELECT rowid, distance FROM docs WHERE h MATCH '[0, 0, 0, 0]' AND k = 10 AND body LIKE '%th';
SELECT rowid, distance FROM docs WHERE h MATCH '[0, 0, 0, 0]' AND k = 10 AND distance < 2;
SELECT rowid, distance FROM docs WHERE h MATCH '[0, 0, 0, 0]' AND k = 2 AND distance >= 1;
SELECT rowid, distance FROM docs WHERE h MATCH '[0, 0, 0, 0]' AND distance > 1 AND distance <= 2;
SELECT rowid, distance FROM docs WHERE h MATCH '[0, 0, 0, 0]' AND extra = 42 ORDER BY distance LIMIT 5;

-- Point lookups and scans.
SELECT rowid, body FROM docs WHERE rowid = 3;
SELECT rowid, body FROM docs WHERE category = 'news' ORDER BY rowid;
SELECT count(*) FROM docs WHERE year > 2020;

-- EXPLAIN QUERY PLAN.
EXPLAIN QUERY PLAN SELECT rowid FROM docs WHERE embedding MATCH '[1, 0, 0, 0]' AND k = 10 AND category = 'news' AND year >= 2020;
EXPLAIN QUERY PLAN SELECT rowid FROM docs WHERE h MATCH '[1, 0, 0, 0]' ORDER BY distance LIMIT 5;
EXPLAIN QUERY PLAN SELECT rowid FROM docs WHERE q MATCH '[1, 0, 0, 0]' AND k = 3 AND category = 'x' COLLATE NOCASE AND distance < 5;
EXPLAIN QUERY PLAN SELECT * FROM docs WHERE category = 'news';
EXPLAIN QUERY PLAN SELECT * FROM docs WHERE rowid = 1;

-- UPDATE: vectors, metadata, auxiliary columns, rowid.
UPDATE docs SET embedding = '[0, 0, 0, 1]', category = 'moved', body = 'first, updated' WHERE rowid = 1;
UPDATE docs SET rowid = 10 WHERE rowid = 2;
UPDATE docs SET year = NULL, extra = 'x' WHERE category = 'blog';
SELECT rowid, vec_to_json(embedding), category, year, body, extra FROM docs ORDER BY rowid;
SELECT rowid, round(distance, 6) FROM docs WHERE embedding MATCH '[0, 0, 0, 1]' AND k = 2;
SELECT rowid, distance FROM docs WHERE q MATCH '[0, 1, 0, 0]' AND k = 1;

-- DELETE, then an insert reuses the freed slot.
DELETE FROM docs WHERE rowid = 4;
DELETE FROM docs WHERE category = 'blog' AND rowid > 6;
SELECT rows, free_slots, chunks FROM vindex_status WHERE column_name = 'embedding';
INSERT INTO docs(rowid, embedding, h, q, b) VALUES (20, '[0, 1, 1, 0]', '[0, 1, 1, 0]', '[0, 1, 1, 0]', X'06');
SELECT rows, free_slots, chunks FROM vindex_status WHERE column_name = 'embedding';
SELECT rowid FROM docs ORDER BY rowid;

-- OR REPLACE and OR IGNORE.
INSERT OR IGNORE INTO docs(rowid, embedding, h, q, b, body) VALUES (3, '[9, 9, 9, 9]', '[9, 9, 9, 9]', '[9, 9, 9, 9]', X'09', 'ignored');
SELECT rowid, vec_to_json(embedding), body FROM docs WHERE rowid = 3;
INSERT OR REPLACE INTO docs(rowid, embedding, h, q, b, body) VALUES (3, '[9, 9, 9, 9]', '[9, 9, 9, 9]', '[9, 9, 9, 9]', X'09', 'replaced');
SELECT rowid, vec_to_json(embedding), category, year, body FROM docs WHERE rowid = 3;
UPDATE OR REPLACE docs SET rowid = 5 WHERE rowid = 3;
SELECT rowid, body FROM docs ORDER BY rowid;
INSERT INTO docs(rowid, embedding, h, q, b) VALUES (5, '[1, 2, 3, 4]', '[1, 2, 3, 4]', '[1, 2, 3, 4]', X'01');

-- Commands and status.
INSERT INTO docs(docs) VALUES ('integrity-check');
INSERT INTO docs(docs) VALUES ('optimize');
INSERT INTO docs(docs) VALUES ('rebuild');
INSERT INTO docs(docs) VALUES ('integrity-check');
INSERT INTO docs(docs) VALUES ('vacuum');
SELECT schema, table_name, column_name, element_type, dimensions, metric, rows, free_slots, chunks FROM vindex_status ORDER BY column_name;

-- Primary keys.
CREATE VIRTUAL TABLE words USING vindex(word text primary key, v float[2], lang text);
INSERT INTO words(word, v, lang) VALUES ('river', '[1, 0]', 'en'), ('fleuve', '[1, 1]', 'fr'), ('Fluss', '[0, 1]', 'de');
SELECT rowid, word, lang FROM words ORDER BY rowid;
SELECT word, distance FROM words WHERE v MATCH '[1, 0]' AND k = 2;
SELECT word, distance FROM words WHERE v MATCH '[1, 0]' AND k = 3 AND word > 'G';
SELECT word FROM words WHERE word = 'fleuve';
INSERT INTO words(word, v) VALUES ('river', '[0, 0]');
INSERT INTO words(v) VALUES ('[0, 0]');
INSERT OR REPLACE INTO words(word, v, lang) VALUES ('river', '[2, 0]', 'en-GB');
SELECT word, vec_to_json(v), lang FROM words ORDER BY word;
CREATE VIRTUAL TABLE items USING vindex(id integer primary key, v int8[2]);
INSERT INTO items(id, v) VALUES (7, '[1, 2]'), (3, '[3, 4]');
INSERT INTO items(v) VALUES ('[5, 6]');
SELECT id, rowid, vec_to_json(v) FROM items ORDER BY id;
SELECT id, distance FROM items WHERE v MATCH '[0, 0]' AND k = 5 AND id < 8;

-- Errors (each names the problem and writes nothing).
INSERT INTO docs(rowid, embedding, h, q, b) VALUES (30, '[1, 2, 3]', '[1, 2, 3, 4]', '[1, 2, 3, 4]', X'01');
INSERT INTO docs(rowid, embedding, h, q, b) VALUES (30, '[0, 0, 0, 0]', '[1, 2, 3, 4]', '[1, 2, 3, 4]', X'01');
INSERT INTO docs(rowid, embedding, h, q, b) VALUES (30, '[1, 2, 3, 4]', '[1e5, 2, 3, 4]', '[1, 2, 3, 4]', X'01');
INSERT INTO docs(rowid, embedding, h, q, b) VALUES (30, '[1, 2, 3, 4]', '[1, 2, 3, 4]', '[1, 2, 3, 400]', X'01');
INSERT INTO docs(rowid, embedding, h, q, b) VALUES (30, '[1, 2, 3, 4]', '[1, 2, 3, 4]', '[1, 2, 3, 4]', X'0102');
INSERT INTO docs(rowid, embedding, h, q, b) VALUES (30, X'0000803F', '[1, 2, 3, 4]', '[1, 2, 3, 4]', X'01');
INSERT INTO docs(rowid, embedding, h, q, b) VALUES (30, '[1, 2, 3, 4', '[1, 2, 3, 4]', '[1, 2, 3, 4]', X'01');
INSERT INTO docs(rowid, embedding, h, q, b, year) VALUES (30, '[1, 2, 3, 4]', '[1, 2, 3, 4]', '[1, 2, 3, 4]', X'01', 'soon');
INSERT INTO docs(rowid, embedding, h, q, b) VALUES (1, '[1, 2, 3, 4]', '[1, 2, 3, 4]', '[1, 2, 3, 4]', X'01');
INSERT INTO docs(embedding, h, q, b, distance) VALUES ('[1, 2, 3, 4]', '[1, 2, 3, 4]', '[1, 2, 3, 4]', X'01', 0);
UPDATE docs SET embedding = NULL WHERE rowid = 1;
UPDATE docs SET rowid = 5 WHERE rowid = 1;
SELECT rowid FROM docs WHERE embedding MATCH '[1, 2]' AND k = 3;
SELECT rowid FROM docs WHERE embedding MATCH '[1, 0, 0, 0]' AND k = -1;
SELECT rowid FROM docs WHERE embedding MATCH vec_int8('[1, 0, 0, 0]') AND k = 3;
SELECT rowid FROM docs WHERE category MATCH 'news';
SELECT rowid FROM docs WHERE k = 3;
SELECT rowid FROM docs WHERE embedding MATCH '[1, 0, 0, 0]' AND h MATCH '[1, 0, 0, 0]' AND k = 3;
SELECT rowid FROM docs WHERE embedding MATCH '[1, 0, 0, 0]' AND k = 3 AND distance < 'far';
INSERT INTO docs(docs) VALUES ('frobnicate');
CREATE VIRTUAL TABLE bad USING vindex(v float[0]);
CREATE VIRTUAL TABLE bad USING vindex(v bit[8] distance=cosine);
CREATE VIRTUAL TABLE bad USING vindex(v float[4], k integer);
SELECT count(*) FROM sqlite_schema WHERE name LIKE 'bad%';
SELECT rowid FROM docs ORDER BY rowid;
INSERT INTO docs(docs) VALUES ('integrity-check');

-- ALTER TABLE RENAME: the shadow tables follow.
ALTER TABLE docs RENAME TO articles;
SELECT name FROM sqlite_schema WHERE type = 'table' ORDER BY name;
SELECT rowid, round(distance, 6) FROM articles WHERE embedding MATCH '[1, 1, 0, 0]' AND k = 2;
INSERT INTO articles(articles) VALUES ('integrity-check');
SELECT table_name, column_name, rows FROM vindex_status ORDER BY 1, 2;

-- ATTACH: a vindex table in another database file.
ATTACH 'other.db' AS other;
CREATE VIRTUAL TABLE other.notes USING vindex(v float[2], tag text);
INSERT INTO other.notes(rowid, v, tag) VALUES (1, '[1, 0]', 'a'), (2, '[0, 1]', 'b'), (3, '[1, 1]', 'a');
SELECT rowid, distance FROM other.notes WHERE v MATCH '[1, 0]' AND k = 2 AND tag = 'a';
SELECT rowid, distance FROM other.notes WHERE v MATCH '[0, 1]' ORDER BY distance LIMIT 1;
SELECT name FROM other.sqlite_schema WHERE type = 'table' ORDER BY name;
SELECT schema, table_name, rows FROM vindex_status ORDER BY 1, 2, column_name;
INSERT INTO other.notes(notes) VALUES ('integrity-check');
DETACH other;
ATTACH 'other.db' AS again;
SELECT rowid, tag FROM again.notes ORDER BY rowid;
DROP TABLE again.notes;
SELECT count(*) FROM again.sqlite_schema;
DETACH again;

-- DROP TABLE removes every shadow table.
DROP TABLE articles;
DROP TABLE words;
DROP TABLE items;
SELECT count(*) FROM sqlite_schema;
SELECT count(*) FROM vindex_status;
