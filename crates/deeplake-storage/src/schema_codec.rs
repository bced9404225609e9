//! Schemas in manifests and data-file footers, written as Arrow IPC schema
//! flatbuffers (base64 in the JSON). The IPC encoding is a stable,
//! cross-language specification, so tables stay readable across Arrow
//! library upgrades (a serde dump of arrow-rs's own types would not).

use std::sync::Arc;

use arrow_schema::{Field, Schema, SchemaRef};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serializer};

use crate::error::StorageError;

pub fn encode(schema: &Schema) -> String {
    let fbb = arrow_ipc::convert::IpcSchemaEncoder::new().schema_to_fb(schema);
    STANDARD.encode(fbb.finished_data())
}

pub fn decode(text: &str) -> Result<Schema, StorageError> {
    let bytes = STANDARD
        .decode(text)
        .map_err(|e| StorageError::Corrupt(format!("schema is not base64: {e}")))?;
    let fb = arrow_ipc::root_as_schema(&bytes)
        .map_err(|e| StorageError::Corrupt(format!("schema flatbuffer is invalid: {e}")))?;
    // The flatbuffer is verified, but the conversion panics on types it does
    // not know; a damaged or foreign schema must be an error instead.
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        arrow_ipc::convert::fb_to_schema(fb)
    }))
    .map_err(|_| StorageError::Corrupt("schema holds an unsupported type".into()))
}

/// `#[serde(with)]` adapter for a whole schema.
pub mod ipc_schema {
    use super::*;

    pub fn serialize<S: Serializer>(schema: &SchemaRef, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&encode(schema))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<SchemaRef, D::Error> {
        let text = String::deserialize(d)?;
        decode(&text).map(Arc::new).map_err(D::Error::custom)
    }
}

/// `#[serde(with)]` adapter for one field, stored as a one-field schema.
pub mod ipc_field {
    use super::*;

    pub fn serialize<S: Serializer>(field: &Field, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&encode(&Schema::new(vec![field.clone()])))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Field, D::Error> {
        let text = String::deserialize(d)?;
        let schema = decode(&text).map_err(D::Error::custom)?;
        schema
            .fields()
            .first()
            .map(|f| f.as_ref().clone())
            .ok_or_else(|| D::Error::custom("field schema is empty"))
    }
}
