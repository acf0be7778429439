-- vindex scalar functions through the sqlite3 CLI. Blobs are shown with hex(); distances that
-- are not exact in binary are rounded so the output does not depend on the SIMD kernel.

-- Version: only its shape (the number changes with releases; vec_debug has dates).
SELECT vec_version() GLOB 'v[0-9]*.[0-9]*.[0-9]*';
SELECT vec_debug() LIKE 'Version: v%' || char(10) || 'Date: %' || char(10) || 'Commit: %' || char(10) || 'Build flags: %';

-- Constructors: JSON text and blobs, every element type.
SELECT hex(vec_f32('[1, 2.5, -3]')), vec_type(vec_f32('[1]')), vec_length('[1, 2, 3]');
SELECT hex(vec_f32(X'0000803F00002040'));
SELECT hex(vec_f16('[1, 2.5, -2]')), vec_type(vec_f16('[1]')), vec_length(vec_f16('[1, 2]'));
SELECT hex(vec_f16(vec_f32('[1, -2]'))), hex(vec_f32(vec_f16('[0.5]')));
SELECT hex(vec_int8('[1, -1, 127, -128]')), vec_type(vec_int8(X'01')), vec_length(vec_int8(X'0102'));
SELECT hex(vec_bit(X'F00F')), vec_type(vec_bit(X'00')), vec_length(vec_bit(X'F00F'));
SELECT hex(vec_bit('[1,0,0,0,0,0,0,0, 0,0,0,0,0,0,0,1]'));

-- vec_to_json: %f for floats, integers for int8, 0/1 for bits (bit 0 of byte 0 first).
SELECT vec_to_json('[1, 0.1, -2.5, 1e-7]');
SELECT vec_to_json(vec_f16('[0.1, 65504]'));
SELECT vec_to_json(vec_int8('[-86, -69, 0, 127]'));
SELECT vec_to_json(vec_bit(X'0F80'));
SELECT json_array(vec_to_json(vec_int8('[1, 2]')));

-- Element-wise arithmetic; int8 wraps around.
SELECT vec_to_json(vec_add('[1, 2]', '[0.5, -4]')), vec_to_json(vec_sub('[1, 2]', '[0.5, -4]'));
SELECT vec_to_json(vec_add(vec_int8('[100, -100]'), vec_int8('[100, -100]')));
SELECT vec_to_json(vec_sub(vec_f16('[1, 2]'), vec_f16('[0.5, 4]')));
SELECT vec_to_json(vec_normalize('[3, 4]')), vec_to_json(vec_normalize(vec_f16('[3, 4]')));
SELECT vec_to_json(vec_slice('[1, 2, 3, 4]', 1, 3)), vec_to_json(vec_slice(vec_int8('[1, 2, 3]'), 0, 1));
SELECT hex(vec_slice(vec_bit(X'AABBCC'), 8, 24));

-- Distances: (1,2) to (4,6) is 5 in L2, 7 in L1, -16 as negative inner product.
SELECT vec_distance_l2('[1, 2]', '[4, 6]'), vec_distance_l1('[1, 2]', '[4, 6]'), vec_distance_ip('[1, 2]', '[4, 6]');
SELECT round(vec_distance_cosine('[1, 2]', '[4, 6]'), 9), vec_distance_cosine('[1, 0]', '[0, 1]'), vec_distance_cosine('[0, 0]', '[1, 1]') IS NULL;
SELECT vec_distance_l1(vec_int8('[1, 2]'), vec_int8('[4, -6]')), typeof(vec_distance_l1(vec_int8('[1, 2]'), vec_int8('[4, -6]')));
SELECT vec_distance_l2(vec_int8('[0, 3]'), vec_int8('[4, 0]')), vec_distance_ip(vec_int8('[1, 2]'), vec_int8('[3, 4]'));
SELECT vec_distance_l2(vec_f16('[1, 2]'), vec_f16('[4, 6]')), vec_distance_l1(vec_f16('[1, 2]'), vec_f16('[4, 6]'));
SELECT vec_distance_hamming(vec_bit(X'FF00'), vec_bit(X'0F01')), vec_distance_jaccard(vec_bit(X'0F'), vec_bit(X'03'));
SELECT vec_distance('[1, 2]', '[4, 6]'), vec_distance('[1, 2]', '[4, 6]', 'l1'), vec_distance('[1, 2]', '[4, 6]', 'ip');
SELECT vec_distance(vec_bit(X'0F'), vec_bit(X'03'), 'hamming'), vec_distance(vec_bit(X'0F'), vec_bit(X'03'), 'jaccard');

-- Quantization.
SELECT hex(vec_quantize_binary('[1, -1, 0, 2, 3, -4, 5, 0.001]')), vec_type(vec_quantize_binary('[1, 2, 3, 4, 5, 6, 7, 8]'));
SELECT vec_to_json(vec_quantize_int8('[0.1, -0.5, 1, -1, 0]', 'unit'));

-- vec_each: one row per element.
SELECT rowid, value, typeof(value) FROM vec_each('[1, 2.5]');
SELECT rowid, value FROM vec_each(vec_int8('[7, -8]'));
SELECT count(*), sum(value) FROM vec_each(vec_bit(X'0F'));
SELECT count(*), sum(value) FROM vec_each(vec_f16('[0.5, 0.25, 2]'));

-- Subtypes are lost in storage: re-tag stored int8/bit blobs.
CREATE TABLE t(id INTEGER PRIMARY KEY, v BLOB);
INSERT INTO t(v) VALUES (vec_int8('[1, 2, 3, 4]')), (vec_f32('[1, 2]'));
SELECT id, vec_type(v), vec_length(v) FROM t ORDER BY id;
SELECT vec_to_json(vec_int8(v)) FROM t WHERE id = 1;
SELECT id, round(vec_distance_l2(v, '[0, 0]'), 6) FROM t WHERE id = 2;

-- Errors name the problem (each prints an error line and the script goes on).
SELECT vec_f32('[1, 2');
SELECT vec_f32(X'000000');
SELECT vec_f32(NULL);
SELECT vec_distance_l2('[1, 2]', '[1, 2, 3]');
SELECT vec_distance_l2('[1, 2]', vec_int8('[1, 2]'));
SELECT vec_distance('[1]', '[2]', 'bogus');
SELECT vec_slice('[1, 2, 3]', 2, 1);
SELECT vec_quantize_int8('[0.5]', 'bogus');
SELECT vec_normalize('[0, 0]');
SELECT vec_f32('[]');
SELECT * FROM vec_each(NULL);
-- After the errors, the connection still works.
SELECT vec_length('[1, 2, 3]');
