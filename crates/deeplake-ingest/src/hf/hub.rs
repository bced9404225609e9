//! Downloading a dataset's parquet shards from a Hugging Face hub endpoint
//! into the standard hub cache layout (`datasets--org--name/snapshots/
//! <sha>/<path>` and `refs/<revision>`), with a progress bar.
//!
//! Two calls of the hub's public API: the revision's file list
//! (`/api/datasets/<name>/revision/<rev>`), then each file
//! (`/datasets/<name>/resolve/<sha>/<path>`). A repository without parquet
//! files on `main` is tried on the hub's parquet conversion branch.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::locate::{in_split, one_config, HfEnv, Shards};
use crate::error::{IngestError, Result};

/// Why the hub could not be used, for the error that lists where we looked.
pub type HubFailure = String;

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .timeout_connect(Some(Duration::from_secs(10)))
        .timeout_recv_body(Some(Duration::from_secs(300)))
        .http_status_as_error(false)
        .build()
        .into()
}

fn get(
    agent: &ureq::Agent,
    env: &HfEnv,
    url: &str,
) -> Result<ureq::http::Response<ureq::Body>, HubFailure> {
    let mut req = agent.get(url);
    if let Some(t) = &env.token {
        req = req.header("Authorization", format!("Bearer {t}"));
    }
    let resp = req.call().map_err(|e| format!("{url}: {e}"))?;
    match resp.status().as_u16() {
        200 => Ok(resp),
        401 | 403 => Err(format!(
            "{url}: access denied (HTTP {}); set HF_TOKEN for gated or private datasets",
            resp.status().as_u16()
        )),
        404 => Err(format!("{url}: not found on the hub")),
        code => Err(format!("{url}: HTTP {code}")),
    }
}

/// Downloads the shards of `split` (and `config`), returning them from the
/// cache; `Err` carries why the hub could not provide them.
pub fn download(
    env: &HfEnv,
    name: &str,
    split: &str,
    config: Option<&str>,
) -> Result<Shards, HubFailure> {
    let agent = agent();
    let mut tried = vec![];
    for rev in ["main", "refs/convert/parquet"] {
        let url = format!(
            "{}/api/datasets/{name}/revision/{}",
            env.endpoint,
            rev.replace('/', "%2F")
        );
        let text = get(&agent, env, &url)?
            .body_mut()
            .read_to_string()
            .map_err(|e| format!("{url}: {e}"))?;
        let info: serde_json::Value =
            serde_json::from_str(&text).map_err(|e| format!("{url}: not a hub answer ({e})"))?;
        let sha = info["sha"]
            .as_str()
            .filter(|s| !s.is_empty() && !s.contains(['/', '.']))
            .ok_or_else(|| format!("{url}: no revision sha"))?
            .to_string();
        let files: Vec<String> = info["siblings"]
            .as_array()
            .map(|s| {
                s.iter()
                    .filter_map(|f| f["rfilename"].as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default();
        let candidates: Vec<PathBuf> = files
            .into_iter()
            .filter(|f| f.ends_with(".parquet") && in_split(Path::new(f), split, config))
            .filter(|f| !f.split('/').any(|part| part == ".." || part.is_empty()))
            .map(PathBuf::from)
            .collect();
        let wanted: Vec<String> = one_config(candidates)
            .into_iter()
            .map(|p| p.to_string_lossy().into_owned())
            .collect();
        if wanted.is_empty() {
            tried.push(rev);
            continue;
        }
        let repo = env.repo_dir(name);
        let snapshot = repo.join("snapshots").join(&sha);
        let mut paths = vec![];
        for file in &wanted {
            let dest = snapshot.join(file);
            if !dest.is_file() {
                let url = format!("{}/datasets/{name}/resolve/{sha}/{file}", env.endpoint);
                fetch(&agent, env, &url, &dest)?;
            }
            paths.push(dest);
        }
        let refs = repo.join("refs").join(rev);
        if let Some(dir) = refs.parent() {
            std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        }
        std::fs::write(&refs, &sha).map_err(|e| format!("{}: {e}", refs.display()))?;
        return Ok(Shards::Parquet(paths));
    }
    Err(format!(
        "{}: no parquet files for split '{split}'{} on {}",
        env.endpoint,
        config
            .map(|c| format!(" of config '{c}'"))
            .unwrap_or_default(),
        tried.join(" or ")
    ))
}

/// Streams one file to `dest` through a temporary name, so an interrupted
/// download never looks complete.
fn fetch(agent: &ureq::Agent, env: &HfEnv, url: &str, dest: &Path) -> Result<(), HubFailure> {
    let fail = |e: &dyn std::fmt::Display| format!("{url}: {e}");
    let resp = get(agent, env, url)?;
    let len = resp
        .headers()
        .get("content-length")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let dir = dest
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."));
    std::fs::create_dir_all(&dir).map_err(|e| fail(&e))?;
    let mut tmp = tempfile::NamedTempFile::new_in(&dir).map_err(|e| fail(&e))?;
    let bar = ProgressBar::with_draw_target(len, ProgressDrawTarget::stderr());
    if let Ok(style) =
        ProgressStyle::with_template("{msg} {bar:30} {bytes}/{total_bytes} {bytes_per_sec}")
    {
        bar.set_style(style);
    }
    bar.set_message(
        dest.file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default(),
    );
    let mut reader = resp.into_body().into_reader();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = std::io::Read::read(&mut reader, &mut buf).map_err(|e| fail(&e))?;
        if n == 0 {
            break;
        }
        tmp.write_all(&buf[..n]).map_err(|e| fail(&e))?;
        bar.inc(n as u64);
    }
    bar.finish_and_clear();
    tmp.persist(dest).map_err(|e| fail(&e.error))?;
    Ok(())
}

/// The error when no source had the dataset.
pub fn not_found(name: &str, split: &str, looked: &[String]) -> IngestError {
    IngestError::Invalid(format!(
        "Hugging Face dataset '{name}' (split '{split}') not found. Looked in: {}",
        looked.join("; ")
    ))
}
