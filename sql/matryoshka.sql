-- Matryoshka (shorter) embeddings: search the first dimensions only, renormalized, then
-- rescore the candidates with the full vectors. See docs/QUANTIZATION.md.
--
--   sqlite3 :memory: '.load ./dist/vindex' '.read sql/matryoshka.sql'
--
-- Models trained with Matryoshka representation learning (e.g. nomic-embed-text-v1.5,
-- OpenAI text-embedding-3-*, mxbai-embed-large-v1) put the most information into the first
-- dimensions, so a prefix of the vector, renormalized, is a usable smaller embedding. For
-- other models truncation loses much more: measure recall on your data (as below) first.

-- Sample data: 2,000 vectors of 256 dimensions whose early dimensions carry most of the
-- variance, as Matryoshka embeddings do (weight 1 / (1 + j / 16) for dimension j).
CREATE TABLE items(id INTEGER PRIMARY KEY, embedding BLOB NOT NULL);
WITH RECURSIVE
  n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 2000),
  d(j) AS (SELECT 0 UNION ALL SELECT j + 1 FROM d WHERE j < 255)
INSERT INTO items(id, embedding)
SELECT i, vec_normalize(vec_f32((SELECT json_group_array(
         (((i % 20) * 7 + j * 13) % 17 / 8.0 - 1.0
          + ((i * 7919 + j * 6133 + i * i * 31 + i * j * 3) % 1009 / 1009.0 - 0.5) * 1.6)
         / (1.0 + j / 16.0)
       ) FROM d)))
  FROM n;

-- Full vectors and 64-d prefixes in one table: vec_slice(v, 0, 64) keeps elements 0..63 and
-- vec_normalize makes the prefix unit length again, so cosine distances stay comparable.
CREATE VIRTUAL TABLE items_vec USING vindex(
  embedding float[256] distance=cosine,
  embedding_64 float[64] distance=cosine
);
INSERT INTO items_vec(rowid, embedding, embedding_64)
SELECT id, embedding, vec_normalize(vec_slice(embedding, 0, 64)) FROM items;

-- The query (item 1234, moved a little), full and shortened the same way.
.parameter init
INSERT INTO temp.sqlite_parameters(key, value)
SELECT ':q', vec_normalize(vec_add(embedding, vec_f32((SELECT json_group_array(0.01) FROM json_each(vec_to_json(embedding))))))
  FROM items WHERE id = 1234;
INSERT INTO temp.sqlite_parameters(key, value) SELECT ':q64', vec_normalize(vec_slice(:q, 0, 64));

-- THE RECIPE: 50 candidates from the 64-d prefixes (a quarter of the bytes to scan), rescored
-- with the full 256-d cosine distance.
.print 'prefix search + rescoring, top 10:'
SELECT rowid, printf('%.4f', vec_distance_cosine(embedding, :q)) AS distance
  FROM (SELECT rowid, embedding FROM items_vec WHERE embedding_64 MATCH :q64 AND k = 50)
 ORDER BY vec_distance_cosine(embedding, :q), rowid
 LIMIT 10;

CREATE TEMP TABLE exact AS SELECT rowid FROM items_vec WHERE embedding MATCH :q AND k = 10;
.print 'recall@10 against the full 256-d search:'
SELECT '64-d prefix alone: ' || count(*) || '/10'
  FROM (SELECT rowid FROM items_vec WHERE embedding_64 MATCH :q64 AND k = 10 LIMIT 10)
 WHERE rowid IN exact;
SELECT '64-d prefix, 50 candidates, rescored: ' || count(*) || '/10'
  FROM (SELECT rowid FROM (SELECT rowid, embedding FROM items_vec WHERE embedding_64 MATCH :q64 AND k = 50)
         ORDER BY vec_distance_cosine(embedding, :q), rowid LIMIT 10)
 WHERE rowid IN exact;

-- Storage: the prefix column costs 64 * 4 bytes a row; to save space instead of time, keep
-- only the prefix (float[64]) or store it as float16[64] or bit[64] (vec_quantize_binary).
SELECT 'bytes per row: full ' || length(embedding) || ', prefix ' || length(embedding_64)
  FROM items_vec WHERE rowid = 1;
