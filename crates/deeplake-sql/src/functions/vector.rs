//! `float4[]` values: parsing PostgreSQL array text, the casts to `float4[]`
//! and `float4[][]`, and `<#>` on vectors (cosine) and multi-vectors (MaxSim).

use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::Float32Type;
use arrow_array::{Array, ArrayRef, Float32Array, ListArray};
use arrow_buffer::{NullBuffer, OffsetBuffer};
use arrow_schema::{DataType, Field, FieldRef};
use datafusion::common::{exec_err, plan_err, Result, ScalarValue};
use datafusion::logical_expr::{
    ColumnarValue, ReturnFieldArgs, ScalarFunctionArgs, ScalarUDFImpl, Signature, Volatility,
};

use deeplake_index::kernel;

fn item() -> FieldRef {
    Arc::new(Field::new("item", DataType::Float32, true))
}

/// `List<Float32>`: what `float4[]` means in query results.
pub fn vector_type() -> DataType {
    DataType::List(item())
}

/// `List<List<Float32>>`: what `float4[][]` means in query results.
pub fn vector2d_type() -> DataType {
    DataType::List(Arc::new(Field::new("item", vector_type(), true)))
}

/// A parsed array literal: `{1,2}` is flat, `{{1,2},{3,4}}` nested.
#[derive(Debug, PartialEq)]
pub enum ArrayText {
    Flat(Vec<f32>),
    Nested(Vec<Vec<f32>>),
}

/// Parses PostgreSQL array text (`{0.1,0.2}`, `{{1,2},{3,4}}`); JSON-style
/// square brackets are accepted too, as users paste both.
pub fn parse_array_text(text: &str) -> std::result::Result<ArrayText, String> {
    let t = text.trim();
    let bad = || format!("malformed array literal: \"{}\"", short(t));
    let (open, close) = match t.chars().next() {
        Some('{') => ('{', '}'),
        Some('[') => ('[', ']'),
        _ => return Err(bad()),
    };
    let inner = t
        .strip_prefix(open)
        .and_then(|s| s.strip_suffix(close))
        .ok_or_else(bad)?
        .trim();
    if inner.starts_with(open) {
        let mut rows = Vec::new();
        let mut rest = inner;
        loop {
            let end = rest.find(close).ok_or_else(bad)?;
            rows.push(parse_numbers(&rest[1..end]).ok_or_else(bad)?);
            rest = rest[end + 1..].trim_start();
            if rest.is_empty() {
                break;
            }
            rest = rest.strip_prefix(',').ok_or_else(bad)?.trim_start();
            if !rest.starts_with(open) {
                return Err(bad());
            }
        }
        if rows.windows(2).any(|w| w[0].len() != w[1].len()) {
            return Err(format!(
                "multidimensional arrays must have sub-arrays of one size: \"{}\"",
                short(t)
            ));
        }
        return Ok(ArrayText::Nested(rows));
    }
    Ok(ArrayText::Flat(parse_numbers(inner).ok_or_else(bad)?))
}

fn short(t: &str) -> String {
    if t.chars().count() > 60 {
        format!("{}...", t.chars().take(60).collect::<String>())
    } else {
        t.to_string()
    }
}

fn parse_numbers(s: &str) -> Option<Vec<f32>> {
    if s.trim().is_empty() {
        return Some(vec![]);
    }
    s.split(',')
        .map(|p| p.trim().parse::<f32>().ok().filter(|v| v.is_finite()))
        .collect()
}

fn is_text(dt: &DataType) -> bool {
    matches!(
        dt,
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View
    )
}

fn is_list(dt: &DataType) -> bool {
    matches!(
        dt,
        DataType::List(_) | DataType::LargeList(_) | DataType::FixedSizeList(_, _)
    )
}

fn list_item(dt: &DataType) -> Option<&DataType> {
    match dt {
        DataType::List(f) | DataType::LargeList(f) | DataType::FixedSizeList(f, _) => {
            Some(f.data_type())
        }
        _ => None,
    }
}

