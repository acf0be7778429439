//! Vector decoding and the scalar functions, without SQLite in the way: JSON text, blobs and
//! subtypes through `vindex::vector` (from_json, from_blob, from_arg, from_arg_as, for_column,
//! convert), every `vec_*` scalar function called with fuzzer-made arguments, and the distance
//! kernels of every CPU level this machine has.
//!
//! Never a panic; and where there is an oracle, the same answer:
//! - JSON: accepted exactly when serde_json (correctly rounded) reads an array of numbers that
//!   fit the element type, with the same values;
//! - blobs: decoded vectors give back their bytes; for_column returns the type and dimensions
//!   it was asked for;
//! - kernels: the integer ones (int8, bit) agree exactly across CPU levels, the aligned and
//!   unaligned float32 ones give the same result, and every float32 distance of moderate
//!   magnitude is close to an f64 reference.
#![no_main]

use half::f16;
use libfuzzer_sys::fuzz_target;
use vindex::value::{Arg, SqlValue};
use vindex::vector::distance::{self, Metric};
use vindex::vector::{self, ElementType, Vector};
use vindex_fuzz::Input;

const TYPES: [ElementType; 4] = [ElementType::Float32, ElementType::Float16, ElementType::Int8, ElementType::Bit];
const SUBTYPES: [u32; 7] = [0, 223, 224, 225, 226, 74, 1];

fn json_oracle(text: &[u8], ty: ElementType) {
    let ours = vector::from_json(text, ty);
    let reference: Option<Vec<f64>> = serde_json::from_slice::<Vec<f64>>(text).ok();
    // What the reference says the element type should accept.
    let fits = |x: f64| match ty {
        ElementType::Float32 => (x as f32).is_finite(),
        ElementType::Float16 => f16::from_f64(x).is_finite(),
        ElementType::Int8 => x.fract() == 0.0 && (-128.0..=127.0).contains(&x),
        ElementType::Bit => x == 0.0 || x == 1.0,
    };
    let expect_ok = reference.as_ref().is_some_and(|v| {
        v.iter().all(|&x| fits(x))
            && (1..=vector::MAX_DIMS).contains(&v.len())
            && (ty != ElementType::Bit || v.len().is_multiple_of(8))
    });
    match (&ours, expect_ok) {
        (Ok(v), true) => {
            let r = reference.unwrap();
            let got = v.to_f32_vec();
            assert_eq!(
                got.len(),
                r.len(),
                "element count differs from serde_json for {:?}",
                String::from_utf8_lossy(text)
            );
            for (i, (g, x)) in got.iter().zip(&r).enumerate() {
                let want = match ty {
                    ElementType::Float32 => *x as f32,
                    ElementType::Float16 => f16::from_f64(*x).to_f32(),
                    _ => *x as f32,
                };
                assert!(*g == want, "element {i}: ours {g}, serde_json {x} for {:?}", String::from_utf8_lossy(text));
            }
        }
        (Err(_), false) => {}
        (Ok(v), false) => panic!(
            "accepted {:?} as {} ({} dims) but serde_json says {:?}",
            String::from_utf8_lossy(text),
            ty.name(),
            v.dims(),
            reference
        ),
        (Err(e), true) => panic!(
            "rejected {:?} as {}: {e}; serde_json reads {:?}",
            String::from_utf8_lossy(text),
            ty.name(),
            reference
        ),
    }
    if let Err(e) = ours {
        assert!(!e.message().is_empty());
    }
}

fn blob_checks(bytes: &[u8], ty: ElementType, subtype: u32, dims: usize) {
    if let Ok(v) = vector::from_blob(bytes, ty) {
        assert_eq!(v.as_bytes(), bytes, "from_blob does not give its bytes back");
        assert_eq!(v.element_type(), ty);
        let owned = v.clone().into_owned();
        assert_eq!(owned, v);
        let _ = v.to_f32_vec();
        for to in TYPES {
            if let Ok(c) = vector::convert(v.clone(), to) {
                assert_eq!(c.element_type(), to);
                assert_eq!(c.dims(), v.dims());
            }
        }
    }
    for value in [SqlValue::Blob(bytes), SqlValue::Text(bytes)] {
        let arg = Arg::with_subtype(value, subtype);
        let _ = vector::from_arg(&arg);
        for t in TYPES {
            if let Ok(v) = vector::from_arg_as(&arg, t) {
                assert_eq!(v.element_type(), t, "from_arg_as returned another type");
            }
        }
        if let Ok(v) = vector::for_column(&arg, ty, dims) {
            assert_eq!(v.element_type(), ty, "for_column returned another type");
            assert_eq!(v.dims(), dims, "for_column returned other dimensions");
        }
    }
}

