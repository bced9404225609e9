//! `->` and `->>` on JSON columns (stored as JSON text).

use std::collections::HashMap;
use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::{Array, ArrayRef, StringArray};
use arrow_schema::{DataType, Field, FieldRef};
use datafusion::common::{exec_err, Result, ScalarValue};
use datafusion::logical_expr::{
    ColumnarValue, ReturnFieldArgs, ScalarFunctionArgs, ScalarUDFImpl, Signature, Volatility,
};
use deeplake_types::{SpecType, TYPE_KEY};
use serde_json::Value as Json;

#[derive(Debug, PartialEq, Eq, Hash)]
pub struct JsonGet {
    /// `->>` (text) rather than `->` (JSON).
    as_text: bool,
    signature: Signature,
}

impl JsonGet {
    pub fn json() -> JsonGet {
        JsonGet {
            as_text: false,
            signature: Signature::any(2, Volatility::Immutable),
        }
    }
    pub fn text() -> JsonGet {
        JsonGet {
            as_text: true,
            signature: Signature::any(2, Volatility::Immutable),
        }
    }
}

fn step<'a>(doc: &'a Json, key: &ScalarValue) -> Option<&'a Json> {
    match key {
        ScalarValue::Utf8(Some(k))
        | ScalarValue::LargeUtf8(Some(k))
        | ScalarValue::Utf8View(Some(k)) => doc.as_object()?.get(k),
        k => {
            let i = match k {
                ScalarValue::Int64(Some(i)) => *i,
                ScalarValue::Int32(Some(i)) => i64::from(*i),
                _ => return None,
            };
            let arr = doc.as_array()?;
            let i = if i < 0 { arr.len() as i64 + i } else { i };
            arr.get(usize::try_from(i).ok()?)
        }
    }
}

impl ScalarUDFImpl for JsonGet {
    fn name(&self) -> &str {
        if self.as_text {
            "deeplake_json_get_text"
        } else {
            "deeplake_json_get"
        }
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Utf8)
    }
    fn return_field_from_args(&self, _args: ReturnFieldArgs) -> Result<FieldRef> {
        let field = Field::new(self.name(), DataType::Utf8, true);
        Ok(Arc::new(if self.as_text {
            field
        } else {
            field.with_metadata(HashMap::from([(
                TYPE_KEY.to_string(),
                SpecType::Json.name(),
            )]))
        }))
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let n = args.number_rows;
        let docs: ArrayRef = arrow_cast::cast(&args.args[0].to_array(n)?, &DataType::Utf8)?;
        let keys = args.args[1].to_array(n)?;
        let docs = docs.as_string::<i32>();
        let mut out: Vec<Option<String>> = Vec::with_capacity(n);
        for i in 0..n {
            if docs.is_null(i) || keys.is_null(i) {
                out.push(None);
                continue;
            }
            let doc: Json = match serde_json::from_str(docs.value(i)) {
                Ok(d) => d,
                Err(e) => return exec_err!("invalid input syntax for type json: {e}"),
            };
            let key = ScalarValue::try_from_array(&keys, i)?;
            out.push(match step(&doc, &key) {
                None | Some(Json::Null) if self.as_text => None,
                None => None,
                Some(Json::String(s)) if self.as_text => Some(s.clone()),
                Some(v) => Some(v.to_string()),
            });
        }
        let out = StringArray::from(out);
        if matches!(
            (&args.args[0], &args.args[1]),
            (ColumnarValue::Scalar(_), ColumnarValue::Scalar(_))
        ) {
            return Ok(ColumnarValue::Scalar(ScalarValue::try_from_array(&out, 0)?));
        }
        Ok(ColumnarValue::Array(Arc::new(out)))
    }
}
