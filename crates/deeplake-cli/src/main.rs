//! The `deeplake` command line.

mod bench;
mod index_bench;
mod ingest_bench;
mod quickstart;
mod search_bench;
mod serve_bench;
mod service;
mod ui;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use deeplake_client::Client;

/// The server takes each upload message into a fresh buffer of a few
/// megabytes; glibc's allocator hands such buffers back to the kernel when
/// freed, so every message paid for page faults and zeroing again.
/// jemalloc keeps freed pages for seconds before it returns them.
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

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
    /// Ingest files (video, image, PDF, text, other) or a Hugging Face dataset into a table.
    Ingest(IngestArgs),
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
    /// Run the managed service: the REST API over a storage root.
    Serve(service::ServeArgs),
    /// Make tokens for a server.
    #[command(subcommand)]
    Token(service::TokenCommand),
    /// Manage workspaces in a storage root.
    #[command(subcommand)]
    Workspace(service::WorkspaceCommand),
}

#[derive(clap::Args)]
struct IngestArgs {
    /// Table to create (or append to / overwrite, with --mode).
    table: String,
    /// Files to ingest; kinds may be mixed.
    files: Vec<PathBuf>,
    /// A Hugging Face dataset (hub name or save_to_disk folder) instead of files.
    #[arg(long, conflicts_with = "files")]
    huggingface: Option<String>,
    /// Split of the Hugging Face dataset.
    #[arg(long, default_value = "train", requires = "huggingface")]
    split: String,
    /// create, append or overwrite.
    #[arg(long, default_value = "create")]
    mode: String,
    /// Characters per text chunk.
    #[arg(long, default_value_t = 1000)]
    chunk_size: i64,
    /// Characters shared by consecutive text chunks.
    #[arg(long, default_value_t = 200)]
    chunk_overlap: i64,
    /// Resolution of rendered PDF pages.
    #[arg(long, default_value_t = 300)]
    pdf_dpi: u32,
    /// Files normalized at once.
    #[arg(long, default_value_t = 4)]
    workers: usize,
}

fn ingest(c: &Client, args: &IngestArgs) -> Result<(), Box<dyn std::error::Error>> {
    use deeplake_client::{Chunking, Column, FileOptions, IngestOptions, Value};
    let (data, schema) = match &args.huggingface {
        Some(name) => (
            vec![
                (
                    "_huggingface".to_string(),
                    Column::Values(vec![Value::from(name.as_str())]),
                ),
                (
                    "split".to_string(),
                    Column::Values(vec![Value::from(args.split.as_str())]),
                ),
            ],
            vec![],
        ),
        None if args.files.is_empty() => {
            return Err("give files to ingest, or --huggingface NAME".into())
        }
        None => (
            vec![(
                "path".to_string(),
                Column::Values(
                    args.files
                        .iter()
                        .map(|p| Value::Str(p.display().to_string()))
                        .collect(),
                ),
            )],
            vec![("path".to_string(), "FILE".to_string())],
        ),
    };
    let bar = ui::progress(None, "ingest");
    let mut on_progress = |done: u64, total: i64| {
        if total >= 0 {
            bar.set_length(total as u64);
        }
        bar.set_position(done);
        Ok(())
    };
    let started = std::time::Instant::now();
    let result = c.ingest(
        &args.table,
        data,
        IngestOptions {
            schema,
            mode: args.mode.parse()?,
            on_progress: Some(&mut on_progress),
            files: FileOptions {
                chunking: Chunking::new(args.chunk_size, args.chunk_overlap)?,
                pdf_dpi: args.pdf_dpi,
                workers: args.workers,
                ..FileOptions::default()
            },
            ..Default::default()
        },
    );
    bar.finish_and_clear();
    let result = result?;
    println!(
        "Ingested {} {} into '{}' in {:.2} s ({})",
        result.row_count,
        if result.row_count == 1 { "row" } else { "rows" },
        result.table_name,
        started.elapsed().as_secs_f64(),
        result.dataset_path
    );
    Ok(())
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
        Command::Ingest(args) => ingest(&client(&cli)?, args),
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
        Command::Serve(args) => service::serve(args),
        Command::Token(cmd) => service::token(cmd),
        Command::Workspace(cmd) => service::workspace(cmd),
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
