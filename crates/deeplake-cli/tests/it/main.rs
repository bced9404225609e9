//! The command line's integration tests, one binary: each file below linked
//! the whole engine and the server on its own.

mod cli;
mod indexes;
mod reference;
mod serve;
