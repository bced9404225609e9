//! The client's integration tests, one binary: each file below linked the
//! whole engine on its own, and a link of it costs more than most of the
//! tests it holds.

mod client;
mod common;
mod error_kinds;
mod example;
mod files;
mod formats;
mod huggingface;
mod insert;
mod processes;
mod sql;
