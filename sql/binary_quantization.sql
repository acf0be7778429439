-- Binary quantization with rescoring: search 1-bit codes (32x smaller than float32), then
-- rescore the candidates with the full vectors. See docs/QUANTIZATION.md.
--
--   sqlite3 :memory: '.load ./dist/vindex' '.read sql/binary_quantization.sql'

-- Sample data: 2,000 vectors of 256 dimensions around 20 centres (a stand-in for real
-- embeddings; any float32 vectors work). Made in SQL so the recipe needs no files.
CREATE TABLE items(id INTEGER PRIMARY KEY, embedding BLOB NOT NULL);
WITH RECURSIVE
  n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 2000),
  d(j) AS (SELECT 0 UNION ALL SELECT j + 1 FROM d WHERE j < 255)
INSERT INTO items(id, embedding)
SELECT i, vec_f32((SELECT json_group_array(
         ((i % 20) * 7 + j * 13) % 17 / 8.0 - 1.0                                 -- the centre
         + ((i * 7919 + j * 6133 + i * i * 31 + i * j * 3) % 1009 / 1009.0 - 0.5) * 1.6  -- noise
       ) FROM d))
  FROM n;

-- One vindex table, two vector columns: the full vectors (for rescoring and exact search)
-- and their sign bits, vec_quantize_binary(v): bit i is 1 where element i > 0. A KNN query on
-- embedding_bits reads only the bit vectors (each vector column has its own shadow table).
CREATE VIRTUAL TABLE items_vec USING vindex(
  embedding float[256] distance=l2,
  embedding_bits bit[256] distance=hamming
);
INSERT INTO items_vec(rowid, embedding, embedding_bits)
SELECT id, embedding, vec_quantize_binary(embedding) FROM items;

SELECT 'bytes per vector: float32 ' || length(embedding) || ', bits ' || length(embedding_bits)
  FROM items_vec WHERE rowid = 1;

-- The query vector (here: item 777 moved a little), bound as :q.
.parameter init
INSERT INTO temp.sqlite_parameters(key, value)
SELECT ':q', vec_add(embedding, vec_f32((SELECT json_group_array(0.05) FROM json_each(vec_to_json(embedding)))))
  FROM items WHERE id = 777;

-- THE RECIPE. Step 1: the 160 nearest by Hamming distance on the bits (16x the k we want:
-- "oversampling"). Step 2: rescore those 160 with the exact L2 distance on the full vectors
-- and keep 10.
.print 'binary search + rescoring, top 10:'
SELECT rowid, printf('%.4f', vec_distance_l2(embedding, :q)) AS distance
  FROM (SELECT rowid, embedding FROM items_vec
         WHERE embedding_bits MATCH vec_quantize_binary(:q) AND k = 160)
 ORDER BY vec_distance_l2(embedding, :q), rowid
 LIMIT 10;

-- How good is it, for several oversampling factors? recall@10 = how many of the exact 10
-- nearest (float32 search) the quantized search finds. The LIMIT inside each subquery keeps
-- SQLite from moving the outer `rowid IN (...)` into the KNN search (where it would become a
-- filter of the search itself, see docs/QUANTIZATION.md).
CREATE TEMP TABLE exact AS SELECT rowid FROM items_vec WHERE embedding MATCH :q AND k = 10;
.print 'oversampling -> recall@10:'
SELECT 'bits alone (k = 10, no rescoring): ' || count(*) || '/10'
  FROM (SELECT rowid FROM items_vec WHERE embedding_bits MATCH vec_quantize_binary(:q) AND k = 10 LIMIT 10)
 WHERE rowid IN exact;
SELECT 'k = ' || c.k || ' then rescoring: ' || (
         SELECT count(*) FROM (
           SELECT rowid FROM (SELECT rowid, embedding FROM items_vec
                               WHERE embedding_bits MATCH vec_quantize_binary(:q) AND k = c.k)
            ORDER BY vec_distance_l2(embedding, :q), rowid LIMIT 10)
          WHERE rowid IN exact) || '/10'
  FROM (SELECT 40 AS k UNION ALL SELECT 80 UNION ALL SELECT 160) c;
