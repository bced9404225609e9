//! Hugging Face ingest from every place a dataset can be: a save_to_disk
//! folder, the hub cache, the datasets builder cache, and a hub endpoint
//! served on loopback. The datasets are written by the real `datasets`
//! library at test time (tests/python/hf_datasets.py).

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use crate::common::{client_at, col, column_types};
use deeplake_client::{Client, HfEnv, IngestOptions, Value, CLASS_NAMES_KEY};

const REPO: &str = "testorg/tiny";
const SHA: &str = "4f0c6cbd1c3e9d7a2b5e8f01a2b3c4d5e6f70819";

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn python() -> PathBuf {
    let p = repo_root().join(".venv-test/bin/python");
    assert!(
        p.exists(),
        "{} missing: run scripts/setup-python.sh",
        p.display()
    );
    p
}

/// Writes the datasets; returns their folder.
fn make_datasets(dir: &Path) -> PathBuf {
    let out = dir.join("made");
    std::fs::create_dir_all(&out).unwrap();
    let run = Command::new(python())
        .arg(repo_root().join("tests/python/hf_datasets.py"))
        .arg(&out)
        .arg(REPO)
        .output()
        .unwrap();
    assert!(
        run.status.success(),
        "hf_datasets.py failed ({}):\n{}",
        run.status,
        String::from_utf8_lossy(&run.stderr)
    );
    out
}

fn env_at(home: &Path) -> HfEnv {
    HfEnv {
        hub_cache: home.join("hub"),
        datasets_cache: home.join("datasets"),
        endpoint: "http://127.0.0.1:9".into(),
        offline: true,
        token: None,
    }
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap().flatten() {
        let dest = to.join(e.file_name());
        if e.path().is_dir() {
            copy_dir(&e.path(), &dest);
        } else {
            std::fs::copy(e.path(), dest).unwrap();
        }
    }
}