/// True for list-of-list types (multi-vectors).
pub fn is_2d(dt: &DataType) -> bool {
    list_item(dt).is_some_and(is_list)
}

fn text_values(a: &ArrayRef) -> Result<Vec<Option<String>>> {
    let a = arrow_cast::cast(a, &DataType::Utf8)?;
    Ok(a.as_string::<i32>()
        .iter()
        .map(|v| v.map(str::to_string))
        .collect())
}

/// Parses each non-null text of `a` as an array literal and maps it with `f`.
fn parse_texts<T>(
    a: &ArrayRef,
    f: impl Fn(&str, ArrayText) -> Result<T>,
) -> Result<Vec<Option<T>>> {
    text_values(a)?
        .into_iter()
        .map(|t| match t {
            None => Ok(None),
            Some(t) => match parse_array_text(&t) {
                Ok(parsed) => f(&t, parsed).map(Some),
                Err(e) => exec_err!("{e}"),
            },
        })
        .collect()
}

fn flat_list(values: Vec<Option<Vec<f32>>>) -> ListArray {
    let mut offsets = vec![0i32];
    let mut flat = Vec::new();
    let nulls: NullBuffer = values.iter().map(Option::is_some).collect();
    for v in &values {
        if let Some(v) = v {
            flat.extend_from_slice(v);
        }
        offsets.push(flat.len() as i32);
    }
    ListArray::new(
        item(),
        OffsetBuffer::new(offsets.into()),
        Arc::new(Float32Array::from(flat)),
        Some(nulls).filter(|n| n.null_count() > 0),
    )
}

fn nested_list(values: Vec<Option<Vec<Vec<f32>>>>) -> ListArray {
    let mut offsets = vec![0i32];
    let mut rows: Vec<Option<Vec<f32>>> = Vec::new();
    let nulls: NullBuffer = values.iter().map(Option::is_some).collect();
    for v in values {
        if let Some(v) = v {
            rows.extend(v.into_iter().map(Some));
        }
        offsets.push(rows.len() as i32);
    }
    ListArray::new(
        Arc::new(Field::new("item", vector_type(), true)),
        OffsetBuffer::new(offsets.into()),
        Arc::new(flat_list(rows)),
        Some(nulls).filter(|n| n.null_count() > 0),
    )
}

/// `x::float4[]` and `x::float4[][]`: text in array syntax or any numeric
/// list becomes a float32 list (of lists).
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct ToVector {
    name: &'static str,
    nested: bool,
    signature: Signature,
}

impl ToVector {
    pub fn flat() -> ToVector {
        ToVector {
            name: "deeplake_vector",
            nested: false,
            signature: Signature::any(1, Volatility::Immutable),
        }
    }
    pub fn nested() -> ToVector {
        ToVector {
            name: "deeplake_vector2d",
            nested: true,
            signature: Signature::any(1, Volatility::Immutable),
        }
    }

    /// Whether a text constant is a nested array: `'{{..}}'::float4[]` is a
    /// 2-D array as in PostgreSQL, where `[]` does not fix the dimensions.
    fn nested_for(&self, arg: &DataType, scalar: Option<&ScalarValue>) -> bool {
        if self.nested {
            return true;
        }
        if is_2d(arg) {
            return true;
        }
        let text = match scalar {
            Some(ScalarValue::Utf8(Some(s)))
            | Some(ScalarValue::LargeUtf8(Some(s)))
            | Some(ScalarValue::Utf8View(Some(s))) => s,
            _ => return false,
        };
        matches!(parse_array_text(text), Ok(ArrayText::Nested(_)))
    }
}

