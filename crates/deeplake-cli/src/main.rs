//! The `deeplake` command line.

mod bench;
mod ingest_bench;
mod quickstart;
mod search_bench;
mod ui;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use deeplake_client::Client;

#[derive(Parser)]
#[command(
    name = "deeplake",
    version,
    about = "Deeplake: multimodal tables you can ingest into, search and train on"
)]
struct Cli {
    /// API token (JWT); its OrgID claim names the org. Default: $DEEPLAKE_API_KEY.
    #[arg(long, global = true)]
    token: Option<String>,
    /// Workspace name.
    #[arg(long, global = true, default_value = "default")]
    workspace: String,
    /// file://PATH for an embedded root. Default: $DEEPLAKE_API_URL, else embedded at $DEEPLAKE_ROOT or ~/.local/share/deeplake.
    #[arg(long, global = true)]
    api_url: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Ingest a small real sample (WordNet glosses with embeddings) and search it.
    Quickstart {
        /// Directory holding wordnet-sample.jsonl and its embeddings.
        #[arg(long)]
        sample: Option<PathBuf>,
    },
    /// List the workspace's tables.
    Tables,
    /// Drop a table.
    Drop {
        name: String,
        /// Fail if the table does not exist.
        #[arg(long)]
        must_exist: bool,
    },
    /// Run benchmarks next to the reference implementation.
    Bench(bench::Args),
}

fn client(cli: &Cli) -> Result<Client, deeplake_client::ClientError> {
    Client::new(
        cli.token.as_deref(),
        Some(&cli.workspace),
        cli.api_url.as_deref(),
    )
}

fn run(cli: Cli) -> Result<(), Box<dyn std::error::Error>> {
    match &cli.command {
        Command::Quickstart { sample } => {
            let sample = sample
                .clone()
                .unwrap_or_else(quickstart::default_sample_dir);
            quickstart::run(&client(&cli)?, &sample)
        }
        Command::Tables => {
            let c = client(&cli)?;
            let mut rows = Vec::new();
            for name in c.list_tables()? {
                let ds = c.open_table(&name)?;
                rows.push(vec![
                    name,
                    ds.len().to_string(),
                    ds.version().to_string(),
                    ds.schema().fields().len().to_string(),
                ]);
            }
            println!(
                "{}",
                ui::table(&["table", "rows", "version", "columns"], rows)
            );
            Ok(())
        }
        Command::Drop { name, must_exist } => {
            client(&cli)?.drop_table(name, !must_exist)?;
            println!("dropped {name}");
            Ok(())
        }
        Command::Bench(args) => bench::run(args),
    }
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            match e.downcast_ref::<deeplake_client::ClientError>() {
                Some(ce) => eprintln!("{}: {ce}", ce.class()),
                None => eprintln!("error: {e}"),
            }
            ExitCode::FAILURE
        }
    }
}
