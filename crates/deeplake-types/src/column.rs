//! One column of caller data, before typing: shared by column ingest and the
//! format protocol, whose batches are columns too.

use arrow_array::ArrayRef;

use crate::value::Value;

/// One column of input: loose values or a ready Arrow array.
#[derive(Debug, Clone)]
pub enum Column {
    Values(Vec<Value>),
    Arrow(ArrayRef),
}

impl Column {
    pub fn len(&self) -> usize {
        match self {
            Column::Values(v) => v.len(),
            Column::Arrow(a) => a.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl From<Vec<Value>> for Column {
    fn from(v: Vec<Value>) -> Self {
        Column::Values(v)
    }
}

impl From<ArrayRef> for Column {
    fn from(a: ArrayRef) -> Self {
        Column::Arrow(a)
    }
}
