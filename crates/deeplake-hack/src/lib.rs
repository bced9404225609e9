//! No code: this crate exists for its dependency list (see Cargo.toml),
//! which makes every member of the workspace build its dependencies with
//! one set of features.
