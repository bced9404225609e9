//! The spec's schema types and their Arrow and SQL forms.
//!
//! A stored column is an Arrow field whose metadata key [`TYPE_KEY`] holds the
//! spec type name, so domain types (IMAGE, CLASS_LABEL, ...) survive a round
//! trip even though several share one physical Arrow type.

use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use arrow_schema::{DataType, Field};

use crate::error::TypeError;

/// Field metadata key that records a column's spec type.
pub const TYPE_KEY: &str = "deeplake.type";

/// One type of the spec's "Data Types" table, plus the 2-D multi-vector type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SpecType {
    Text,
    Int32,
    Int64,
    Float32,
    Float64,
    Bool,
    Binary,
    Json,
    Image,
    Video,
    /// A fixed-size float32 vector; `None` means "size taken from the data".
    Embedding(Option<usize>),
    /// Several float32 vectors of one size per row (ColBERT-style multi-vector).
    Embedding2D(Option<usize>),
    SegmentMask,
    BinaryMask,
    BoundingBox,
    ClassLabel,
    Polygon,
    Point,
    Mesh,
    Medical,
    /// A schema directive: the column holds file paths to ingest, not data.
    File,
}

impl SpecType {
    /// Every concrete type, for exhaustive tests and documentation.
    pub const ALL: [SpecType; 21] = [
        SpecType::Text,
        SpecType::Int32,
        SpecType::Int64,
        SpecType::Float32,
        SpecType::Float64,
        SpecType::Bool,
        SpecType::Binary,
        SpecType::Json,
        SpecType::Image,
        SpecType::Video,
        SpecType::Embedding(None),
        SpecType::Embedding2D(None),
        SpecType::SegmentMask,
        SpecType::BinaryMask,
        SpecType::BoundingBox,
        SpecType::ClassLabel,
        SpecType::Polygon,
        SpecType::Point,
        SpecType::Mesh,
        SpecType::Medical,
        SpecType::File,
    ];

    /// The name used in schemas (`"EMBEDDING(384)"`, `"IMAGE"`).
    pub fn name(&self) -> String {
        match self {
            SpecType::Embedding(Some(n)) => format!("EMBEDDING({n})"),
            SpecType::Embedding2D(Some(n)) => format!("EMBEDDING_2D({n})"),
            other => other.base_name().to_string(),
        }
    }

    fn base_name(&self) -> &'static str {
        match self {
            SpecType::Text => "TEXT",
            SpecType::Int32 => "INT32",
            SpecType::Int64 => "INT64",
            SpecType::Float32 => "FLOAT32",
            SpecType::Float64 => "FLOAT64",
            SpecType::Bool => "BOOL",
            SpecType::Binary => "BINARY",
            SpecType::Json => "JSON",
            SpecType::Image => "IMAGE",
            SpecType::Video => "VIDEO",
            SpecType::Embedding(_) => "EMBEDDING",
            SpecType::Embedding2D(_) => "EMBEDDING_2D",
            SpecType::SegmentMask => "SEGMENT_MASK",
            SpecType::BinaryMask => "BINARY_MASK",
            SpecType::BoundingBox => "BOUNDING_BOX",
            SpecType::ClassLabel => "CLASS_LABEL",
            SpecType::Polygon => "POLYGON",
            SpecType::Point => "POINT",
            SpecType::Mesh => "MESH",
            SpecType::Medical => "MEDICAL",
            SpecType::File => "FILE",
        }
    }

    /// The PostgreSQL type name the SQL layer shows for this type.
    pub fn sql_name(&self) -> String {
        match self {
            SpecType::Text => "text".into(),
            SpecType::Int32 => "integer".into(),
            SpecType::Int64 => "bigint".into(),
            SpecType::Float32 => "real".into(),
            SpecType::Float64 => "double precision".into(),
            SpecType::Bool => "boolean".into(),
            SpecType::Binary | SpecType::Video => "bytea".into(),
            SpecType::Json => "jsonb".into(),
            SpecType::Embedding(Some(n)) => format!("float4[{n}]"),
            SpecType::Embedding(None) => "float4[]".into(),
            SpecType::Embedding2D(_) => "float4[][]".into(),
            SpecType::Polygon => "DEEPLAKE_POLYGON".into(),
            SpecType::Point => "DEEPLAKE_POINT".into(),
            SpecType::File => "FILE".into(),
            other => other.base_name().to_string(),
        }
    }

    /// True for types whose values are opaque byte blobs.
    pub fn is_blob(&self) -> bool {
        matches!(
            self,
            SpecType::Binary
                | SpecType::Image
                | SpecType::Video
                | SpecType::SegmentMask
                | SpecType::BinaryMask
                | SpecType::Polygon
                | SpecType::Mesh
                | SpecType::Medical
        )
    }

    /// True for float-vector types, whose elements must be finite.
    pub fn is_vector(&self) -> bool {
        matches!(
            self,
            SpecType::Embedding(_)
                | SpecType::Embedding2D(_)
                | SpecType::BoundingBox
                | SpecType::Point
        )
    }

    /// The Arrow type that stores this spec type.
    ///
    /// Blobs are `LargeBinary` because a commit's worth of video segments can
    /// exceed the 2 GiB that 32-bit offsets address.
    pub fn arrow_type(&self) -> Result<DataType, TypeError> {
        let item = || Arc::new(Field::new("item", DataType::Float32, false));
        Ok(match self {
            SpecType::Text | SpecType::Json => DataType::Utf8,
            SpecType::Int32 | SpecType::ClassLabel => DataType::Int32,
            SpecType::Int64 => DataType::Int64,
            SpecType::Float32 => DataType::Float32,
            SpecType::Float64 => DataType::Float64,
            SpecType::Bool => DataType::Boolean,
            t if t.is_blob() => DataType::LargeBinary,
            SpecType::Embedding(Some(n)) => DataType::FixedSizeList(item(), size_i32(*n)?),
            SpecType::Embedding2D(Some(n)) => DataType::List(Arc::new(Field::new(
                "item",
                DataType::FixedSizeList(item(), size_i32(*n)?),
                false,
            ))),
            SpecType::BoundingBox | SpecType::Point => DataType::List(item()),
            SpecType::Embedding(None) | SpecType::Embedding2D(None) => {
                return Err(TypeError::UnsizedEmbedding(self.name()))
            }
            _ => return Err(TypeError::NotStorable(self.name())),
        })
    }

    /// An Arrow field named `name` carrying this type in its metadata.
    pub fn field(&self, name: &str) -> Result<Field, TypeError> {
        let metadata = HashMap::from([(TYPE_KEY.to_string(), self.name())]);
        Ok(Field::new(name, self.arrow_type()?, true).with_metadata(metadata))
    }

    /// The spec type of a stored field: its metadata when present, else the
    /// natural reading of its Arrow type.
    pub fn of_field(field: &Field) -> Result<SpecType, TypeError> {
        if let Some(name) = field.metadata().get(TYPE_KEY) {
            return name.parse();
        }
        Self::from_arrow(field.data_type())
    }

    /// The natural spec type of an Arrow type (for Arrow data given without hints).
    pub fn from_arrow(dt: &DataType) -> Result<SpecType, TypeError> {
        Ok(match dt {
            DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => SpecType::Text,
            DataType::Int8 | DataType::Int16 | DataType::Int32 => SpecType::Int32,
            DataType::Int64
            | DataType::UInt8
            | DataType::UInt16
            | DataType::UInt32
            | DataType::UInt64 => SpecType::Int64,
            DataType::Float16 | DataType::Float32 => SpecType::Float32,
            DataType::Float64 => SpecType::Float64,
            DataType::Boolean => SpecType::Bool,
            DataType::Binary | DataType::LargeBinary | DataType::BinaryView => SpecType::Binary,
            DataType::FixedSizeList(f, n) if f.data_type().is_floating() => {
                SpecType::Embedding(Some(*n as usize))
            }
            DataType::List(f) | DataType::LargeList(f) => match f.data_type() {
                DataType::FixedSizeList(g, n) if g.data_type().is_floating() => {
                    SpecType::Embedding2D(Some(*n as usize))
                }
                t if t.is_floating() => SpecType::Embedding(None),
                _ => return Err(TypeError::UnsupportedArrow(dt.to_string())),
            },
            _ => return Err(TypeError::UnsupportedArrow(dt.to_string())),
        })
    }
}

