//! The index types `CREATE INDEX ... USING deeplake_index` knows, their
//! spellings, which column types each can index, and the default per
//! column type. Names and aliases are the reference's, so a statement
//! written for it means the same here.

use arrow_schema::Field;
use deeplake_storage::IndexMeta;
use deeplake_types::SpecType;

use crate::IndexError;

/// The access method every index is created with.
pub const ACCESS_METHOD: &str = "deeplake_index";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IndexKind {
    InvertedIndex,
    Bm25,
    ExactText,
    Clustered,
    ClusteredQuantized,
    PooledQuantized,
    Unique,
    /// A vector and a text column together (`((emb, text)::
    /// deeplake_hybrid_record) deeplake_hybrid_ops`): a quantized IVF over
    /// the first and BM25 postings over the second, so a hybrid search
    /// takes both of its lists from one index.
    Hybrid,
}

/// The operator class that makes an index over two columns a hybrid one.
pub const HYBRID_OPS: &str = "deeplake_hybrid_ops";

/// What a column holds, as far as indexes care.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ColumnKind {
    Text,
    Vector,
    Matrix,
    Scalar,
    Other,
}

fn column_kind(field: &Field) -> ColumnKind {
    match SpecType::of_field(field) {
        Ok(SpecType::Text) => ColumnKind::Text,
        Ok(SpecType::Embedding(_)) => ColumnKind::Vector,
        Ok(SpecType::Embedding2D(_)) => ColumnKind::Matrix,
        Ok(
            SpecType::Int32
            | SpecType::Int64
            | SpecType::Float32
            | SpecType::Float64
            | SpecType::Bool
            | SpecType::Json
            | SpecType::ClassLabel,
        ) => ColumnKind::Scalar,
        _ => ColumnKind::Other,
    }
}

impl IndexKind {
    pub const ALL: [IndexKind; 7] = [
        IndexKind::InvertedIndex,
        IndexKind::Bm25,
        IndexKind::ExactText,
        IndexKind::Clustered,
        IndexKind::ClusteredQuantized,
        IndexKind::PooledQuantized,
        IndexKind::Unique,
    ];

    /// The canonical name, as `pg_indexes` and the manifest record it.
    pub fn name(self) -> &'static str {
        match self {
            IndexKind::InvertedIndex => "inverted_index",
            IndexKind::Bm25 => "bm25",
            IndexKind::ExactText => "exact_text",
            IndexKind::Clustered => "clustered",
            IndexKind::ClusteredQuantized => "clustered_quantized",
            IndexKind::PooledQuantized => "pooled_quantized",
            IndexKind::Unique => "unique",
            IndexKind::Hybrid => "hybrid",
        }
    }

    /// A spelling users type: a canonical name or one of its aliases.
    pub fn parse(text: &str) -> Result<IndexKind, IndexError> {
        let key = text.trim().to_lowercase();
        let kind = match key.as_str() {
            "inverted" | "inverted_index" => IndexKind::InvertedIndex,
            "bm25" => IndexKind::Bm25,
            "exact" | "exact_text" => IndexKind::ExactText,
            "clustered" => IndexKind::Clustered,
            "quantized" | "binary_quantized" | "clustered_quantized" => {
                IndexKind::ClusteredQuantized
            }
            "pooled_quantized" => IndexKind::PooledQuantized,
            "unique" => IndexKind::Unique,
            "hybrid" => IndexKind::Hybrid,
            _ => {
                let valid: Vec<&str> = IndexKind::ALL.iter().map(|k| k.name()).collect();
                return Err(IndexError::BadInput(format!(
                    "Unknown index_type '{text}'. Valid values: {}",
                    valid.join(", ")
                )));
            }
        };
        Ok(kind)
    }

    /// The type an index on `field` gets without `WITH (index_type = ...)`.
    pub fn default_for(field: &Field) -> Result<IndexKind, IndexError> {
        match column_kind(field) {
            ColumnKind::Text => Ok(IndexKind::Bm25),
            ColumnKind::Vector => Ok(IndexKind::Clustered),
            ColumnKind::Matrix => Ok(IndexKind::PooledQuantized),
            ColumnKind::Scalar => Ok(IndexKind::InvertedIndex),
            ColumnKind::Other => Err(not_indexable(field)),
        }
    }

    /// Refuses a hybrid index unless its columns are a vector and a text.
    pub fn check_hybrid(vector: &Field, text: &Field) -> Result<(), IndexError> {
        match (column_kind(vector), column_kind(text)) {
            (ColumnKind::Vector, ColumnKind::Text) => Ok(()),
            _ => Err(IndexError::BadInput(format!(
                "a hybrid index covers a vector column and a text column, got '{}' ({}) and '{}' ({})",
                vector.name(),
                type_name(vector),
                text.name(),
                type_name(text)
            ))),
        }
    }

    /// Whether `index` answers a search of this kind on `column`: an index
    /// of this type on that column, or a hybrid index's half (its vectors
    /// for a quantized search of its first column, its postings for a BM25
    /// search of its second).
    pub fn served_by(self, index: &IndexMeta, column: &str) -> bool {
        if index.index_type == self.name() && index.columns == [column] {
            return true;
        }
        let half = match self {
            IndexKind::ClusteredQuantized => 0,
            IndexKind::Bm25 => 1,
            _ => return false,
        };
        index.index_type == IndexKind::Hybrid.name()
            && index.columns.len() == 2
            && index.columns[half] == column
    }

    /// Refuses a type that cannot index `field`'s values.
    pub fn check(self, field: &Field) -> Result<(), IndexError> {
        if self == IndexKind::Hybrid {
            return Err(IndexError::BadInput(format!(
                "a hybrid index covers a vector and a text column: USING {ACCESS_METHOD} (((vectors, texts)::deeplake_hybrid_record) {HYBRID_OPS})"
            )));
        }
        let kind = column_kind(field);
        let fits = match self {
            IndexKind::Bm25 | IndexKind::ExactText => kind == ColumnKind::Text,
            IndexKind::InvertedIndex => matches!(kind, ColumnKind::Text | ColumnKind::Scalar),
            IndexKind::Clustered | IndexKind::ClusteredQuantized => kind == ColumnKind::Vector,
            IndexKind::PooledQuantized => kind == ColumnKind::Matrix,
            IndexKind::Unique => kind != ColumnKind::Other,
            IndexKind::Hybrid => false,
        };
        match fits {
            true => Ok(()),
            false => Err(IndexError::BadInput(format!(
                "index type '{}' cannot index column '{}' of type {}",
                self.name(),
                field.name(),
                type_name(field)
            ))),
        }
    }
}

fn type_name(field: &Field) -> String {
    SpecType::of_field(field).map_or_else(|_| field.data_type().to_string(), |t| t.sql_name())
}

fn not_indexable(field: &Field) -> IndexError {
    IndexError::BadInput(format!(
        "column '{}' of type {} cannot be indexed",
        field.name(),
        type_name(field)
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aliases_map_to_canonical_names() {
        for (alias, name) in [
            ("inverted", "inverted_index"),
            ("EXACT", "exact_text"),
            ("quantized", "clustered_quantized"),
            ("binary_quantized", "clustered_quantized"),
            (" bm25 ", "bm25"),
        ] {
            assert_eq!(IndexKind::parse(alias).unwrap().name(), name);
        }
        for k in IndexKind::ALL {
            assert_eq!(IndexKind::parse(k.name()).unwrap(), k);
        }
        let e = IndexKind::parse("hnsw").unwrap_err().to_string();
        assert!(
            e.contains("Unknown index_type 'hnsw'") && e.contains("clustered"),
            "{e}"
        );
    }
}
