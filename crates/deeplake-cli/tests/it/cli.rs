//! The `deeplake` binary end to end: the README's quickstart on the shipped
//! sample, table management, and errors as their public classes.

use std::path::Path;
use std::process::{Command, Output};

fn deeplake(root: &std::path::Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_deeplake"))
        .arg("--api-url")
        .arg(format!("file://{}", root.display()))
        .args(args)
        .env_remove("DEEPLAKE_API_KEY")
        .output()
        .unwrap()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// The rows printed under the "query: the gloss of '<word>'" heading.
fn neighbours<'a>(out: &'a str, word: &str) -> &'a str {
    let head = format!("query: the gloss of '{word}'");
    let start = out
        .find(&head)
        .unwrap_or_else(|| panic!("no {head} in output"));
    let rest = &out[start..];
    let end = rest[head.len()..]
        .find("query:")
        .map_or(rest.len(), |e| e + head.len());
    &rest[..end]
}

#[test]
fn quickstart_ingests_the_sample_and_finds_real_neighbours() {
    let dir = tempfile::tempdir().unwrap();
    let out = deeplake(dir.path(), &["quickstart"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = stdout(&out);
    assert!(
        text.contains("Ingested 1015 rows into 'wordnet_sample'"),
        "{text}"
    );
    assert!(text.contains("EMBEDDING(384)"));
    // Each query's best hit is itself (cosine 1.000), and semantically close
    // glosses follow: these come from the real MiniLM embeddings.
    for (word, near) in [
        ("piano", "guitar"),
        ("river", "ocean"),
        ("dog", "Carnivora"),
    ] {
        let block = neighbours(&text, word);
        assert!(block.contains("1.000"), "{block}");
        assert!(
            block.contains(near),
            "'{near}' not among the neighbours of '{word}':\n{block}"
        );
    }
    assert!(
        text.contains("WHERE definition LIKE '%music%'): 7 rows"),
        "keyword filter over the glosses: {text}"
    );
    // BM25 ranks glosses that use both keywords first.
    let bm25 = text
        .split("Keyword search")
        .nth(1)
        .and_then(|b| b.split("Filter").next())
        .unwrap_or_default();
    assert!(bm25.contains("guitar") && bm25.contains("violin"), "{bm25}");
    // The project's documents, ingested as files and searched by chunk: the
    // video design notes rank first for these keywords.
    let files = text.split("Files: ingested").nth(1).unwrap_or_default();
    assert!(files.contains("text chunks into 'project_docs'"), "{text}");
    let hits = files
        .split("keyframe segment thumbnails")
        .nth(1)
        .unwrap_or_default();
    assert!(hits.contains("decisions.md"), "{files}");
    // Rerunning replaces the table instead of failing.
    assert!(deeplake(dir.path(), &["quickstart"]).status.success());

    let tables = stdout(&deeplake(dir.path(), &["tables"]));
    assert!(
        tables.contains("wordnet_sample") && tables.contains("1015"),
        "{tables}"
    );

    assert!(deeplake(dir.path(), &["drop", "wordnet_sample"])
        .status
        .success());
    let again = deeplake(dir.path(), &["drop", "wordnet_sample", "--must-exist"]);
    assert!(!again.status.success());
    assert_eq!(
        String::from_utf8_lossy(&again.stderr).trim(),
        "TableError: Table 'wordnet_sample' does not exist"
    );
}

#[test]
fn errors_print_their_class() {
    let dir = tempfile::tempdir().unwrap();
    let out = deeplake(dir.path(), &["--token", "not-a-jwt", "tables"]);
    assert!(!out.status.success());
    assert_eq!(
        String::from_utf8_lossy(&out.stderr).trim(),
        "TokenError: Invalid token format: expected JWT with 3 parts"
    );
    let missing = deeplake(dir.path(), &["quickstart", "--sample", "/nonexistent"]);
    assert!(!missing.status.success());
    assert!(String::from_utf8_lossy(&missing.stderr).contains("/nonexistent"));
}

#[test]
fn ingest_command_takes_files_and_reports_failures_by_class() {
    let dir = tempfile::tempdir().unwrap();
    let notes = dir.path().join("notes.md");
    std::fs::write(&notes, "A short note.\n\nIt has two paragraphs.").unwrap();
    let blob = dir.path().join("data.bin");
    std::fs::write(&blob, [1u8, 2, 3]).unwrap();
    let n = notes.display().to_string();
    let b = blob.display().to_string();
    let out = deeplake(
        dir.path(),
        &[
            "ingest",
            "docs",
            &n,
            &b,
            "--chunk-size",
            "100",
            "--chunk-overlap",
            "10",
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout(&out).contains("Ingested 2 rows into 'docs'"),
        "{}",
        stdout(&out)
    );
    let tables = stdout(&deeplake(dir.path(), &["tables"]));
    assert!(tables.contains("docs"), "{tables}");
    // The table exists now: the spec's error, by class.
    let again = deeplake(dir.path(), &["ingest", "docs", &n]);
    assert_eq!(
        String::from_utf8_lossy(&again.stderr).trim(),
        "TableError: Table already exists: 'docs'"
    );
    let appended = deeplake(dir.path(), &["ingest", "docs", &n, "--mode", "append"]);
    assert!(
        stdout(&appended).contains("Ingested 1 row "),
        "{}",
        stdout(&appended)
    );
    let missing = deeplake(dir.path(), &["ingest", "other", "/nonexistent.pdf"]);
    assert_eq!(
        String::from_utf8_lossy(&missing.stderr).trim(),
        "IngestError: File not found: /nonexistent.pdf"
    );
}

/// `--huggingface` goes through `{"_huggingface": name, "split": ..}` data
/// and the Hugging Face environment variables (read here from the child's
/// environment: HF_HOME, HF_HUB_OFFLINE).
#[test]
fn ingest_command_reads_huggingface_datasets_from_the_environment() {
    let dir = tempfile::tempdir().unwrap();
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let python = repo.join(".venv-test/bin/python");
    assert!(python.exists(), "run scripts/setup-python.sh first");
    let made = dir.path().join("made");
    let status = Command::new(&python)
        .arg(repo.join("tests/python/hf_datasets.py"))
        .arg(&made)
        .arg("testorg/tiny")
        .stderr(std::process::Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());
    let hf_home = dir.path().join("hf-home");
    let run = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_deeplake"))
            .arg("--api-url")
            .arg(format!("file://{}", dir.path().display()))
            .args(args)
            .env_remove("DEEPLAKE_API_KEY")
            .env("HF_HOME", &hf_home)
            .env("HF_HUB_OFFLINE", "1")
            .output()
            .unwrap()
    };
    let saved = made.join("saved").display().to_string();
    let out = run(&[
        "ingest",
        "hf_test",
        "--huggingface",
        &saved,
        "--split",
        "test",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout(&out).contains("Ingested 1 row into 'hf_test'"),
        "{}",
        stdout(&out)
    );
    let absent = run(&["ingest", "hf_absent", "--huggingface", "testorg/absent"]);
    let err = String::from_utf8_lossy(&absent.stderr);
    let cache = hf_home.join("hub/datasets--testorg--absent");
    assert!(
        err.starts_with(
            "IngestError: Hugging Face dataset 'testorg/absent' (split 'train') not found."
        ) && err.contains(&cache.display().to_string())
            && err.contains("HF_HUB_OFFLINE is set"),
        "{err}"
    );
}