fn size_i32(n: usize) -> Result<i32, TypeError> {
    match i32::try_from(n) {
        Ok(v) if v > 0 => Ok(v),
        _ => Err(TypeError::BadSize(n.to_string())),
    }
}

impl fmt::Display for SpecType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name())
    }
}

impl FromStr for SpecType {
    type Err = TypeError;

    /// Parses a schema type name, case-insensitively, accepting the SQL
    /// spellings too (`bigint`, `float4[]`, `DEEPLAKE_POINT`).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let t = s.trim();
        let upper = t.to_ascii_uppercase();
        let (base, size) = match upper.find('(') {
            Some(open) if upper.ends_with(')') => {
                let inner = upper[open + 1..upper.len() - 1].trim();
                let n: usize = inner
                    .parse()
                    .map_err(|_| TypeError::BadSize(inner.to_string()))?;
                if n == 0 {
                    return Err(TypeError::BadSize(inner.to_string()));
                }
                (upper[..open].trim().to_string(), Some(n))
            }
            _ => (upper.clone(), None),
        };
        let ty = match base.as_str() {
            "TEXT" | "STR" | "STRING" | "VARCHAR" => SpecType::Text,
            "INT32" | "INTEGER" | "INT" | "INT4" => SpecType::Int32,
            "INT64" | "BIGINT" | "INT8" => SpecType::Int64,
            "FLOAT32" | "REAL" | "FLOAT4" => SpecType::Float32,
            "FLOAT64" | "DOUBLE PRECISION" | "DOUBLE" | "FLOAT8" => SpecType::Float64,
            "BOOL" | "BOOLEAN" => SpecType::Bool,
            "BINARY" | "BYTEA" | "BYTES" => SpecType::Binary,
            "JSON" | "JSONB" => SpecType::Json,
            "IMAGE" => SpecType::Image,
            "VIDEO" => SpecType::Video,
            "EMBEDDING" | "FLOAT4[]" => SpecType::Embedding(size),
            "EMBEDDING_2D" | "FLOAT4[][]" => SpecType::Embedding2D(size),
            "SEGMENT_MASK" => SpecType::SegmentMask,
            "BINARY_MASK" => SpecType::BinaryMask,
            "BOUNDING_BOX" => SpecType::BoundingBox,
            "CLASS_LABEL" => SpecType::ClassLabel,
            "POLYGON" | "DEEPLAKE_POLYGON" => SpecType::Polygon,
            "POINT" | "DEEPLAKE_POINT" => SpecType::Point,
            "MESH" => SpecType::Mesh,
            "MEDICAL" => SpecType::Medical,
            "FILE" => SpecType::File,
            _ => return Err(TypeError::UnknownType(t.to_string())),
        };
        let sized = matches!(ty, SpecType::Embedding(_) | SpecType::Embedding2D(_));
        if size.is_some() && !sized {
            return Err(TypeError::UnknownType(t.to_string()));
        }
        if let Some(n) = size {
            size_i32(n)?;
        }
        Ok(ty)
    }
}
