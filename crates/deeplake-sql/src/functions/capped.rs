//! Functions whose output size the caller chooses (`repeat`, `lpad`,
//! `rpad`), refused as PostgreSQL refuses them when one value would pass
//! 1 GB ("requested length too large"), before anything is computed.
//! DataFusion's own build up to 2 GB per value in one step that nothing
//! can interrupt: a single `repeat('x', 2000000000)` held a worker thread
//! (and with it the statement's deadline and, on a small server, every
//! other request) for as long as that took.

use std::sync::Arc;

use datafusion::arrow::array::{Array, AsArray};
use datafusion::arrow::compute::kernels::length::length;
use datafusion::arrow::datatypes::{DataType, FieldRef, Int64Type};
use datafusion::common::{exec_err, Result};
use datafusion::logical_expr::{
    ColumnarValue, ReturnFieldArgs, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature,
};

/// PostgreSQL's largest value (`MaxAllocSize`).
pub const MAX_VALUE_BYTES: i64 = (1 << 30) - 1;

/// How a function's second argument sizes its output.
#[derive(Debug, PartialEq, Eq, Hash)]
enum Sizing {
    /// `repeat(s, n)`: `n` times the string.
    Times,
    /// `lpad(s, n [, fill])`: `n` characters, up to 4 bytes each.
    Characters,
}

#[derive(Debug, PartialEq, Eq, Hash)]
pub struct Capped {
    inner: Arc<ScalarUDF>,
    sizing: Sizing,
}

impl Capped {
    pub fn repeat() -> Capped {
        Capped {
            inner: datafusion::functions::string::repeat(),
            sizing: Sizing::Times,
        }
    }
    pub fn lpad() -> Capped {
        Capped {
            inner: datafusion::functions::unicode::lpad(),
            sizing: Sizing::Characters,
        }
    }
    pub fn rpad() -> Capped {
        Capped {
            inner: datafusion::functions::unicode::rpad(),
            sizing: Sizing::Characters,
        }
    }

    /// The largest value any row asks for, in bytes (an upper bound).
    fn largest(&self, args: &ScalarFunctionArgs) -> Result<i64> {
        let rows = args.number_rows;
        let counts = args.args[1].to_array(rows)?;
        let counts = datafusion::arrow::compute::cast(&counts, &DataType::Int64)?;
        let counts = counts.as_primitive::<Int64Type>();
        let lengths = match self.sizing {
            Sizing::Times => {
                let strings = args.args[0].to_array(rows)?;
                let strings = match strings.data_type() {
                    DataType::Utf8View => {
                        datafusion::arrow::compute::cast(&strings, &DataType::Utf8)?
                    }
                    _ => strings,
                };
                Some(datafusion::arrow::compute::cast(
                    &length(&strings)?,
                    &DataType::Int64,
                )?)
            }
            Sizing::Characters => None,
        };
        let mut largest = 0i64;
        for row in 0..counts.len() {
            if counts.is_null(row) {
                continue;
            }
            let n = counts.value(row).max(0);
            let bytes = match &lengths {
                Some(l) if l.is_valid(row) => {
                    n.saturating_mul(l.as_primitive::<Int64Type>().value(row))
                }
                Some(_) => 0,
                None => n.saturating_mul(4),
            };
            largest = largest.max(bytes);
        }
        Ok(largest)
    }
}

impl ScalarUDFImpl for Capped {
    fn name(&self) -> &str {
        self.inner.name()
    }
    fn signature(&self) -> &Signature {
        self.inner.signature()
    }
    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        self.inner.coerce_types(arg_types)
    }
    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        self.inner.return_type(arg_types)
    }
    fn return_field_from_args(&self, args: ReturnFieldArgs) -> Result<FieldRef> {
        self.inner.return_field_from_args(args)
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        if args.args.len() >= 2 && self.largest(&args)? > MAX_VALUE_BYTES {
            return exec_err!("requested length too large");
        }
        self.inner.invoke_with_args(args)
    }
}
