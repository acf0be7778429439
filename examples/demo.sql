-- Searches run by `make demo` (examples/demo.sh) on target/demo/demo.db:
--   defs(embedding float16[384] distance=cosine, pos text, +word text, +synonyms text,
--        +definition text, +synset text)           10,000 WordNet 3.0 definitions; rowid = row
--                                                   of ../shared/data/minilm (data/demo/README.md)
--   demo_queries(id, text, embedding)               20 questions, float32 embeddings
-- All vectors come from all-MiniLM-L6-v2; distance is cosine distance (0 = same direction).
-- Run it yourself: sqlite3 target/demo/demo.db '.load ./dist/vindex' '.read examples/demo.sql'
.headers on
.mode box

.print '1. Search by meaning: nearest definitions to a question (k = 5)'
.print
.print '   "a large body of water"'
SELECT d.rowid, round(distance, 3) AS distance, word, pos,
       iif(length(definition) > 60, substr(definition, 1, 59) || '…', definition) AS definition
FROM defs AS d
WHERE embedding MATCH (SELECT embedding FROM demo_queries WHERE text = 'a large body of water')
  AND k = 5;

.print
.print '   "a device for measuring temperature"'
SELECT d.rowid, round(distance, 3) AS distance, word, pos,
       iif(length(definition) > 60, substr(definition, 1, 59) || '…', definition) AS definition
FROM defs AS d
WHERE embedding MATCH (SELECT embedding FROM demo_queries WHERE text = 'a device for measuring temperature')
  AND k = 5;

.print
.print '   "a place where books are kept for borrowing"'
SELECT d.rowid, round(distance, 3) AS distance, word, pos,
       iif(length(definition) > 60, substr(definition, 1, 59) || '…', definition) AS definition
FROM defs AS d
WHERE embedding MATCH (SELECT embedding FROM demo_queries WHERE text = 'a place where books are kept for borrowing')
  AND k = 5;

.print
.print '   "a computer program that translates code"'
SELECT d.rowid, round(distance, 3) AS distance, word, pos,
       iif(length(definition) > 60, substr(definition, 1, 59) || '…', definition) AS definition
FROM defs AS d
WHERE embedding MATCH (SELECT embedding FROM demo_queries WHERE text = 'a computer program that translates code')
  AND k = 5;

.print
.print '   "the feeling of being afraid"'
SELECT d.rowid, round(distance, 3) AS distance, word, pos,
       iif(length(definition) > 60, substr(definition, 1, 59) || '…', definition) AS definition
FROM defs AS d
WHERE embedding MATCH (SELECT embedding FROM demo_queries WHERE text = 'the feeling of being afraid')
  AND k = 5;

.print
.print '2. Every question at once (a join: one KNN search per demo_queries row, k = 1)'
SELECT q.text AS question, d.word AS best_match, round(d.distance, 3) AS distance
FROM demo_queries AS q
JOIN defs AS d ON d.embedding MATCH q.embedding AND d.k = 1
ORDER BY q.id;

.print
.print '3. Definitions nearest to the definition of "river" (query vector from a subquery; k = 8; the first hit is river itself)'
SELECT rowid, round(distance, 3) AS distance, word, pos,
       iif(length(definition) > 60, substr(definition, 1, 59) || '…', definition) AS definition
FROM defs
WHERE embedding MATCH (SELECT embedding FROM defs WHERE word = 'river' AND pos = 'n' LIMIT 1)
  AND k = 8;

.print
.print "4. The same search, verbs only (AND pos = 'v'): the filter runs inside the search, so it still returns k = 8 rows"
SELECT rowid, round(distance, 3) AS distance, word, pos,
       iif(length(definition) > 60, substr(definition, 1, 59) || '…', definition) AS definition
FROM defs
WHERE embedding MATCH (SELECT embedding FROM defs WHERE word = 'river' AND pos = 'n' LIMIT 1)
  AND k = 8
  AND pos = 'v';

.print
.print '5. SELECT * FROM vindex_status: every vindex table and vector column'
.mode line
SELECT * FROM vindex_status;
.mode box

.print
.print '6. EXPLAIN QUERY PLAN of the filtered search: KNN, k and the pos filter are all pushed into vindex'
EXPLAIN QUERY PLAN
SELECT rowid, distance, word
FROM defs
WHERE embedding MATCH (SELECT embedding FROM defs WHERE word = 'river' AND pos = 'n' LIMIT 1)
  AND k = 8
  AND pos = 'v';