impl ScalarUDFImpl for ToVector {
    fn name(&self) -> &str {
        self.name
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(if self.nested {
            vector2d_type()
        } else {
            vector_type()
        })
    }
    fn return_field_from_args(&self, args: ReturnFieldArgs) -> Result<FieldRef> {
        let arg = args.arg_fields[0].data_type();
        if !is_text(arg) && !is_list(arg) && !arg.is_null() {
            return plan_err!("cannot cast type {arg} to float4[]");
        }
        let nested = self.nested_for(arg, args.scalar_arguments[0]);
        let dt = if nested {
            vector2d_type()
        } else {
            vector_type()
        };
        Ok(Arc::new(Field::new(self.name, dt, true)))
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let nested = is_2d(args.return_field.data_type());
        let scalar = matches!(args.args[0], ColumnarValue::Scalar(_));
        let input = args.args[0].to_array(args.number_rows)?;
        let out: ArrayRef = if is_text(input.data_type()) {
            let texts = text_values(&input)?;
            let mut flat = Vec::with_capacity(texts.len());
            let mut rows = Vec::with_capacity(texts.len());
            for t in texts {
                let Some(t) = t else {
                    flat.push(None);
                    rows.push(None);
                    continue;
                };
                match (parse_array_text(&t), nested) {
                    (Ok(ArrayText::Flat(v)), false) => flat.push(Some(v)),
                    (Ok(ArrayText::Nested(v)), true) => rows.push(Some(v)),
                    (Ok(ArrayText::Flat(v)), true) if v.is_empty() => rows.push(Some(vec![])),
                    (Ok(_), _) => {
                        return exec_err!(
                            "array literal \"{}\" does not have the dimensions of its neighbours",
                            short(&t)
                        )
                    }
                    (Err(e), _) => return exec_err!("{e}"),
                }
            }
            if nested {
                Arc::new(nested_list(rows))
            } else {
                Arc::new(flat_list(flat))
            }
        } else if input.data_type().is_null() {
            arrow_array::new_null_array(args.return_field.data_type(), input.len())
        } else {
            arrow_cast::cast(&input, args.return_field.data_type())?
        };
        if scalar {
            return Ok(ColumnarValue::Scalar(ScalarValue::try_from_array(&out, 0)?));
        }
        Ok(ColumnarValue::Array(out))
    }
}

/// Rows of vectors as one flat float32 buffer plus per-row bounds.
pub struct Vectors {
    values: Float32Array,
    bounds: Bounds,
    nulls: Option<NullBuffer>,
}

enum Bounds {
    Fixed(usize),
    Offsets(OffsetBuffer<i32>),
}

impl Vectors {
    /// Reads any list of numbers as float32 vectors, zero-copy when the
    /// column already holds fixed-size float32 lists.
    pub fn of(a: &ArrayRef) -> Result<Vectors> {
        if let DataType::FixedSizeList(f, n) = a.data_type() {
            if f.data_type() == &DataType::Float32 {
                let l = a.as_fixed_size_list();
                return Ok(Vectors {
                    values: l.values().as_primitive::<Float32Type>().clone(),
                    bounds: Bounds::Fixed(*n as usize),
                    nulls: l.nulls().cloned(),
                });
            }
        }
        if is_text(a.data_type()) {
            let rows = parse_texts(a, |t, parsed| match parsed {
                ArrayText::Flat(v) => Ok(v),
                ArrayText::Nested(_) => exec_err!("expected a 1-D array, got \"{}\"", short(t)),
            })?;
            return Vectors::of(&(Arc::new(flat_list(rows)) as ArrayRef));
        }
        if !is_list(a.data_type()) || is_2d(a.data_type()) {
            return exec_err!("expected a float4[] vector, got {}", a.data_type());
        }
        let l = arrow_cast::cast(a, &vector_type())?;
        let l = l.as_list::<i32>();
        Ok(Vectors {
            values: l.values().as_primitive::<Float32Type>().clone(),
            bounds: Bounds::Offsets(l.offsets().clone()),
            nulls: l.nulls().cloned(),
        })
    }

