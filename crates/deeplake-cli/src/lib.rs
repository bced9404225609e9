//! Pieces of the `deeplake` command line shared with its tests and benchmarks.

pub mod npy;
pub mod served;
pub mod wordnet;
