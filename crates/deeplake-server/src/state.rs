//! What every request shares: the secret, the registry, the open
//! workspaces, and who is calling.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use deeplake_client::Workspace;
use deeplake_storage::Location;

use crate::auth::{now, Claims, Secret};
use crate::error::{Result, ServerError};
use crate::registry::Registry;
use crate::statements::Statements;

/// The header a reference client names its org in.
pub const ORG_HEADER: &str = "x-activeloop-org-id";

/// Settings a running server keeps.
#[derive(Clone)]
pub struct Settings {
    /// Create a workspace when a table is first created in it.
    pub auto_workspaces: bool,
    /// The longest a statement may run, whatever a request asks for.
    pub max_query_time: Duration,
    /// Largest request body, and largest message of a streamed one, in
    /// bytes (413 above it).
    pub max_body_bytes: usize,
}

pub struct AppState {
    pub secret: Secret,
    pub registry: Registry,
    /// The storage root as the operator gave it, for paths shown to users.
    pub root_display: String,
    pub settings: Settings,
    /// The runtime statements run on (see `statements`).
    pub statements: Statements,
    workspaces: Mutex<HashMap<(String, String), Arc<Workspace>>>,
    /// (user, org) pairs already recorded in the registry by this process.
    members: Mutex<HashSet<(String, String)>>,
}

pub type State = Arc<AppState>;

impl AppState {
    pub fn new(
        secret: Secret,
        root: Location,
        root_display: &str,
        settings: Settings,
    ) -> Result<AppState> {
        Ok(AppState {
            secret,
            registry: Registry::new(root),
            root_display: root_display.trim_end_matches('/').to_string(),
            settings,
            statements: Statements::start()?,
            workspaces: Mutex::new(HashMap::new()),
            members: Mutex::new(HashSet::new()),
        })
    }

    /// The workspace `name` of `org`. A missing one is created when
    /// `create` is set and the server creates workspaces on first use,
    /// else it is a 404.
    pub async fn workspace(&self, org: &str, name: &str, create: bool) -> Result<Arc<Workspace>> {
        let key = (org.to_string(), name.to_string());
        if let Some(ws) = self.cached(&key) {
            return Ok(ws);
        }
        let ws = Workspace::new(self.registry.root(), &self.root_display, org, name)?;
        if !self.registry.workspace_exists(org, name).await? {
            if !(create && self.settings.auto_workspaces) {
                return Err(ServerError::not_found(format!(
                    "Workspace '{name}' not found"
                )));
            }
            self.registry.create_workspace(org, name).await?;
        }
        let ws = Arc::new(ws);
        if let Ok(mut map) = self.workspaces.lock() {
            map.entry(key).or_insert_with(|| ws.clone());
        }
        Ok(ws)
    }

    fn cached(&self, key: &(String, String)) -> Option<Arc<Workspace>> {
        self.workspaces.lock().ok()?.get(key).cloned()
    }

    /// Records a token's user as a member of its org, once per process.
    async fn remember_member(&self, user: &str, org: &str) {
        let pair = (user.to_string(), org.to_string());
        let fresh = self
            .members
            .lock()
            .map(|mut m| m.insert(pair))
            .unwrap_or(false);
        if fresh {
            if let Err(e) = self.registry.add_member(user, org).await {
                tracing::warn!(user, org, error = %e, "could not record membership");
                if let Ok(mut m) = self.members.lock() {
                    m.remove(&(user.to_string(), org.to_string()));
                }
            }
        }
    }
}

/// The authenticated caller of a request.
pub struct Caller {
    pub claims: Claims,
    /// The org the request acts in, when the token or the registry names one.
    pub org: Option<String>,
}

impl Caller {
    /// The org, or a 403 for a token that belongs to none.
    pub fn org(&self) -> Result<&str> {
        self.org.as_deref().ok_or_else(|| {
            ServerError::forbidden("Forbidden: the token names no org and its user belongs to none")
        })
    }

    pub fn user(&self) -> Option<&str> {
        self.claims.user_id.as_deref()
    }
}

impl FromRequestParts<State> for Caller {
    type Rejection = ServerError;

    async fn from_request_parts(parts: &mut Parts, state: &State) -> Result<Caller> {
        let header = parts
            .headers
            .get(axum::http::header::AUTHORIZATION)
            .ok_or_else(|| ServerError::unauthorized("Unauthorized: Token required"))?;
        let token = header
            .to_str()
            .ok()
            .and_then(|h| h.strip_prefix("Bearer "))
            .ok_or_else(|| {
                ServerError::unauthorized("Unauthorized: expected 'Authorization: Bearer <token>'")
            })?;
        let claims = state.secret.verify(token, now())?;
        let asked = parts
            .headers
            .get(ORG_HEADER)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .map(str::to_string);
        let org = match (&claims.org_id, &claims.user_id) {
            (Some(org), user) => {
                if asked.as_ref().is_some_and(|a| a != org) {
                    return Err(ServerError::forbidden(
                        "Forbidden: the token does not belong to the org the request names",
                    ));
                }
                if let Some(user) = user {
                    state.remember_member(user, org).await;
                }
                Some(org.clone())
            }
            (None, Some(user)) => {
                let orgs = state.registry.orgs_of(user).await?;
                match asked {
                    Some(a) if orgs.contains(&a) => Some(a),
                    Some(_) => return Err(ServerError::forbidden(
                        "Forbidden: the token's user is not a member of the org the request names",
                    )),
                    None => orgs.into_iter().next(),
                }
            }
            (None, None) => None,
        };
        Ok(Caller { claims, org })
    }
}
