//! Where a Hugging Face dataset's files are: a `save_to_disk` directory
//! given by path, the hub cache's parquet shards, the `datasets` builder
//! cache's Arrow files, in that order; the hub itself comes after (see
//! `hub.rs`).

use std::path::{Path, PathBuf};

/// The environment the Hugging Face libraries read, resolved once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HfEnv {
    pub hub_cache: PathBuf,
    pub datasets_cache: PathBuf,
    pub endpoint: String,
    pub offline: bool,
    pub token: Option<String>,
}

fn var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

fn truthy(name: &str) -> bool {
    var(name).is_some_and(|v| {
        matches!(
            v.trim().to_ascii_lowercase().as_str(),
            "1" | "true" | "yes" | "on"
        )
    })
}

impl HfEnv {
    /// `HF_HOME` (default `~/.cache/huggingface`), `HF_HUB_CACHE`,
    /// `HF_DATASETS_CACHE`, `HF_ENDPOINT`, `HF_HUB_OFFLINE` /
    /// `HF_DATASETS_OFFLINE`, `HF_TOKEN`, as the Hugging Face libraries
    /// read them.
    pub fn from_env() -> HfEnv {
        let home = var("HF_HOME").map(PathBuf::from).unwrap_or_else(|| {
            let base = var("XDG_CACHE_HOME").map(PathBuf::from).unwrap_or_else(|| {
                PathBuf::from(var("HOME").unwrap_or_else(|| "/".into())).join(".cache")
            });
            base.join("huggingface")
        });
        HfEnv {
            hub_cache: var("HF_HUB_CACHE")
                .or_else(|| var("HUGGINGFACE_HUB_CACHE"))
                .map(PathBuf::from)
                .unwrap_or_else(|| home.join("hub")),
            datasets_cache: var("HF_DATASETS_CACHE")
                .map(PathBuf::from)
                .unwrap_or_else(|| home.join("datasets")),
            endpoint: var("HF_ENDPOINT")
                .unwrap_or_else(|| "https://huggingface.co".into())
                .trim_end_matches('/')
                .to_string(),
            offline: truthy("HF_HUB_OFFLINE") || truthy("HF_DATASETS_OFFLINE"),
            token: var("HF_TOKEN"),
        }
    }

    /// The hub cache folder of a dataset repository.
    pub fn repo_dir(&self, name: &str) -> PathBuf {
        self.hub_cache
            .join(format!("datasets--{}", name.replace('/', "--")))
    }
}

/// Data files of one split, and the format they are in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Shards {
    Parquet(Vec<PathBuf>),
    /// Arrow IPC streams, as `datasets` writes its caches and `save_to_disk`.
    Arrow(Vec<PathBuf>),
}

impl Shards {
    pub fn is_empty(&self) -> bool {
        match self {
            Shards::Parquet(v) | Shards::Arrow(v) => v.is_empty(),
        }
    }
}

fn files_under(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut entries: Vec<PathBuf> = entries.flatten().map(|e| e.path()).collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            files_under(&p, out);
        } else {
            out.push(p);
        }
    }
}

/// Whether a repository path holds `split` of `config`: the hub's layouts
/// are `<config>/<split>-NNNNN-of-NNNNN.parquet`, `data/<split>-*.parquet`
/// and, on the parquet-conversion branch, `<config>/<split>/NNNN.parquet`.
pub fn in_split(rel: &Path, split: &str, config: Option<&str>) -> bool {
    let parts: Vec<String> = rel
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    let Some((file, dirs)) = parts.split_last() else {
        return false;
    };
    if let Some(config) = config {
        if dirs.first().map(String::as_str) != Some(config) {
            return false;
        }
    }
    let stem = file.split('.').next().unwrap_or_default();
    dirs.iter().any(|d| d == split) || stem == split || stem.starts_with(&format!("{split}-"))
}

/// `save_to_disk` output: a `DatasetDict` (`dataset_dict.json` and one
/// folder per split) or a single `Dataset` (`state.json`).
pub fn saved(dir: &Path, split: &str) -> Option<Shards> {
    let dataset_dir = if dir.join("dataset_dict.json").is_file() {
        dir.join(split)
    } else {
        dir.to_path_buf()
    };
    let state: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dataset_dir.join("state.json")).ok()?).ok()?;
    let files: Vec<PathBuf> = state["_data_files"]
        .as_array()?
        .iter()
        .filter_map(|f| f["filename"].as_str())
        .map(|f| dataset_dir.join(f))
        .collect();
    Some(Shards::Arrow(files))
}

/// Parquet shards of a folder of data files (a local copy of a repository).
pub fn parquet_in(dir: &Path, split: &str, config: Option<&str>) -> Shards {
    let mut files = vec![];
    files_under(dir, &mut files);
    let rel: Vec<PathBuf> = files
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "parquet"))
        .filter_map(|p| p.strip_prefix(dir).ok().map(Path::to_path_buf))
        .filter(|rel| in_split(rel, split, config))
        .collect();
    Shards::Parquet(one_config(rel).into_iter().map(|r| dir.join(r)).collect())
}

