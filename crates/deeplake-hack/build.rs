//! Empty: a crate needs a build script of its own for cargo to apply its
//! [build-dependencies] list, which unifies the features of build scripts'
//! and proc macros' dependencies.
fn main() {}
