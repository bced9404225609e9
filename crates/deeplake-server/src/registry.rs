//! The server's record of users, orgs and workspaces, kept in the storage
//! root itself so that any number of servers over one root agree.
//!
//! Layout (every record a small immutable object written with a
//! conditional create, so racing writers never clobber each other):
//! - `_registry/users/<user>/<org>/member.json`: `user` belongs to `org`;
//!   `/me` lists a user's orgs from these.
//! - `<org>/<workspace>/_workspace.json`: the workspace exists. A directory
//!   under `<org>/` made by an embedded client counts as a workspace too.
//!
//! Names never reach a path unchecked: every one passes
//! [`deeplake_client::check_name`] first, and org names cannot start with
//! `_`, so no org can be named `_registry`.

use deeplake_client::{check_name, ClientError, ErrorKind};
use deeplake_storage::Location;
use serde_json::json;

use crate::auth::now;
use crate::error::{Result, ServerError};

const MARKER: &str = "_workspace.json";

#[derive(Clone)]
pub struct Registry {
    root: Location,
}

fn storage(e: deeplake_storage::StorageError) -> ServerError {
    ServerError::Api(ClientError::from(e).with_kind(ErrorKind::Unavailable))
}

impl Registry {
    pub fn new(root: Location) -> Registry {
        Registry { root }
    }

    pub fn root(&self) -> &Location {
        &self.root
    }

    fn members(&self, user: &str) -> Location {
        self.root.child("_registry").child("users").child(user)
    }

    /// Records that `user` belongs to `org` (idempotent).
    pub async fn add_member(&self, user: &str, org: &str) -> Result<()> {
        check_name("user id", user)?;
        check_name("org id", org)?;
        let record = json!({ "user": user, "org": org, "since": now() });
        self.members(user)
            .child(org)
            .put_new("member.json", record.to_string().into_bytes())
            .await
            .map_err(storage)?;
        Ok(())
    }

    /// The orgs `user` belongs to, sorted.
    pub async fn orgs_of(&self, user: &str) -> Result<Vec<String>> {
        check_name("user id", user)?;
        self.members(user).list_dirs().await.map_err(storage)
    }

    /// Creates a workspace; false when it existed already.
    pub async fn create_workspace(&self, org: &str, name: &str) -> Result<bool> {
        check_name("org id", org)?;
        check_name("workspace", name)?;
        let record = json!({ "org": org, "name": name, "created": now() });
        self.root
            .child(org)
            .child(name)
            .put_new(MARKER, record.to_string().into_bytes())
            .await
            .map_err(storage)
    }

    /// The org's workspaces, sorted.
    pub async fn workspaces(&self, org: &str) -> Result<Vec<String>> {
        check_name("org id", org)?;
        let mut names = self.root.child(org).list_dirs().await.map_err(storage)?;
        // Only names a workspace could have: a stray directory is not one.
        names.retain(|n| check_name("workspace", n).is_ok());
        Ok(names)
    }

    pub async fn workspace_exists(&self, org: &str, name: &str) -> Result<bool> {
        check_name("org id", org)?;
        check_name("workspace", name)?;
        let ws = self.root.child(org).child(name);
        if ws.get(MARKER).await.map_err(storage)?.is_some() {
            return Ok(true);
        }
        // A workspace an embedded client made has tables but no marker.
        Ok(!ws.list_dirs().await.map_err(storage)?.is_empty())
    }
}
