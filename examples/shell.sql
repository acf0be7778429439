-- A short tour of vindex in the sqlite3 shell. Self-contained (no files needed):
--   sqlite3 :memory: '.load ./dist/vindex' '.read examples/shell.sql'
.headers on
.mode box

.print '-- Version and build'
SELECT vec_version() AS version;

.print
.print '-- Vectors are BLOBs; JSON text is accepted everywhere a vector is expected'
SELECT vec_to_json(vec_f32('[1, 2, 3]'))       AS f32_json,
       hex(vec_f32('[1, 2, 3]'))               AS f32_blob,   -- 3 x 4 bytes, little-endian
       vec_length('[1, 2, 3]')                 AS dims,
       vec_type(vec_f16('[1, 2, 3]'))          AS type_f16,
       length(vec_f16('[1, 2, 3]'))            AS f16_bytes,  -- 3 x 2 bytes
       vec_to_json(vec_int8('[1, -2, 3]'))     AS int8,
       vec_to_json(vec_bit(X'F0'))             AS bits;       -- bit 0 = lowest bit of byte 0

.print
.print '-- Distances'
SELECT vec_distance_l2('[1, 2, 3]', '[3, 2, 1]')  AS l2,
       vec_distance_cosine('[1, 0]', '[1, 1]')    AS cosine,
       vec_distance_ip('[1, 2]', '[3, 4]')        AS ip,      -- negative inner product: smaller = closer
       vec_distance_l1('[1, 2]', '[3, 5]')        AS l1,
       vec_distance('[1, 2]', '[3, 5]', 'l1')     AS by_name,
       vec_distance_hamming(vec_bit(X'F0'), vec_bit(X'0F')) AS hamming,
       vec_distance_jaccard(vec_bit(X'F0'), vec_bit(X'FF')) AS jaccard;

.print
.print '-- Arithmetic, slicing, normalisation, quantisation'
SELECT vec_to_json(vec_add('[1, 2]', '[3, 4]'))                    AS "add",
       vec_to_json(vec_sub('[1, 2]', '[3, 4]'))                    AS "sub",
       vec_to_json(vec_slice('[1, 2, 3, 4]', 1, 3))                AS slice_1_3,
       vec_to_json(vec_normalize('[3, 4]'))                        AS normalized,
       vec_to_json(vec_quantize_binary('[1, -2, 3, -4, 5, -6, 7, -8]')) AS binary,
       vec_to_json(vec_quantize_int8('[0.5, -1, 0]', 'unit'))      AS int8_unit;

.print
.print '-- vec_each: one row per element'
SELECT rowid, value FROM vec_each('[0.5, 1.5, 2.5]');

.print
.print '-- A vindex table: a vector column, a filterable metadata column (kind), an auxiliary column (+name)'
CREATE VIRTUAL TABLE items USING vindex(embedding float[4] distance=cosine, kind text, +name text);
INSERT INTO items(rowid, embedding, kind, name) VALUES
    (1, '[1.0, 0.0, 0.0, 0.0]', 'fruit',     'apple'),
    (2, '[0.9, 0.1, 0.0, 0.0]', 'fruit',     'pear'),
    (3, '[0.8, 0.0, 0.2, 0.0]', 'vegetable', 'carrot'),
    (4, '[0.0, 1.0, 0.0, 0.0]', 'tool',      'hammer'),
    (5, '[0.1, 0.9, 0.1, 0.0]', 'tool',      'saw'),
    (6, vec_f32('[0.0, 0.0, 1.0, 0.1]'), 'vegetable', 'leek');   -- a float32 BLOB works too
SELECT rowid, kind, name, vec_to_json(embedding) AS embedding FROM items;

.print
.print '-- KNN: the 3 nearest items to [1, 0.05, 0, 0]'
SELECT rowid, name, kind, round(distance, 4) AS distance
FROM items
WHERE embedding MATCH '[1, 0.05, 0, 0]' AND k = 3;

.print
.print '-- KNN with a metadata filter: still 3 rows, all vegetables or tools'
SELECT rowid, name, kind, round(distance, 4) AS distance
FROM items
WHERE embedding MATCH '[1, 0.05, 0, 0]' AND k = 3 AND kind IN ('vegetable', 'tool');

.print
.print '-- Writes: UPDATE a vector, DELETE a row, then search again'
UPDATE items SET embedding = '[0.0, 0.0, 0.0, 1.0]' WHERE rowid = 1;
DELETE FROM items WHERE name = 'pear';
SELECT rowid, name, round(distance, 4) AS distance
FROM items
WHERE embedding MATCH '[1, 0.05, 0, 0]' AND k = 3;

.print
.print '-- The same distances by hand, with a plain scan (what KNN saves you from writing)'
SELECT rowid, name, round(vec_distance_cosine(embedding, '[1, 0.05, 0, 0]'), 4) AS distance
FROM items
ORDER BY distance
LIMIT 3;

.print
.print '-- vindex_status'
SELECT table_name, column_name, element_type, dimensions, metric, index_type, rows FROM vindex_status;
