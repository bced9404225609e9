//! `deeplake serve`, `deeplake token create` and `deeplake workspace
//! create`: running the managed service and minting what it checks.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use deeplake_server::auth::{new_claims, now};
use deeplake_server::{open_root, Registry, Secret, ServeConfig};

#[derive(clap::Args)]
pub struct ServeArgs {
    /// Storage root: a directory, file://PATH or s3://bucket/prefix (S3
    /// endpoint, region and keys from AWS_*; AWS_ALLOW_HTTP=true for http).
    #[arg(long, env = "DEEPLAKE_ROOT")]
    root: String,
    /// Address of the REST API.
    #[arg(long, default_value = "127.0.0.1:8080")]
    http: SocketAddr,
    /// File holding the HS256 secret (default: $DEEPLAKE_JWT_SECRET).
    #[arg(long)]
    jwt_secret_file: Option<PathBuf>,
    /// Do not create a workspace when a table is first created in it.
    #[arg(long)]
    no_auto_workspaces: bool,
    /// Largest request body, in MiB.
    #[arg(long, default_value_t = 256)]
    max_body_mb: usize,
    /// Longest a statement may run, in seconds, whatever a request asks.
    #[arg(long, default_value_t = 300)]
    max_query_secs: u64,
    /// Log JSON lines instead of text (level from RUST_LOG, default info).
    #[arg(long)]
    log_json: bool,
}

#[derive(clap::Subcommand)]
pub enum TokenCommand {
    /// Print a signed token (HS256, the server's secret).
    Create(TokenArgs),
}

#[derive(clap::Args)]
pub struct TokenArgs {
    /// The org the token acts in (its OrgID claim).
    #[arg(long)]
    org: Option<String>,
    /// The user it names (its UserID claim).
    #[arg(long)]
    user: Option<String>,
    /// A display name (its Name claim).
    #[arg(long)]
    name: Option<String>,
    /// Lifetime in seconds.
    #[arg(long, default_value_t = 30 * 24 * 3600)]
    ttl: i64,
    /// Leave OrgID out of the token: the server answers `/me` from its
    /// record of the user's orgs (needs --user, --org and --root).
    #[arg(long)]
    no_org_claim: bool,
    /// Record the user as a member of the org in this storage root.
    #[arg(long, env = "DEEPLAKE_ROOT")]
    root: Option<String>,
    /// File holding the HS256 secret (default: $DEEPLAKE_JWT_SECRET).
    #[arg(long)]
    jwt_secret_file: Option<PathBuf>,
}

#[derive(clap::Subcommand)]
pub enum WorkspaceCommand {
    /// Create a workspace of an org in a storage root.
    Create {
        name: String,
        #[arg(long)]
        org: String,
        #[arg(long, env = "DEEPLAKE_ROOT")]
        root: String,
    },
}

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

fn runtime() -> Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?)
}

pub fn serve(args: &ServeArgs) -> Result<()> {
    deeplake_server::init_logging(args.log_json);
    let secret = Secret::from_env_or_file(args.jwt_secret_file.as_deref())?;
    let config = ServeConfig {
        root: args.root.clone(),
        http: args.http,
        secret,
        auto_workspaces: !args.no_auto_workspaces,
        max_body_bytes: args.max_body_mb << 20,
        max_query_time: Duration::from_secs(args.max_query_secs),
    };
    runtime()?.block_on(deeplake_server::serve(config))?;
    Ok(())
}

pub fn token(cmd: &TokenCommand) -> Result<()> {
    let TokenCommand::Create(args) = cmd;
    if args.ttl <= 0 {
        return Err("--ttl must be a positive number of seconds".into());
    }
    if args.org.is_none() && args.user.is_none() {
        return Err("give --org, --user or both".into());
    }
    if args.no_org_claim && (args.user.is_none() || args.org.is_none() || args.root.is_none()) {
        return Err("--no-org-claim needs --user, --org and --root: the server finds the user's org in the root".into());
    }
    let secret = Secret::from_env_or_file(args.jwt_secret_file.as_deref())?;
    if let (Some(root), Some(user), Some(org)) = (&args.root, &args.user, &args.org) {
        let registry = Registry::new(open_root(root)?);
        runtime()?.block_on(registry.add_member(user, org))?;
    }
    let org = args.org.as_deref().filter(|_| !args.no_org_claim);
    let claims = new_claims(
        org,
        args.user.as_deref(),
        args.name.as_deref(),
        args.ttl,
        now(),
    );
    println!("{}", secret.sign(&claims)?);
    Ok(())
}

pub fn workspace(cmd: &WorkspaceCommand) -> Result<()> {
    let WorkspaceCommand::Create { name, org, root } = cmd;
    let registry = Registry::new(open_root(root)?);
    match runtime()?.block_on(registry.create_workspace(org, name))? {
        true => println!("created workspace {name} in org {org}"),
        false => println!("workspace {name} of org {org} exists already"),
    }
    Ok(())
}