    pub fn len(&self) -> usize {
        match &self.bounds {
            Bounds::Fixed(0) => self.nulls.as_ref().map_or(0, NullBuffer::len),
            Bounds::Fixed(n) => self.values.len() / n,
            Bounds::Offsets(o) => o.len() - 1,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn get(&self, i: usize) -> Option<&[f32]> {
        if self.nulls.as_ref().is_some_and(|n| n.is_null(i)) {
            return None;
        }
        let v = self.values.values();
        Some(match &self.bounds {
            Bounds::Fixed(n) => &v[i * n..(i + 1) * n],
            Bounds::Offsets(o) => &v[o[i] as usize..o[i + 1] as usize],
        })
    }
}

/// One row's vectors as a flat buffer, and the size of each vector.
type MultiVector = (Vec<f32>, usize);

/// Rows of multi-vectors.
fn multi_vectors(a: &ArrayRef) -> Result<Vec<Option<MultiVector>>> {
    let a = if is_text(a.data_type()) {
        let rows = parse_texts(a, |_, parsed| {
            Ok(match parsed {
                ArrayText::Nested(v) => v,
                ArrayText::Flat(v) => vec![v],
            })
        })?;
        Arc::new(nested_list(rows)) as ArrayRef
    } else {
        arrow_cast::cast(a, &vector2d_type())?
    };
    let outer = a.as_list::<i32>();
    let mut out = Vec::with_capacity(outer.len());
    for i in 0..outer.len() {
        if outer.is_null(i) {
            out.push(None);
            continue;
        }
        let inner = outer.value(i);
        let v = Vectors::of(&inner)?;
        let mut dim = None;
        let mut flat = Vec::new();
        for j in 0..v.len() {
            let Some(x) = v.get(j) else { continue };
            if *dim.get_or_insert(x.len()) != x.len() {
                return exec_err!("multi-vector rows must hold vectors of one size");
            }
            flat.extend_from_slice(x);
        }
        out.push(Some((flat, dim.unwrap_or(0))));
    }
    Ok(out)
}

/// `a <#> b` on vectors: cosine similarity for `float4[]`, MaxSim for
/// `float4[][]`; higher is better either way.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct Similarity {
    signature: Signature,
}

impl Default for Similarity {
    fn default() -> Similarity {
        Similarity {
            signature: Signature::any(2, Volatility::Immutable),
        }
    }
}

fn size_mismatch(col: usize, query: usize) -> datafusion::error::DataFusionError {
    datafusion::error::DataFusionError::Execution(format!(
        "vector size mismatch: the column has {col} dimensions, the query has {query}"
    ))
}

fn cosine_scores(left: &ArrayRef, right: &ArrayRef, query_is_scalar: bool) -> Result<Float32Array> {
    let l = Vectors::of(left)?;
    let r = Vectors::of(right)?;
    let n = l.len();
    if query_is_scalar {
        let Some(q) = r.get(0) else {
            return Ok(Float32Array::new_null(n));
        };
        if let Bounds::Fixed(dim) = l.bounds {
            if dim != q.len() {
                return Err(size_mismatch(dim, q.len()));
            }
            let mut out = vec![0f32; n];
            kernel::cosines(q, l.values.values(), &mut out);
            return Ok(Float32Array::new(out.into(), l.nulls.clone()));
        }
        let mut out = Vec::with_capacity(n);
        for i in 0..n {
            out.push(match l.get(i) {
                None => None,
                Some(x) if x.len() != q.len() => return Err(size_mismatch(x.len(), q.len())),
                Some(x) => Some(kernel::cosine(q, x)),
            });
        }
        return Ok(Float32Array::from(out));
    }
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        out.push(match (l.get(i), r.get(i)) {
            (Some(a), Some(b)) if a.len() != b.len() => {
                return Err(size_mismatch(a.len(), b.len()))
            }
            (Some(a), Some(b)) => Some(kernel::cosine(a, b)),
            _ => None,
        });
    }
    Ok(Float32Array::from(out))
}

fn maxsim_scores(left: &ArrayRef, right: &ArrayRef, query_is_scalar: bool) -> Result<Float32Array> {
    let docs = multi_vectors(left)?;
    let queries = multi_vectors(right)?;
    let mut out = Vec::with_capacity(docs.len());
    for (i, d) in docs.iter().enumerate() {
        let q = if query_is_scalar {
            &queries[0]
        } else {
            &queries[i]
        };
        out.push(match (d, q) {
            (Some((d, dd)), Some((q, qd))) => {
                if !d.is_empty() && !q.is_empty() && dd != qd {
                    return Err(size_mismatch(*dd, *qd));
                }
                Some(kernel::maxsim(q, d, *qd))
            }
            _ => None,
        });
    }
    Ok(Float32Array::from(out))
}

