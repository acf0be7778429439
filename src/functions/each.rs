//! `vec_each(vector)`: one row per element, `rowid` = position, `value` = element.

use crate::error::{Error, Result};
use crate::ffi::stmt::Db;
use crate::ffi::value::{Context, ValueRef};
use crate::ffi::vtab::{IndexInfo, VTab, VTabArgs, VTabCursor};
use crate::value::Arg;
use crate::vector::{self, Vector};
use libsqlite3_sys::SQLITE_INDEX_CONSTRAINT_EQ;

pub struct VecEach;

pub struct EachCursor {
    v: Option<Vector<'static>>,
    i: usize,
}

const COL_VALUE: i32 = 0;
const COL_VECTOR: i32 = 1;

impl VTab for VecEach {
    type Aux = ();
    type Cursor = EachCursor;

    fn create(db: Db, aux: &(), args: &VTabArgs) -> Result<(String, Self)> {
        Self::connect(db, aux, args)
    }
    fn connect(db: Db, _aux: &(), _args: &VTabArgs) -> Result<(String, Self)> {
        crate::ffi::vtab::vtab_config_innocuous(db);
        Ok(("CREATE TABLE x(value, vector HIDDEN)".into(), VecEach))
    }
    fn best_index(&self, info: &mut IndexInfo<'_>) -> Result<()> {
        let cs = info.constraints();
        let eq = cs.iter().find(|c| c.column == COL_VECTOR && c.op as i32 == SQLITE_INDEX_CONSTRAINT_EQ);
        match eq {
            Some(c) if c.usable => {
                info.set_argv_index(c.index, 1);
                info.set_omit(c.index, true);
                info.set_estimated_cost(10.0);
                info.set_idx_num(1);
                Ok(())
            }
            Some(_) => Err(Error::PlanUnusable),
            None => Err(Error::invalid("vec_each() needs one argument: a vector, e.g. vec_each('[1, 2, 3]')")),
        }
    }
    fn open(&self) -> Result<EachCursor> {
        Ok(EachCursor { v: None, i: 0 })
    }
}

impl VTabCursor for EachCursor {
    type Table = VecEach;
    fn filter(&mut self, _t: &VecEach, _n: i32, _s: Option<&str>, args: &[ValueRef<'_>]) -> Result<()> {
        let a = args.first().ok_or_else(|| Error::invalid("vec_each() needs a vector argument"))?;
        let arg = Arg::with_subtype(a.get(), a.subtype());
        self.v = Some(vector::from_arg(&arg).map_err(|e| e.context("vec_each()"))?.into_owned());
        self.i = 0;
        Ok(())
    }
    fn next(&mut self, _t: &VecEach) -> Result<()> {
        self.i += 1;
        Ok(())
    }
    fn eof(&self) -> bool {
        self.v.as_ref().is_none_or(|v| self.i >= v.dims())
    }
    fn column(&mut self, _t: &VecEach, ctx: &mut Context, col: i32) -> Result<()> {
        let Some(v) = &self.v else { return Ok(()) };
        if col != COL_VALUE {
            ctx.set_blob(v.as_bytes());
            ctx.set_subtype(v.element_type().subtype());
            return Ok(());
        }
        let i = self.i;
        match v {
            Vector::F32(x) => ctx.set_f64(x[i] as f64),
            Vector::F16(x) => ctx.set_f64(x[i].to_f64()),
            Vector::I8(x) => ctx.set_i64(x[i] as i64),
            Vector::Bit(x) => ctx.set_i64(((x[i / 8] >> (i % 8)) & 1) as i64),
        }
        Ok(())
    }
    fn rowid(&mut self) -> Result<i64> {
        Ok(self.i as i64)
    }
}
