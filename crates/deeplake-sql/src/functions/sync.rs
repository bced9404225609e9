//! `SELECT deeplake_sync_table('t')`: every statement already reads the
//! latest committed version of each table, so syncing only checks that the
//! table exists (accepting the reference's `'"t"'` quoting).

use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::BooleanArray;
use arrow_schema::DataType;
use datafusion::common::{exec_err, Result, ScalarValue};
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDFImpl, Signature, Volatility,
};

#[derive(Debug, PartialEq, Eq, Hash)]
pub struct SyncTable {
    tables: Vec<String>,
    signature: Signature,
}

impl SyncTable {
    pub fn new(tables: Vec<String>) -> SyncTable {
        SyncTable {
            tables,
            signature: Signature::exact(vec![DataType::Utf8], Volatility::Volatile),
        }
    }
}

/// The function's SQL name.
pub const SYNC_FUNCTION: &str = "deeplake_sync_table";

impl ScalarUDFImpl for SyncTable {
    fn name(&self) -> &str {
        SYNC_FUNCTION
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Boolean)
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let names = args.args[0].to_array(args.number_rows)?;
        let mut out = Vec::with_capacity(names.len());
        for name in names.as_string::<i32>().iter() {
            let Some(name) = name else {
                out.push(None);
                continue;
            };
            let bare = name.trim().trim_matches('"');
            let bare = bare.rsplit('.').next().unwrap_or(bare).trim_matches('"');
            if !self.tables.iter().any(|t| t == bare) {
                return exec_err!("Table '{bare}' does not exist");
            }
            out.push(Some(true));
        }
        let out = BooleanArray::from(out);
        if let ColumnarValue::Scalar(_) = args.args[0] {
            return Ok(ColumnarValue::Scalar(ScalarValue::try_from_array(&out, 0)?));
        }
        Ok(ColumnarValue::Array(Arc::new(out)))
    }
}
