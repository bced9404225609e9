//! The native core of the `deeplake` Python package (`deeplake._native`).

mod client;
mod coco;
mod convert;
mod dataset;
mod errors;
mod format;
mod interrupt;
mod server;

use pyo3::prelude::*;

#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<client::NativeClient>()?;
    m.add_class::<dataset::NativeDataset>()?;
    m.add_class::<dataset::NativeBatches>()?;
    m.add_class::<coco::NativeCocoBatches>()?;
    m.add_function(wrap_pyfunction!(dataset::decode_images, m)?)?;
    m.add_function(wrap_pyfunction!(server::serve, m)?)?;
    m.add_function(wrap_pyfunction!(server::create_token, m)?)?;
    m.add_function(wrap_pyfunction!(client::canonical_index_type, m)?)?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