/// Call every scalar function with `args` (as many as it takes, or each count for variadics).
fn functions(args: &[Arg<'_>]) {
    for (name, nargs, f) in vindex::functions::scalar::FUNCTIONS {
        if *name == "vec_debug" || *name == "vec_version" {
            continue;
        }
        let n = (*nargs).max(0) as usize;
        if n <= args.len() {
            let _ = f(&args[..n]);
        }
    }
}

fn f64_reference(metric: Metric, x: &[f32], y: &[f32]) -> Option<(f64, f64)> {
    // (distance, scale of the rounding error)
    let (mut dot, mut na, mut nb, mut l2, mut l1, mut mag) = (0f64, 0f64, 0f64, 0f64, 0f64, 0f64);
    for (&a, &b) in x.iter().zip(y) {
        let (a, b) = (a as f64, b as f64);
        dot += a * b;
        na += a * a;
        nb += b * b;
        l2 += (a - b) * (a - b);
        l1 += (a - b).abs();
        mag += a.abs() * b.abs() + a * a + b * b;
    }
    let eps = 1e-5 * (x.len() as f64).sqrt().max(1.0);
    match metric {
        Metric::L2 => Some((l2.sqrt(), eps * mag.sqrt() + 1e-6)),
        Metric::Ip => Some((-dot, eps * mag + 1e-6)),
        Metric::L1 => Some((l1, eps * (l1 + mag.sqrt()) + 1e-6)),
        Metric::Cosine => {
            if na == 0.0 || nb == 0.0 || na.sqrt() * nb.sqrt() < 1e-12 * mag {
                return None;
            }
            Some((1.0 - dot / (na * nb).sqrt(), eps * mag / (na * nb).sqrt() + 1e-5))
        }
        _ => None,
    }
}

fn kernels(a: &[u8], b: &[u8]) {
    let all = vindex::simd::available();
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    // int8 and bit: exact, identical on every CPU level.
    let ia: Vec<i8> = a.iter().map(|&x| x as i8).collect();
    let ib: Vec<i8> = b.iter().map(|&x| x as i8).collect();
    if n > 0 {
        let va = Vector::I8(ia.as_slice().into());
        let vb = Vector::I8(ib.as_slice().into());
        let bits_a = Vector::Bit(a.into());
        let bits_b = Vector::Bit(b.into());
        for m in Metric::ALL {
            let first = distance::distance_with(&all[0], m, &va, &vb).ok().flatten();
            let first_bits = distance::distance_with(&all[0], m, &bits_a, &bits_b).ok().flatten();
            for k in &all[1..] {
                assert_eq!(
                    distance::distance_with(k, m, &va, &vb).ok().flatten().map(f64::to_bits),
                    first.map(f64::to_bits),
                    "int8 {} differs between {} and {}",
                    m.name(),
                    all[0].name,
                    k.name
                );
                assert_eq!(
                    distance::distance_with(k, m, &bits_a, &bits_b).ok().flatten().map(f64::to_bits),
                    first_bits.map(f64::to_bits),
                    "bit {} differs between {} and {}",
                    m.name(),
                    all[0].name,
                    k.name
                );
            }
        }
    }
    // float32: aligned == unaligned, and close to the f64 reference when magnitudes are moderate.
    let nf = n / 4;
    if nf == 0 {
        return;
    }
    let x: Vec<f32> = a[..nf * 4].chunks_exact(4).map(|c| f32::from_le_bytes(c.try_into().unwrap())).collect();
    let y: Vec<f32> = b[..nf * 4].chunks_exact(4).map(|c| f32::from_le_bytes(c.try_into().unwrap())).collect();
    if !x.iter().chain(&y).all(|v| v.is_finite()) {
        return;
    }
    // Every finite magnitude: the float32 kernels fall back to float64 when squares or products
    // leave float32's range (cosine([1.08e-19], [-2.65e-23]) is 2, as the reference says).
    let moderate = true;
    let xu = distance::f32_le(&a[..nf * 4]).expect("f32_le");
    let yu = distance::f32_le(&b[..nf * 4]).expect("f32_le");
    for k in &all {
        for m in [Metric::L2, Metric::Ip, Metric::L1, Metric::Cosine] {
            let d = distance::f32_distance(k, m, &x, &y);
            let du = distance::f32u_distance(k, m, xu, yu);
            assert_eq!(
                d.map(f64::to_bits),
                du.map(f64::to_bits),
                "{} {}: aligned {d:?} != unaligned {du:?}",
                k.name,
                m.name()
            );
            if moderate && let (Some(d), Some((want, tol))) = (d, f64_reference(m, &x, &y)) {
                assert!(
                    (d - want).abs() <= tol,
                    "{} {} over {nf} dims: {d} vs f64 reference {want} (tolerance {tol})",
                    k.name,
                    m.name()
                );
            }
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let mut inp = Input::new(data);
    let mode = inp.u8();
    let ty = *inp.choose(&TYPES);
    let subtype = *inp.choose(&SUBTYPES);
    let dims = inp.u8() as usize + 1;
    match mode % 4 {
        0 => {
            let text = inp.rest();
            json_oracle(text, ty);
            blob_checks(text, ty, subtype, dims);
        }
        1 => {
            let bytes = inp.rest();
            blob_checks(bytes, ty, subtype, dims);
        }
        2 => {
            // Up to three arguments of any SQL type and subtype for every scalar function.
            let mut owned: Vec<(u8, Vec<u8>, i64, f64, u32)> = Vec::new();
            for _ in 0..3 {
                let kind = inp.u8();
                let st = *inp.choose(&SUBTYPES);
                let b = inp.bytes(600).to_vec();
                owned.push((kind, b, inp.i64() % 1000, inp.f64(), st));
            }
            let args: Vec<Arg<'_>> = owned
                .iter()
                .map(|(kind, b, i, f, st)| {
                    let v = match kind % 5 {
                        0 => SqlValue::Blob(b),
                        1 => SqlValue::Text(b),
                        2 => SqlValue::Integer(*i),
                        3 => SqlValue::Real(*f),
                        _ => SqlValue::Null,
                    };
                    Arg::with_subtype(v, *st)
                })
                .collect();
            functions(&args);
        }
        _ => {
            let split = inp.below(data.len().max(1));
            let rest = inp.rest();
            let (a, b) = rest.split_at(split.min(rest.len()));
            kernels(a, b);
        }
    }
});
