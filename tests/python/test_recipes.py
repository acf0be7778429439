"""The SQL users copy stays true: every recipe in sql/ and every example in docs/FUNCTIONS.md
runs in the sqlite3 shell with vindex loaded.

- sql/NAME.sql runs with -bail (any error fails) and its output must equal
  tests/recipes/NAME.expected byte for byte (`UPDATE=1` rewrites the .expected files: review
  the diff). Some recipes get extra checks of what their output claims (RRF recomputed, recall).
- docs/FUNCTIONS.md: in each ```sql block, the `-- ` lines after a statement are its output
  (`-- Error: msg` an error, `-- ...` not compared), and every vec_*/vindex_* function and
  module the extension registers has a `### name` section.
"""

from __future__ import annotations

import os
import re
import shutil
import sqlite3
import subprocess
from pathlib import Path

import pytest

import sqlite_vindex

ROOT = Path(__file__).resolve().parents[2]
SQL_DIR = ROOT / "sql"
EXPECTED_DIR = ROOT / "tests" / "recipes"
FUNCTIONS_MD = ROOT / "docs" / "FUNCTIONS.md"
RECIPES = sorted(SQL_DIR.glob("*.sql"))
MARK = "@@@vindex-next@@@"


def sqlite3_cli() -> str:
    cli = os.environ.get("SQLITE3", "sqlite3")
    if not shutil.which(cli):
        pytest.fail(f"{cli} not found (apt-get install sqlite3)")
    return cli


def run_cli(sql: str, *, bail: bool, cwd: Path) -> subprocess.CompletedProcess:
    """Run SQL through the sqlite3 shell with vindex loaded; stdout and stderr in one stream,
    in order (both line-buffered), errors normalized to `Error: message`. A recipe with a
    `-- needs: sqlite-vec` line gets sqlite-vec 0.1.9 (the pinned test dependency) loaded
    first, so that vindex's vec_* functions are the ones in use."""
    cmd = []
    if shutil.which("stdbuf"):
        cmd += ["stdbuf", "-oL", "-eL"]
    cmd += [sqlite3_cli(), "-batch"]
    if re.search(r"(?m)^-- needs: sqlite-vec$", sql):
        import sqlite_vec

        cmd += ["-cmd", f".load '{sqlite_vec.loadable_path()}'"]
    cmd += ["-cmd", f".load '{sqlite_vindex.loadable_path()}'"]
    if bail:
        cmd.append("-bail")
    cmd.append(":memory:")
    proc = subprocess.run(cmd, input=sql, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                          cwd=cwd, timeout=300)
    proc.stdout = re.sub(r"(?m)^(?:Runtime error|Parse error|Error:)(?: near line \d+)?: ", "Error: ", proc.stdout)
    return proc


# --- sql/ recipes ------------------------------------------------------------------------------


def test_there_are_recipes():
    names = {p.stem for p in RECIPES}
    assert {"hybrid_fts5", "binary_quantization", "matryoshka", "maintenance", "migrate_from_sqlite_vec"} <= names, names


@pytest.mark.parametrize("recipe", RECIPES, ids=[p.stem for p in RECIPES])
def test_recipe_output(recipe, tmp_path):
    proc = run_cli(recipe.read_text(), bail=True, cwd=tmp_path)
    assert proc.returncode == 0, f"{recipe.name} failed:\n{proc.stdout[-2000:]}"
    assert "Error:" not in proc.stdout, proc.stdout
    expected = EXPECTED_DIR / f"{recipe.stem}.expected"
    if os.environ.get("UPDATE") == "1":
        EXPECTED_DIR.mkdir(exist_ok=True)
        expected.write_text(proc.stdout)
    assert expected.is_file(), f"{expected} is missing: create it with UPDATE=1 (and review it)"
    assert proc.stdout == expected.read_text(), f"{recipe.name}: output differs from {expected.name}"


def sections(output: str) -> dict:
    """Split recipe output at the `.print 'title:'` lines."""
    out, current = {}, None
    for line in output.splitlines():
        if line.endswith(":") and "|" not in line:
            current = line[:-1]
            out[current] = []
        elif current is not None:
            out[current].append(line.split("|"))
    return out