/// The config a repository path belongs to: its first folder, when the
/// path is nested and that folder is not the generic `data`.
fn config_of(rel: &Path) -> Option<String> {
    let mut parts = rel.components();
    let first = parts.next()?.as_os_str().to_string_lossy().into_owned();
    (parts.next().is_some() && first != "data").then_some(first)
}

/// When no config was asked for and the files span several, keeps one:
/// `default` if present, else the first by name, so configs never mix.
pub fn one_config(files: Vec<PathBuf>) -> Vec<PathBuf> {
    let mut configs: Vec<String> = files.iter().filter_map(|f| config_of(f)).collect();
    configs.sort();
    configs.dedup();
    if configs.len() < 2 {
        return files;
    }
    let keep = configs
        .iter()
        .find(|c| *c == "default")
        .unwrap_or(&configs[0])
        .clone();
    files
        .into_iter()
        .filter(|f| config_of(f).as_deref() == Some(keep.as_str()))
        .collect()
}

/// The hub cache's snapshot of `main` (or, failing that, of the parquet
/// conversion branch, then any snapshot).
pub fn hub_snapshot(env: &HfEnv, name: &str) -> Option<PathBuf> {
    let repo = env.repo_dir(name);
    for rev in ["main", "refs/convert/parquet"] {
        if let Ok(sha) = std::fs::read_to_string(repo.join("refs").join(rev)) {
            let snap = repo.join("snapshots").join(sha.trim());
            if snap.is_dir() {
                return Some(snap);
            }
        }
    }
    let mut snaps: Vec<PathBuf> = std::fs::read_dir(repo.join("snapshots"))
        .ok()?
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_dir())
        .collect();
    snaps.sort();
    snaps.pop()
}

/// The `datasets` builder cache: `<org>___<name>/<config>/<version>/<hash>/`
/// holding `<name>-<split>[-NNNNN-of-NNNNN].arrow`.
pub fn builder_cache(env: &HfEnv, name: &str, split: &str, config: Option<&str>) -> Option<Shards> {
    let root = env.datasets_cache.join(name.replace('/', "___"));
    let mut files = vec![];
    files_under(&root, &mut files);
    let matching: Vec<PathBuf> = files
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "arrow"))
        .filter(|p| {
            let rel = p.strip_prefix(&root).unwrap_or(p);
            // The config folder is `<config>` or `<config>-<hash of data files>`.
            let config_ok = config.is_none_or(|c| {
                rel.components().next().is_some_and(|f| {
                    let f = f.as_os_str().to_string_lossy();
                    f == c || f.starts_with(&format!("{c}-"))
                })
            });
            let stem = p
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default();
            let split_ok = stem.ends_with(&format!("-{split}"))
                || stem.contains(&format!("-{split}-")) && stem.contains("-of-");
            config_ok && split_ok
        })
        .collect();
    // Several prepared versions may sit side by side: keep the folder of
    // the first (sorted) match.
    let dir = matching.first()?.parent()?.to_path_buf();
    Some(Shards::Arrow(
        matching
            .into_iter()
            .filter(|p| p.parent() == Some(dir.as_path()))
            .collect(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn configs_do_not_mix() {
        let paths = |v: &[&str]| v.iter().map(PathBuf::from).collect::<Vec<_>>();
        let two = paths(&[
            "plain/train-0.parquet",
            "default/train-0.parquet",
            "default/train-1.parquet",
        ]);
        assert_eq!(
            one_config(two),
            paths(&["default/train-0.parquet", "default/train-1.parquet"])
        );
        let named = paths(&["b/train/0.parquet", "a/train/0.parquet"]);
        assert_eq!(one_config(named), paths(&["a/train/0.parquet"]));
        let flat = paths(&[
            "data/train-0.parquet",
            "data/train-1.parquet",
            "train.parquet",
        ]);
        assert_eq!(one_config(flat.clone()), flat);
    }

    #[test]
    fn split_paths_of_the_hub_layouts() {
        let yes = |p: &str, c| in_split(Path::new(p), "train", c);
        assert!(yes("data/train-00000-of-00002.parquet", None));
        assert!(yes(
            "plain_text/train-00000-of-00001.parquet",
            Some("plain_text")
        ));
        assert!(yes("default/train/0000.parquet", Some("default")));
        assert!(yes("train.parquet", None));
        assert!(!yes("data/test-00000-of-00001.parquet", None));
        assert!(!yes(
            "other/train-00000-of-00001.parquet",
            Some("plain_text")
        ));
        assert!(!yes("data/trainer-0.parquet", None));
    }
}