impl ScalarUDFImpl for Similarity {
    fn name(&self) -> &str {
        "deeplake_similarity"
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        for t in arg_types {
            if !(is_list(t) || is_text(t) || t.is_null()) {
                return plan_err!(
                    "operator <#> is not defined for {t}: it takes float4[] vectors, float4[][] multi-vectors, text, or (embedding, text)::deeplake_hybrid_record"
                );
            }
        }
        Ok(DataType::Float32)
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let n = args.number_rows;
        // Put the constant side (the query) on the right.
        let (col, query) = match (&args.args[0], &args.args[1]) {
            (ColumnarValue::Scalar(_), ColumnarValue::Array(_)) => (&args.args[1], &args.args[0]),
            _ => (&args.args[0], &args.args[1]),
        };
        let query_is_scalar = matches!(query, ColumnarValue::Scalar(_));
        let all_scalar = query_is_scalar && matches!(col, ColumnarValue::Scalar(_));
        let left = col.to_array(if all_scalar { 1 } else { n })?;
        let right = query.to_array(1)?;
        let right = if query_is_scalar {
            right
        } else {
            query.to_array(n)?
        };
        let two_d = is_2d(left.data_type()) || is_2d(right.data_type());
        let scores = if two_d {
            maxsim_scores(&left, &right, query_is_scalar)?
        } else {
            cosine_scores(&left, &right, query_is_scalar)?
        };
        if all_scalar {
            return Ok(ColumnarValue::Scalar(ScalarValue::try_from_array(
                &scores, 0,
            )?));
        }
        Ok(ColumnarValue::Array(Arc::new(scores)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn array_text_forms() {
        assert_eq!(
            parse_array_text("{0.5, -1,2e-1}"),
            Ok(ArrayText::Flat(vec![0.5, -1.0, 0.2]))
        );
        assert_eq!(
            parse_array_text(" [1,2] "),
            Ok(ArrayText::Flat(vec![1.0, 2.0]))
        );
        assert_eq!(
            parse_array_text("{{1,2},{3,4}}"),
            Ok(ArrayText::Nested(vec![vec![1.0, 2.0], vec![3.0, 4.0]]))
        );
        assert_eq!(parse_array_text("{}"), Ok(ArrayText::Flat(vec![])));
        for bad in [
            "",
            "1,2",
            "{1,,2}",
            "{1,abc}",
            "{1,2",
            "{{1,2},{3}}",
            "{nan}",
            "{{1},2}",
        ] {
            assert!(parse_array_text(bad).is_err(), "{bad} parsed");
        }
    }
}

/// `col <#> constant vector` with the vector bound at planning (see
/// `Search::Vector`): cosine against a 1-D column, MaxSim against a 2-D
/// one, as `deeplake_similarity` computes them.
#[derive(Debug)]
pub struct VectorQuery {
    vector: Vec<f32>,
    /// The vector as a one-row `float4[]` array, built once.
    array: ArrayRef,
}

impl VectorQuery {
    pub fn new(vector: Vec<f32>) -> VectorQuery {
        let array: ArrayRef = Arc::new(flat_list(vec![Some(vector.clone())]));
        VectorQuery { vector, array }
    }
}

impl PartialEq for VectorQuery {
    fn eq(&self, other: &Self) -> bool {
        self.vector == other.vector
    }
}

impl super::bound::RowScorer for VectorQuery {
    const ARGS: usize = 1;
    fn scores(&self, args: &[ArrayRef]) -> Result<Float32Array> {
        if is_2d(args[0].data_type()) {
            maxsim_scores(&args[0], &self.array, true)
        } else {
            cosine_scores(&args[0], &self.array, true)
        }
    }
}
