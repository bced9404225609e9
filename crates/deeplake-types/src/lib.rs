//! Deeplake's type system: the spec's schema types, the Arrow arrays that
//! store them, their PostgreSQL names, and inference from loose values.

mod cell;
mod coerce;
mod column;
mod error;
mod spec_type;
mod value;

pub use cell::cell;
pub use coerce::coerce_array;
pub use column::Column;
pub use error::TypeError;
pub use spec_type::{SpecType, TYPE_KEY};
pub use value::{build_array, infer_type, resolve_size, Value};
