#!/usr/bin/env bash
# `make demo`: build target/demo/demo.db from data/demo/ (10,000 WordNet definitions embedded
# with all-MiniLM-L6-v2, stored as float16) and run examples/demo.sql in the sqlite3 shell.
#
# Needs only dist/vindex.so (`make loadable`), the sqlite3 CLI (3.38+, for ->> and readfile())
# and gzip. No Python. Run it from anywhere; it works from the repository root.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

SQLITE3=${SQLITE3:-sqlite3}
EXT=./dist/vindex
OUT=target/demo
DB=$OUT/demo.db

if [[ ! -f $EXT.so ]]; then
    echo "demo.sh: $EXT.so is missing; run 'make loadable' first (or 'make demo')" >&2
    exit 1
fi
if ! command -v "$SQLITE3" >/dev/null; then
    echo "demo.sh: the sqlite3 command-line shell is needed (Debian: apt-get install sqlite3)" >&2
    exit 1
fi

now_ms() {  # bash 5's EPOCHREALTIME (locale may use ',' for the point), else whole seconds
    if [[ -n ${EPOCHREALTIME:-} ]]; then echo $(( 10#${EPOCHREALTIME/[.,]/} / 1000 )); else echo $(( $(date +%s) * 1000 )); fi
}
ms_since() { echo $(( $(now_ms) - $1 )); }
start=$(now_ms)

# 1. Unpack the dataset next to the database (never into the repository).
mkdir -p "$OUT"
rm -f "$DB" "$DB-journal" "$DB-wal" "$DB-shm"
gzip -dc data/demo/vectors.f16.gz >"$OUT/vectors.f16"   # 10,000 x 384 float16 LE = 7,680,000 bytes
gzip -dc data/demo/defs.json.gz >"$OUT/defs.json"       # [[rowid, synset, pos, word, synonyms, definition], ...]
                                                        # element i <-> vector i; rowid = row in ../shared/data/minilm

# 2. Create the vindex table and load it with plain SQL: readfile() (a sqlite3-shell function)
#    reads each file as one value, json_each() walks the texts, substr() cuts one 768-byte
#    float16 vector per row out of the big blob (vector i goes with array element i, json_each's
#    key; the rowids are not consecutive).
#    substr() of a 7.7 MB value costs a copy of the whole value per row, so the blob is first
#    cut into 100 chunks of 100 vectors (76,800 bytes) and every row is cut from its chunk.
"$SQLITE3" -bail "$DB" <<SQL
.load $EXT
CREATE VIRTUAL TABLE defs USING vindex(
    embedding float16[384] distance=cosine,  -- all-MiniLM-L6-v2 sentence embedding
    pos text,                                -- n(oun) v(erb) a(djective) s(atellite adj.) r (adverb): filterable
    +word text,                              -- first lemma of the synset
    +synonyms text,                          -- up to 3 lemmas, comma-separated (as embedded)
    +definition text,                        -- WordNet gloss
    +synset text                             -- WordNet 3.0 synset id: pos letter + data-file offset
);

-- Natural-language queries, embedded with the same model (float32: MATCH converts them).
CREATE TABLE demo_queries(id INTEGER PRIMARY KEY, text TEXT NOT NULL, embedding BLOB NOT NULL);

CREATE TEMP TABLE raw AS
    SELECT readfile('$OUT/vectors.f16') AS v, readfile('$OUT/defs.json') AS j,
           readfile('data/demo/queries.f32') AS qv,             -- 20 x 384 float32 LE
           CAST(readfile('data/demo/queries.txt') AS TEXT) AS qt;  -- 20 lines
CREATE TEMP TABLE chunk(c INTEGER PRIMARY KEY, b BLOB NOT NULL);
WITH RECURSIVE n(c) AS (SELECT 0 UNION ALL SELECT c + 1 FROM n WHERE c < 99)
INSERT INTO chunk SELECT c, substr((SELECT v FROM raw), c * 76800 + 1, 76800) FROM n;

BEGIN;
INSERT INTO defs(rowid, embedding, pos, word, synonyms, definition, synset)
SELECT r.value ->> 0,
       substr(chunk.b, r.key % 100 * 768 + 1, 768),
       r.value ->> 2, r.value ->> 3, r.value ->> 4, r.value ->> 5, r.value ->> 1
FROM json_each((SELECT j FROM raw)) AS r
JOIN chunk ON chunk.c = r.key / 100;

WITH RECURSIVE line(id, text, rest) AS (
    SELECT 0, NULL, (SELECT qt FROM raw)
    UNION ALL
    SELECT id + 1, substr(rest, 1, instr(rest, char(10)) - 1), substr(rest, instr(rest, char(10)) + 1)
    FROM line WHERE rest <> ''
)
INSERT INTO demo_queries
SELECT id, text, substr((SELECT qv FROM raw), (id - 1) * 1536 + 1, 1536) FROM line WHERE id > 0;
COMMIT;
SQL
rm -f "$OUT/vectors.f16" "$OUT/defs.json"

counts=$("$SQLITE3" "$DB" ".load $EXT" "SELECT (SELECT count(*) FROM defs) || ' ' || (SELECT count(*) FROM demo_queries)")
if [[ $counts != "10000 20" ]]; then
    echo "demo.sh: expected 10000 definitions and 20 queries, loaded $counts" >&2
    exit 1
fi
echo "Loaded 10,000 WordNet definitions (all-MiniLM-L6-v2, 384-d float16) into $DB in $(ms_since "$start") ms"
echo "sqlite3 $("$SQLITE3" --version | cut -d' ' -f1), vindex $("$SQLITE3" :memory: ".load $EXT" 'SELECT vec_version()')"
echo

# 3. The searches, in the sqlite3 shell.
"$SQLITE3" -bail "$DB" ".load $EXT" ".read examples/demo.sql"

echo
echo "Done in $(ms_since "$start") ms. Explore it yourself:"
echo "  sqlite3 $DB -cmd '.load $EXT'"