/// The train split as ingested: checks types, class names and values.
fn check_train(c: &Client, table: &str) {
    let rows = c
        .query(
            &format!("SELECT text, label, embedding, image, n, meta FROM {table} ORDER BY n"),
            &[],
        )
        .unwrap();
    assert_eq!(rows.len(), 5);
    let types = column_types(c, table);
    let ty = |c: &str| types[c].clone();
    assert_eq!(ty("image"), "IMAGE");
    assert_eq!(ty("label"), "CLASS_LABEL");
    assert_eq!(ty("embedding"), "float4[3]");
    assert_eq!(ty("text"), "text");
    assert_eq!(ty("meta"), "jsonb");
    let schema = c.open_table(table).unwrap().schema();
    let names = schema
        .field_with_name("label")
        .unwrap()
        .metadata()
        .get(CLASS_NAMES_KEY)
        .cloned();
    assert_eq!(names.as_deref(), Some(r#"["grey","colour"]"#));
    let photos = [
        "camera.png",
        "coins.png",
        "astronaut.png",
        "rocket.jpg",
        "coffee.png",
    ];
    for (i, (row, photo)) in rows.iter().zip(photos).enumerate() {
        assert_eq!(row.get("text"), Some(&Value::Str(format!("photo {photo}"))));
        assert_eq!(row.get("n"), Some(&Value::Int(i as i64)));
        assert_eq!(row.get("label"), Some(&Value::Int(i64::from(i >= 2))));
        let Some(Value::Floats(e)) = row.get("embedding") else {
            panic!("embedding")
        };
        assert!((e[0] - i as f64 / 10.0).abs() < 1e-6 && (e[2] - 0.5).abs() < 1e-6);
        let Some(Value::Bytes(img)) = row.get("image") else {
            panic!("image")
        };
        let decoded = image::load_from_memory(img).unwrap();
        assert!(decoded.width() > 0);
        let Some(Value::Json(meta)) = row.get("meta") else {
            panic!("meta")
        };
        assert_eq!(meta["source"], "scikit-image");
    }
}

fn hf(
    c: &Client,
    table: &str,
    name: &str,
    split: Option<&str>,
    env: &HfEnv,
) -> deeplake_client::Result<u64> {
    c.ingest_huggingface(table, name, split, None, env, IngestOptions::default())
        .map(|r| r.row_count)
}

#[test]
fn reads_save_to_disk_hub_cache_and_builder_cache() {
    let dir = tempfile::tempdir().unwrap();
    let made = make_datasets(dir.path());
    let c = client_at(dir.path());
    let home = dir.path().join("hf-home");
    let env = env_at(&home);

    // A save_to_disk folder given by path.
    let saved = made.join("saved").display().to_string();
    assert_eq!(hf(&c, "from_saved", &saved, None, &env).unwrap(), 5);
    check_train(&c, "from_saved");
    assert_eq!(hf(&c, "saved_test", &saved, Some("test"), &env).unwrap(), 1);

    // A folder of parquet whose images are paths to the photos.
    let paths = made.join("paths").display().to_string();
    assert_eq!(hf(&c, "from_paths", &paths, None, &env).unwrap(), 5);
    check_train(&c, "from_paths");

    // The hub cache: refs/main names the snapshot holding the parquet shards.
    let repo_cache = home.join("hub").join("datasets--testorg--tiny");
    copy_dir(&made.join("repo"), &repo_cache.join("snapshots").join(SHA));
    std::fs::create_dir_all(repo_cache.join("refs")).unwrap();
    std::fs::write(repo_cache.join("refs/main"), SHA).unwrap();
    assert_eq!(hf(&c, "from_hub_cache", REPO, None, &env).unwrap(), 5);
    check_train(&c, "from_hub_cache");
    assert_eq!(
        hf(&c, "hub_cache_test", REPO, Some("test"), &env).unwrap(),
        1
    );
    std::fs::remove_dir_all(&repo_cache).unwrap();

    // The datasets builder cache.
    copy_dir(&made.join("builder"), &home.join("datasets"));
    assert_eq!(hf(&c, "from_builder", REPO, None, &env).unwrap(), 5);
    check_train(&c, "from_builder");
    assert_eq!(hf(&c, "builder_test", REPO, Some("test"), &env).unwrap(), 1);

    // Offline with the dataset nowhere: the error says where it looked.
    match hf(&c, "absent", "testorg/absent", None, &env) {
        Err(e) if e.class() == "IngestError" => {
            let m = e.message().to_string();
            assert!(
                m.contains("testorg/absent")
                    && m.contains("hub cache")
                    && m.contains("HF_HUB_OFFLINE"),
                "{m}"
            )
        }
        other => panic!("expected an IngestError, got {other:?}"),
    }
    assert!(!c.list_tables().unwrap().contains(&"absent".to_string()));
}

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn downloads_from_a_hub_endpoint_into_the_cache() {
    let dir = tempfile::tempdir().unwrap();
    let made = make_datasets(dir.path());
    let mut child = Command::new(python())
        .arg(repo_root().join("tests/python/hf_hub_server.py"))
        .arg(made.join("repo"))
        .arg(REPO)
        .arg(SHA)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut port = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut port)
        .unwrap();
    let _server = Server(child);
    let home = dir.path().join("hf-home");
    let env = HfEnv {
        endpoint: format!("http://127.0.0.1:{}", port.trim()),
        offline: false,
        ..env_at(&home)
    };
    let c = client_at(dir.path());
    assert_eq!(hf(&c, "downloaded", REPO, None, &env).unwrap(), 5);
    check_train(&c, "downloaded");
    // The shards landed in the standard hub cache layout...
    let snapshot = home
        .join("hub/datasets--testorg--tiny/snapshots")
        .join(SHA)
        .join("data");
    assert!(snapshot.join("train-00000-of-00002.parquet").is_file());
    assert!(snapshot.join("train-00001-of-00002.parquet").is_file());
    let refs = std::fs::read_to_string(home.join("hub/datasets--testorg--tiny/refs/main")).unwrap();
    assert_eq!(refs, SHA);
    // ...so they are read again offline.
    let offline = HfEnv {
        offline: true,
        ..env.clone()
    };
    assert_eq!(hf(&c, "again", REPO, None, &offline).unwrap(), 5);
    // A dataset the hub does not have.
    match hf(&c, "missing", "testorg/other", None, &env) {
        Err(e) if e.class() == "IngestError" => {
            let m = e.message();
            assert!(m.contains("not found on the hub"), "{m}")
        }
        other => panic!("expected an IngestError, got {other:?}"),
    }
}

#[test]
fn huggingface_key_checks() {
    let dir = tempfile::tempdir().unwrap();
    let c = client_at(dir.path());
    let cases = [
        (
            vec![col("_huggingface", vec![Value::Int(3)])],
            "_huggingface value must be a string, got int.",
        ),
        (
            vec![
                col("_huggingface", vec![Value::Str("x".into())]),
                col("colour", vec![Value::Str("y".into())]),
            ],
            "Unexpected key 'colour'",
        ),
    ];
    for (data, needle) in cases {
        match c.ingest("t", data, IngestOptions::default()) {
            Err(e) if e.class() == "IngestError" => {
                let m = e.message();
                assert!(m.contains(needle), "{m}")
            }
            other => panic!("expected an IngestError, got {other:?}"),
        }
    }
}