def test_hybrid_recipe_is_reciprocal_rank_fusion(tmp_path):
    """The one-statement RRF equals RRF computed here from the two rankings it prints."""
    out = sections(run_cli((SQL_DIR / "hybrid_fts5.sql").read_text(), bail=True, cwd=tmp_path).stdout)
    fts = [int(r[0]) for r in out["keyword ranking (FTS5 bm25)"]]
    vec = [int(r[0]) for r in out["vector ranking (vindex, cosine)"]]
    hybrid = out["hybrid ranking (reciprocal rank fusion)"]
    assert fts and len(vec) == 5
    scores = {}
    for ranking in (fts, vec):
        for rank, doc in enumerate(ranking, start=1):
            scores[doc] = scores.get(doc, 0.0) + 1.0 / (60 + rank)
    want = sorted(scores, key=lambda d: (-scores[d], d))[:5]
    assert [int(r[0]) for r in hybrid] == want
    for row in hybrid:
        assert float(row[2]) == pytest.approx(scores[int(row[0])], abs=1e-5)
    # A document found by both sides outranks those found by one.
    both = set(fts) & set(vec)
    assert both and {int(r[0]) for r in hybrid[: len(both)]} == both


def test_migration_recipe_answers_as_vec0(tmp_path):
    """The migration recipe's vec0 and vindex answers are the same rows and distances."""
    out = sections(run_cli((SQL_DIR / "migrate_from_sqlite_vec.sql").read_text(), bail=True, cwd=tmp_path).stdout)
    assert out["rows copied"] == [["270"]]
    assert out["vec0"] == out["vindex"] and len(out["vindex"]) == 4
    assert {r[0] for r in out["k = 2 per user"]} == {"0", "2"} and len(out["k = 2 per user"]) == 4
    assert out["left"][0] == ["docs", "270", "3"]


def test_quantization_recipes_reach_full_recall(tmp_path):
    bq = run_cli((SQL_DIR / "binary_quantization.sql").read_text(), bail=True, cwd=tmp_path).stdout
    assert "k = 160 then rescoring: 10/10" in bq
    recalls = [int(m) for m in re.findall(r"k = \d+ then rescoring: (\d+)/10", bq)]
    assert recalls == sorted(recalls), "more candidates should never lower recall"
    mat = run_cli((SQL_DIR / "matryoshka.sql").read_text(), bail=True, cwd=tmp_path).stdout
    assert "64-d prefix, 50 candidates, rescored: 10/10" in mat


# --- docs/FUNCTIONS.md -----------------------------------------------------------------------------


def function_examples() -> list:
    """[(block number, [(statement, [expected lines])])] from the ```sql blocks."""
    blocks, current, in_sql = [], None, False
    for line in FUNCTIONS_MD.read_text().splitlines():
        if line.strip() == "```sql":
            in_sql, current = True, []
            continue
        if in_sql and line.strip() == "```":
            blocks.append(current)
            in_sql = False
            continue
        if not in_sql:
            continue
        if line.startswith("-- "):
            assert current, f"expected output before any statement: {line!r}"
            current[-1][1].append(line[3:])
        elif line.strip():
            if current and not current[-1][0].rstrip().endswith(";"):
                current[-1] = (current[-1][0] + "\n" + line, current[-1][1])
            else:
                current.append((line, []))
    return list(enumerate(blocks))


EXAMPLES = function_examples()


@pytest.mark.parametrize("number, block", EXAMPLES, ids=[b[0][0][:60] for _, b in EXAMPLES])
def test_function_examples(number, block, tmp_path):
    sql = "".join(f"{stmt}\n.print {MARK}\n" for stmt, _ in block)
    proc = run_cli(sql, bail=False, cwd=tmp_path)
    assert proc.returncode in (0, 1), proc.stdout  # 1: a statement failed, as some examples show
    outputs = proc.stdout.split(MARK + "\n")
    assert len(outputs) == len(block) + 1, proc.stdout
    for (stmt, expected), got in zip(block, outputs):
        if expected == ["..."]:
            continue
        assert got.splitlines() == expected, f"FUNCTIONS.md example:\n{stmt}\nprinted:\n{got}"


def test_every_function_is_documented():
    conn = sqlite3.connect(":memory:")
    sqlite_vindex.load(conn)
    functions = {r[0] for r in conn.execute(
        "SELECT DISTINCT name FROM pragma_function_list WHERE name LIKE 'vec\\_%' ESCAPE '\\' "
        "OR name LIKE 'vindex\\_%' ESCAPE '\\'")}
    modules = {r[0] for r in conn.execute(
        "SELECT name FROM pragma_module_list WHERE name LIKE 'vec\\_%' ESCAPE '\\' OR name LIKE 'vindex%'")}
    assert "vec_distance_l2" in functions and "vindex" in modules and "vec_each" in modules
    headings = set(re.findall(r"(?m)^### (\w+)$", FUNCTIONS_MD.read_text()))
    missing = sorted((functions | modules) - headings)
    assert not missing, f"docs/FUNCTIONS.md has no section for: {missing}"
    examples = "\n".join(stmt for _, block in EXAMPLES for stmt, _ in block)
    unused = sorted(n for n in functions | modules if not re.search(rf"\b{n}\b", examples))
    assert not unused, f"docs/FUNCTIONS.md has no example using: {unused}"
