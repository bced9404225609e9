//! The OpenAPI 3.1 document of the whole API, served at `/openapi.json`.
//! A test checks that it names every route the router serves.

pub const DOCUMENT: &str = include_str!("openapi.json");
