-- Hybrid search: FTS5 keyword ranking + vindex vector ranking, fused by reciprocal rank fusion
-- (RRF) in ONE SQL statement. See docs/HYBRID.md.
--
--   sqlite3 :memory: '.load ./dist/vindex' '.read sql/hybrid_fts5.sql'
--
-- RRF: score(d) = sum over the rankings that contain d of 1 / (rrf_k + rank of d there).
-- Rank-based, so BM25 scores and cosine distances never need to be put on one scale.

-- The documents, a full-text index over them (external content: no second copy of the text),
-- and a vindex table holding one embedding per document (rowid = docs.id).
CREATE TABLE docs(id INTEGER PRIMARY KEY, title TEXT NOT NULL, body TEXT NOT NULL);
CREATE VIRTUAL TABLE docs_fts USING fts5(title, body, content='docs', content_rowid='id', tokenize='porter unicode61');
CREATE VIRTUAL TABLE docs_vec USING vindex(embedding float[4] distance=cosine);

-- Toy 4-d "embeddings": axes ~ (pets, food, money, travel). A real application stores the
-- vectors of an embedding model here (e.g. float[384] from all-MiniLM-L6-v2).
INSERT INTO docs(id, title, body) VALUES
  (1, 'Feeding your cat',        'How much wet and dry cat food a grown cat needs each day.'),
  (2, 'Dog food brands compared', 'We tested twelve dog food brands for protein and price.'),
  (3, 'Kitten care basics',      'New kittens need warmth, play and frequent small meals.'),
  (4, 'Cheap flights to Lisbon', 'Booking flights in winter saves money; Lisbon is mild.'),
  (5, 'Index funds explained',   'Why low-cost index funds beat most managed funds.'),
  (6, 'Sourdough at home',       'A simple sourdough bread recipe with a long cold proof.'),
  (7, 'Travelling with pets',    'What airlines ask before your dog or cat can fly with you.'),
  (8, 'The cat food aisle',      'Reading the label: what the words on cat food tins mean.'),
  (9, 'Budget meal planning',    'Plan a week of meals and spend less money on food.'),
  (10, 'Why cats purr',          'Purring is not only contentment: cats purr when stressed.');
INSERT INTO docs_fts(rowid, title, body) SELECT id, title, body FROM docs;
INSERT INTO docs_vec(rowid, embedding) VALUES
  (1, '[0.9, 0.8, 0.0, 0.0]'), (2, '[0.8, 0.9, 0.3, 0.0]'), (3, '[1.0, 0.3, 0.0, 0.0]'),
  (4, '[0.0, 0.0, 0.6, 1.0]'), (5, '[0.0, 0.0, 1.0, 0.0]'), (6, '[0.0, 1.0, 0.0, 0.0]'),
  (7, '[0.8, 0.0, 0.1, 0.8]'), (8, '[0.7, 0.9, 0.2, 0.0]'), (9, '[0.0, 0.8, 0.8, 0.0]'),
  (10, '[1.0, 0.0, 0.0, 0.0]');

-- The query: its text for FTS5, its embedding for vindex (computed by the same model as the
-- documents' in a real application), how many candidates each side contributes, and RRF's k.
.parameter init
.parameter set :text 'cat food'
.parameter set :vec '[1.0, 0.2, 0.0, 0.0]'
.parameter set :n 5
.parameter set :rrf_k 60

.print 'keyword ranking (FTS5 bm25):'
SELECT rowid, title FROM docs_fts WHERE docs_fts MATCH :text ORDER BY rank LIMIT :n;
.print 'vector ranking (vindex, cosine):'
SELECT d.id, d.title FROM docs_vec v JOIN docs d ON d.id = v.rowid
 WHERE v.embedding MATCH :vec AND k = :n ORDER BY v.distance;

-- Hybrid: one statement.
.print 'hybrid ranking (reciprocal rank fusion):'
WITH fts AS (
  SELECT rowid AS id, row_number() OVER (ORDER BY rank) AS r
    FROM docs_fts WHERE docs_fts MATCH :text ORDER BY rank LIMIT :n
),
vec AS (
  SELECT rowid AS id, row_number() OVER (ORDER BY distance) AS r
    FROM docs_vec WHERE embedding MATCH :vec AND k = :n
),
fused AS (
  SELECT id, sum(1.0 / (:rrf_k + r)) AS score, group_concat(src || '#' || r, ' ') AS ranks
    FROM (SELECT id, r, 'fts' AS src FROM fts UNION ALL SELECT id, r, 'vec' FROM vec)
   GROUP BY id
)
SELECT f.id, d.title, printf('%.5f', f.score) AS score, f.ranks
  FROM fused f JOIN docs d ON d.id = f.id
 ORDER BY f.score DESC, f.id
 LIMIT 5;

-- Variant: weight the two sides (here the vector side counts twice) and filter both by a
-- condition on the documents (rowid IN (...) is pushed into the vindex search).
.print 'weighted hybrid, documents 1-8 only:'
WITH allowed AS (SELECT id FROM docs WHERE id <= 8),
fts AS (
  SELECT rowid AS id, row_number() OVER (ORDER BY rank) AS r
    FROM docs_fts WHERE docs_fts MATCH :text AND rowid IN (SELECT id FROM allowed)
   ORDER BY rank LIMIT :n
),
vec AS (
  SELECT rowid AS id, row_number() OVER (ORDER BY distance) AS r
    FROM docs_vec WHERE embedding MATCH :vec AND k = :n AND rowid IN (SELECT id FROM allowed)
)
SELECT id, printf('%.5f', sum(w / (:rrf_k + r))) AS score
  FROM (SELECT id, r, 1.0 AS w FROM fts UNION ALL SELECT id, r, 2.0 FROM vec)
 GROUP BY id
 ORDER BY sum(w / (:rrf_k + r)) DESC, id
 LIMIT 5;
