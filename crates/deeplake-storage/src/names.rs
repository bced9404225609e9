//! Rules for names that become directories: tables, orgs, workspaces.

/// Longest accepted name: PostgreSQL's identifier limit, so every table is
/// addressable from SQL unquoted-length-wise.
pub const MAX_NAME_LEN: usize = 63;

/// Names the SQL layer or the storage layout keeps for itself.
const RESERVED: [&str; 4] = ["information_schema", "pg_catalog", "pg_indexes", "deeplake"];

/// Why `name` cannot name a directory-backed object, if it cannot.
pub fn invalid_reason(name: &str) -> Option<String> {
    if name.is_empty() {
        return Some("name must not be empty".into());
    }
    if name.len() > MAX_NAME_LEN {
        return Some(format!(
            "name is {} characters long; the limit is {MAX_NAME_LEN}",
            name.len()
        ));
    }
    if name.contains('/') || name.contains('\\') {
        return Some("name must not contain path separators".into());
    }
    if name.contains("..") {
        return Some("name must not contain '..'".into());
    }
    if name.starts_with('_') || name.starts_with('.') {
        return Some("names starting with '_' or '.' are reserved".into());
    }
    let lower = name.to_ascii_lowercase();
    if RESERVED.contains(&lower.as_str()) || lower.starts_with("pg_") {
        return Some(format!("'{name}' is a reserved name"));
    }
    if let Some(c) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || *c == '_' || *c == '-'))
    {
        return Some(format!(
            "character {c:?} is not allowed (use letters, digits, '_' and '-')"
        ));
    }
    None
}
