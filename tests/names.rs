//! Table and column names: a vindex table cannot be named after a column every vindex table
//! has (a clear error at CREATE), and quoted column names may hold `=` (they used to be read as
//! table options).

mod common;
use common::*;

#[test]
fn reserved_table_names_fail_clearly_at_create() {
    let c = conn();
    for t in ["rowid", "distance", "k", "ROWID", "\"K\""] {
        let e = err_of(c.execute_batch(&format!("CREATE VIRTUAL TABLE {t} USING vindex(v float[2])")));
        assert!(e.contains("a vindex table cannot be named") && e.contains("reserved table names"), "{t}: {e}");
        // Nothing was created.
        let n: i64 = c.query_row("SELECT count(*) FROM sqlite_schema", [], |r| r.get(0)).unwrap();
        assert_eq!(n, 0, "{t}");
    }
    // Names that merely look alike work.
    c.execute_batch(
        "CREATE VIRTUAL TABLE rowids USING vindex(v float[2]); INSERT INTO rowids(rowid, v) VALUES (3, '[1,2]')",
    )
    .unwrap();
    assert_eq!(knn(&c, "SELECT rowid, distance FROM rowids WHERE v MATCH '[1,2]' AND k = 1", []), vec![(3, 0.0)]);
}

#[test]
fn quoted_column_names_may_hold_equals_signs() {
    let c = conn();
    c.execute_batch(
        r#"CREATE VIRTUAL TABLE t USING vindex(v float[2], "a=b" text, [c=d] integer, "e""=f" text, +"g=h" text, index=flat);
           INSERT INTO t(rowid, v, "a=b", [c=d], "e""=f", "g=h") VALUES (1, '[1,0]', 'x', 1, 'p', 'aux1'), (2, '[0,1]', 'y', 2, 'q', 'aux2');"#,
    )
    .unwrap();
    let names: Vec<String> = {
        let st = c.prepare("SELECT * FROM t").unwrap();
        st.column_names().iter().map(|s| s.to_string()).collect()
    };
    assert_eq!(names, ["v", "a=b", "c=d", "e\"=f", "g=h"]);
    let rows = dump(
        &c,
        r#"SELECT rowid, "a=b", [c=d], "e""=f", "g=h" FROM t WHERE v MATCH '[1,0]' AND k = 5 AND "a=b" = 'y'"#,
    );
    assert_eq!(rows, vec![vec!["2", "'y'", "2", "'q'", "'aux2'"]]);
    let rows = dump(&c, r#"SELECT rowid FROM t WHERE v MATCH '[1,0]' AND k = 5 AND [c=d] >= 1 ORDER BY distance"#);
    assert_eq!(rows, vec![vec!["1"], vec!["2"]]);
}
