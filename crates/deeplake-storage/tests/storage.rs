use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::Int64Type;
use arrow_array::{
    Array, ArrayRef, BooleanArray, FixedSizeListArray, Float32Array, Int64Array, LargeBinaryArray,
    RecordBatch, StringArray,
};
use arrow_schema::{DataType, Field, Schema, SchemaRef};
use deeplake_storage::{Location, StorageError, Table};
use futures::TryStreamExt;
use rand::{Rng, SeedableRng};

fn schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, false),
        Field::new("text", DataType::Utf8, true),
        Field::new(
            "emb",
            DataType::FixedSizeList(Arc::new(Field::new("item", DataType::Float32, false)), 4),
            true,
        ),
        Field::new("blob", DataType::LargeBinary, true),
    ]))
}

fn blob_of(id: i64) -> Vec<u8> {
    // Distinct sizes and contents per row, so a wrong offset shows.
    (0..(id as usize % 97) * 13 + 1)
        .map(|k| (id as usize * 31 + k) as u8)
        .collect()
}

fn batch(start: i64, n: i64) -> RecordBatch {
    let ids: Vec<i64> = (start..start + n).collect();
    let text: StringArray = ids
        .iter()
        .map(|i| {
            if i % 7 == 3 {
                None
            } else {
                Some(format!("row {i} ✓"))
            }
        })
        .collect();
    let emb_values: Vec<f32> = ids
        .iter()
        .flat_map(|i| (0..4).map(move |k| *i as f32 + k as f32 / 10.0))
        .collect();
    let emb = FixedSizeListArray::try_new(
        Arc::new(Field::new("item", DataType::Float32, false)),
        4,
        Arc::new(Float32Array::from(emb_values)),
        None,
    )
    .unwrap();
    let blobs: LargeBinaryArray = ids.iter().map(|i| Some(blob_of(*i))).collect();
    RecordBatch::try_new(
        schema(),
        vec![
            Arc::new(Int64Array::from(ids)),
            Arc::new(text),
            Arc::new(emb),
            Arc::new(blobs),
        ],
    )
    .unwrap()
}

fn ids(b: &RecordBatch) -> Vec<i64> {
    b.column_by_name("id")
        .unwrap()
        .as_primitive::<Int64Type>()
        .values()
        .to_vec()
}

async fn all_ids(t: &Table) -> Vec<i64> {
    let batches: Vec<RecordBatch> = t.scan(Some(&["id"])).unwrap().try_collect().await.unwrap();
    batches.iter().flat_map(ids).collect()
}

fn check_row(b: &RecordBatch, i: usize, id: i64) {
    assert_eq!(ids(b)[i], id);
    let text = b.column_by_name("text").unwrap().as_string::<i32>();
    if id % 7 == 3 {
        assert!(text.is_null(i));
    } else {
        assert_eq!(text.value(i), format!("row {id} ✓"));
    }
    let emb = b.column_by_name("emb").unwrap().as_fixed_size_list();
    let v = emb.value(i);
    let v = v.as_primitive::<arrow_array::types::Float32Type>();
    assert_eq!(v.value(1), id as f32 + 0.1);
    assert_eq!(
        b.column_by_name("blob")
            .unwrap()
            .as_binary::<i64>()
            .value(i),
        blob_of(id).as_slice()
    );
}

/// Local disk (memory-mapped reads) and a generic object store (ranged gets).
fn locations(dir: &std::path::Path) -> Vec<Location> {
    let memory = Arc::new(object_store::memory::InMemory::new());
    vec![
        Location::local(dir).unwrap(),
        Location::new(memory, "org/ws".into()),
    ]
}

#[tokio::test]
async fn scans_and_random_reads_return_committed_rows() {
    let dir = tempfile::tempdir().unwrap();
    for loc in locations(dir.path()) {
        scans_and_random_reads(loc).await;
    }
}

async fn scans_and_random_reads(loc: Location) {
    let mut t = loc.create_table("t", schema()).await.unwrap();
    assert_eq!(t.len(), 0);
    for k in 0..5 {
        t.append(&batch(k * 100, 100)).await.unwrap();
    }
    assert_eq!(t.len(), 500);
    assert_eq!(all_ids(&t).await, (0..500).collect::<Vec<_>>());

    // Projection returns only the asked columns, full scan every column.
    let full: Vec<RecordBatch> = t.scan(None).unwrap().try_collect().await.unwrap();
    assert_eq!(full[0].num_columns(), 4);
    for (k, b) in full.iter().enumerate() {
        for i in 0..b.num_rows() {
            check_row(b, i, (k * 100 + i) as i64);
        }
    }

    // Random access, any order, with repeats; each row must match.
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    let rows: Vec<u64> = (0..300).map(|_| rng.random_range(0..500)).collect();
    let b = t.take(&rows, None).await.unwrap();
    for (i, r) in rows.iter().enumerate() {
        check_row(&b, i, *r as i64);
    }
    // Single rows take the byte-exact path.
    for r in [0u64, 3, 99, 100, 499] {
        let b = t
            .take(&[r], Some(&["blob", "id", "text", "emb"]))
            .await
            .unwrap();
        check_row(&b, 0, r as i64);
    }
    assert!(matches!(
        t.take(&[500], None).await,
        Err(StorageError::RowOutOfRange { .. })
    ));
    let err = t.take(&[0], Some(&["nope"])).await.unwrap_err().to_string();
    assert!(err.contains("nope"), "{err}");
    let err = t.read_fragment(5, None).await.unwrap_err().to_string();
    assert!(err.contains("fragment 5"), "{err}");

    // Another handle sees the same table.
    let reopened = loc.open_table("t").await.unwrap();
    assert_eq!(reopened.version(), t.version());
    assert_eq!(loc.list_tables().await.unwrap(), vec!["t".to_string()]);
}

#[tokio::test]
async fn versions_time_travel_and_refresh() {
    let dir = tempfile::tempdir().unwrap();
    for loc in locations(dir.path()) {
        versions_time_travel(loc).await;
    }
}

async fn versions_time_travel(loc: Location) {
    let mut writer = loc.create_table("t", schema()).await.unwrap();
    let mut reader = loc.open_table("t").await.unwrap();
    writer.append(&batch(0, 10)).await.unwrap();
    let v_after_first = writer.version();
    writer.append(&batch(10, 10)).await.unwrap();

    // Uncommitted fragments are invisible; the reader sees commits after refresh.
    let _orphan = writer.write_fragment(&batch(1000, 5)).await.unwrap();
    assert_eq!(reader.len(), 0);
    assert!(reader.refresh().await.unwrap());
    assert_eq!(reader.len(), 20);
    assert!(!reader.refresh().await.unwrap());

    let old = reader.checkout(v_after_first).await.unwrap();
    assert_eq!(all_ids(&old).await, (0..10).collect::<Vec<_>>());
    assert_eq!(writer.versions().await.unwrap(), vec![1, 2, 3]);
    assert!(matches!(
        reader.checkout(99).await,
        Err(StorageError::VersionNotFound { .. })
    ));

    // Overwrite is a new version; the old one stays readable.
    writer
        .commit_overwrite(
            schema(),
            vec![writer.write_fragment(&batch(500, 3)).await.unwrap()],
        )
        .await
        .unwrap();
    assert_eq!(all_ids(&writer).await, vec![500, 501, 502]);
    let before = writer.checkout(3).await.unwrap();
    assert_eq!(before.len(), 20);

    // Refreshing with nothing new (two `stat`s on local disk) still sees
    // the next commit, and a table dropped and made again up to the same
    // version number.
    let mut reader = loc.open_table("t").await.unwrap();
    assert!(!reader.refresh().await.unwrap());
    assert!(!reader.refresh().await.unwrap());
    writer.append(&batch(600, 2)).await.unwrap();
    assert!(reader.refresh().await.unwrap());
    assert!(!reader.refresh().await.unwrap());
    assert_eq!(reader.len(), 5);
    let v = reader.version();
    loc.drop_table("t").await.unwrap();
    let mut again = loc.create_table("t", schema()).await.unwrap();
    while again.version() < v {
        again
            .append(&batch(900 + again.len() as i64, 1))
            .await
            .unwrap();
    }
    assert_eq!(again.version(), v);
    assert!(reader.refresh().await.unwrap());
    assert_eq!(all_ids(&reader).await, all_ids(&again).await);
}

#[tokio::test]
async fn delete_and_compaction_keep_every_other_row() {
    let dir = tempfile::tempdir().unwrap();
    for loc in locations(dir.path()) {
        delete_and_compaction(loc).await;
    }
}

async fn delete_and_compaction(loc: Location) {
    let mut t = loc.create_table("t", schema()).await.unwrap();
    for k in 0..10 {
        t.append(&batch(k * 50, 50)).await.unwrap();
    }
    let deleted = t
        .delete_where(|b| {
            let ids = b.column_by_name("id").unwrap().as_primitive::<Int64Type>();
            Ok::<_, StorageError>(
                ids.iter()
                    .map(|v| v.map(|x| x % 3 == 0))
                    .collect::<BooleanArray>(),
            )
        })
        .await
        .unwrap();
    let expected: Vec<i64> = (0..500).filter(|x| x % 3 != 0).collect();
    assert_eq!(deleted, 500 - expected.len() as u64);
    assert_eq!(t.len(), expected.len() as u64);
    assert_eq!(all_ids(&t).await, expected);
    // Random reads skip deleted rows too.
    let b = t
        .take(&[0, 1, 2, (expected.len() - 1) as u64], None)
        .await
        .unwrap();
    assert_eq!(
        ids(&b),
        vec![
            expected[0],
            expected[1],
            expected[2],
            *expected.last().unwrap()
        ]
    );
    check_row(&b, 3, *expected.last().unwrap());

    let before = t.version();
    let replaced = t.compact(200).await.unwrap();
    assert_eq!(replaced, 10);
    assert!(
        t.manifest().fragments.len() <= 2,
        "{}",
        t.manifest().fragments.len()
    );
    assert_eq!(all_ids(&t).await, expected);
    let full: Vec<RecordBatch> = t.scan(None).unwrap().try_collect().await.unwrap();
    let mut n = 0;
    for b in &full {
        for i in 0..b.num_rows() {
            check_row(b, i, expected[n]);
            n += 1;
        }
    }
    // The version before compaction still reads the same rows.
    let old = t.checkout(before).await.unwrap();
    assert_eq!(all_ids(&old).await, expected);
    // Nothing to do on a compact table.
    assert_eq!(t.compact(200).await.unwrap(), 0);
}

#[tokio::test]
async fn create_conflicts_drop_and_missing_tables() {
    let dir = tempfile::tempdir().unwrap();
    for loc in locations(dir.path()) {
        create_conflicts_drop(loc).await;
    }
}

async fn create_conflicts_drop(loc: Location) {
    loc.create_table("t", schema()).await.unwrap();
    assert!(
        matches!(loc.create_table("t", schema()).await, Err(StorageError::TableExists(n)) if n == "t")
    );
    assert!(matches!(
        loc.open_table("nope").await,
        Err(StorageError::TableNotFound(_))
    ));
    assert!(loc.drop_table("t").await.unwrap());
    assert!(!loc.drop_table("t").await.unwrap());
    assert!(loc.list_tables().await.unwrap().is_empty());
    // The name is free again after a drop.
    loc.create_table("t", schema()).await.unwrap();
}

#[tokio::test]
async fn corrupt_data_files_are_errors_not_panics() {
    let dir = tempfile::tempdir().unwrap();
    let loc = Location::local(dir.path()).unwrap();
    let mut t = loc.create_table("t", schema()).await.unwrap();
    t.append(&batch(0, 20)).await.unwrap();
    let data_dir = dir.path().join("t").join("data");
    let file = std::fs::read_dir(&data_dir)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let bytes = std::fs::read(&file).unwrap();
    // Truncated file.
    std::fs::write(&file, &bytes[..bytes.len() / 2]).unwrap();
    let fresh = loc.open_table("t").await.unwrap();
    assert!(matches!(
        fresh.take(&[0], None).await,
        Err(StorageError::Corrupt(_))
    ));
    // Garbage of the same length.
    std::fs::write(&file, vec![0xAB; bytes.len()]).unwrap();
    let fresh = loc.open_table("t").await.unwrap();
    let r: Result<Vec<RecordBatch>, _> = fresh.scan(None).unwrap().try_collect().await;
    assert!(matches!(r, Err(StorageError::Corrupt(_))));
    // A flipped byte inside the footer JSON.
    let mut flipped = bytes.clone();
    let n = flipped.len();
    flipped[n - 40] ^= 0x5A;
    std::fs::write(&file, &flipped).unwrap();
    let fresh = loc.open_table("t").await.unwrap();
    let r = fresh.take(&[1], None).await;
    assert!(matches!(r, Err(StorageError::Corrupt(_))), "{r:?}");
}

#[tokio::test]
async fn sliced_and_nested_arrays_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let loc = Location::local(dir.path()).unwrap();
    let big = batch(0, 100);
    // A slice in the middle: offsets into shared parent buffers.
    let sliced = big.slice(37, 20);
    let mut t = loc.create_table("t", schema()).await.unwrap();
    t.append(&sliced).await.unwrap();
    let b = t.take(&[0, 19, 5], None).await.unwrap();
    check_row(&b, 0, 37);
    check_row(&b, 1, 56);
    check_row(&b, 2, 42);
    let scanned: Vec<RecordBatch> = t.scan(None).unwrap().try_collect().await.unwrap();
    assert_eq!(ids(&scanned[0]), (37..57).collect::<Vec<_>>());

    // A list of fixed-size lists (multi-vector) takes the whole-chunk path.
    let inner = Arc::new(Field::new("item", DataType::Float32, false));
    let fsl = DataType::FixedSizeList(inner.clone(), 2);
    let s2 = Arc::new(Schema::new(vec![Field::new(
        "mv",
        DataType::List(Arc::new(Field::new("item", fsl.clone(), false))),
        true,
    )]));
    let values = FixedSizeListArray::try_new(
        inner,
        2,
        Arc::new(Float32Array::from(vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0])),
        None,
    )
    .unwrap();
    let offsets = arrow_buffer::OffsetBuffer::new(vec![0, 2, 2, 3].into());
    let lists = arrow_array::ListArray::try_new(
        Arc::new(Field::new("item", fsl, false)),
        offsets,
        Arc::new(values),
        Some(vec![true, false, true].into()),
    )
    .unwrap();
    let b2 = RecordBatch::try_new(s2.clone(), vec![Arc::new(lists) as ArrayRef]).unwrap();
    let mut t2 = loc.create_table("mv", s2).await.unwrap();
    t2.append(&b2).await.unwrap();
    let got = t2.take(&[2, 0, 1], None).await.unwrap();
    let l = got.column(0).as_list::<i32>();
    assert_eq!(l.value_length(0), 1);
    assert_eq!(l.value_length(1), 2);
    assert!(l.is_null(2));
}

#[tokio::test]
async fn compaction_merges_every_run_and_writes_nothing_it_does_not_commit() {
    let dir = tempfile::tempdir().unwrap();
    let loc = Location::local(dir.path()).unwrap();
    let mut t = loc.create_table("t", schema()).await.unwrap();
    // small, small, big, small, small
    for (start, n) in [(0, 10), (10, 10), (20, 100), (120, 10), (130, 10)] {
        t.append(&batch(start, n)).await.unwrap();
    }
    let bytes = |d: &std::path::Path| -> u64 {
        std::fs::read_dir(d)
            .unwrap()
            .map(|e| e.unwrap().metadata().unwrap().len())
            .sum()
    };
    let before = bytes(&dir.path().join("t/data"));
    assert_eq!(t.compact(50).await.unwrap(), 4);
    let rows: Vec<u64> = t.manifest().fragments.iter().map(|f| f.rows).collect();
    assert_eq!(rows, vec![20, 100, 20]);
    assert_eq!(all_ids(&t).await, (0..140).collect::<Vec<_>>());
    // The rewrite wrote its two fragments once each, and nothing else.
    let added = bytes(&dir.path().join("t/data")) - before;
    let written: u64 = [0, 2]
        .iter()
        .map(|&i| t.manifest().fragments[i].span.as_ref().unwrap().len)
        .sum();
    assert_eq!(added, written);
    // A lone small fragment is left alone, and nothing is written for it.
    let mut single = loc.create_table("single", schema()).await.unwrap();
    single.append(&batch(0, 3)).await.unwrap();
    let v = single.version();
    let before = bytes(&dir.path().join("single/data"));
    assert_eq!(single.compact(50).await.unwrap(), 0);
    assert_eq!(single.version(), v);
    assert_eq!(bytes(&dir.path().join("single/data")), before);
}

/// On local disk a table's successive fragments are appended to one data
/// file, read through one mapping, or through ranged gets of a generic store
/// over the same directory.
#[tokio::test]
async fn local_fragments_share_a_file_and_read_back_through_any_store() {
    let dir = tempfile::tempdir().unwrap();
    let loc = Location::local(dir.path()).unwrap();
    let mut t = loc.create_table("t", schema()).await.unwrap();
    let mut reader = loc.open_table("t").await.unwrap();
    for k in 0..6 {
        t.append(&batch(k * 50, 50)).await.unwrap();
        // A reader that mapped the file before it grew still reads every
        // commit, old and new.
        assert!(reader.refresh().await.unwrap());
        assert_eq!(
            all_ids(&reader).await,
            (0..(k + 1) * 50).collect::<Vec<_>>()
        );
    }
    let frags = &t.manifest().fragments;
    assert!(frags
        .iter()
        .all(|f| f.file() == frags[0].file() && f.span.is_some()));
    let files: Vec<_> = std::fs::read_dir(dir.path().join("t/data"))
        .unwrap()
        .collect();
    assert_eq!(files.len(), 1);
    // Spans tile the file in commit order.
    let mut end = 0;
    for f in frags {
        let span = f.span.as_ref().unwrap();
        assert_eq!(span.offset, end);
        end = span.offset + span.len;
    }

    // The same table through ranged gets (no mapping): footers found at each
    // span's end, every row and column intact.
    let store = object_store::local::LocalFileSystem::new_with_prefix(dir.path()).unwrap();
    let remote = Location::new(Arc::new(store), "".into());
    let r = remote.open_table("t").await.unwrap();
    assert_eq!(all_ids(&r).await, (0..300).collect::<Vec<_>>());
    let rows = r.take(&[299, 0, 151, 77], None).await.unwrap();
    for (i, id) in [299, 0, 151, 77].into_iter().enumerate() {
        check_row(&rows, i, id);
    }
    let full: Vec<RecordBatch> = r.scan(None).unwrap().try_collect().await.unwrap();
    for (k, b) in full.iter().enumerate() {
        check_row(b, 49, k as i64 * 50 + 49);
    }

    // A dropped and re-created table never receives a fragment in its
    // predecessor's (unlinked) file.
    assert!(loc.drop_table("t").await.unwrap());
    let mut again = loc.create_table("t", schema()).await.unwrap();
    again.append(&batch(1000, 5)).await.unwrap();
    let fresh = loc.open_table("t").await.unwrap();
    assert_eq!(all_ids(&fresh).await, (1000..1005).collect::<Vec<_>>());
    assert_ne!(fresh.manifest().fragments[0].file(), frags[0].file());
}

/// Slices are written with only their own rows, whatever their type.
#[tokio::test]
async fn slices_of_every_layout_are_trimmed_to_their_rows() {
    use arrow_array::builder::{ListBuilder, StringBuilder};
    let n = 1000usize;
    let mut lists = ListBuilder::new(StringBuilder::new());
    for i in 0..n {
        if i % 5 == 0 {
            lists.append_null();
        } else {
            for k in 0..i % 4 {
                lists.values().append_value(format!("{i}.{k}"));
            }
            lists.append(true);
        }
    }
    let lists = lists.finish();
    let flags: BooleanArray = (0..n).map(|i| (i % 3 != 0).then_some(i % 2 == 0)).collect();
    let structs = arrow_array::StructArray::from(vec![
        (
            Arc::new(Field::new("a", DataType::Int64, false)),
            Arc::new(Int64Array::from_iter_values(0..n as i64)) as ArrayRef,
        ),
        (
            Arc::new(Field::new("b", DataType::Utf8, true)),
            Arc::new(StringArray::from_iter(
                (0..n).map(|i| (i % 7 != 0).then(|| "x".repeat(i % 9))),
            )) as ArrayRef,
        ),
    ]);
    let wide = batch(0, n as i64);
    let mut cols = wide.columns().to_vec();
    let mut fields: Vec<Field> = wide
        .schema()
        .fields()
        .iter()
        .map(|f| f.as_ref().clone())
        .collect();
    for (name, c) in [
        ("lists", Arc::new(lists) as ArrayRef),
        ("flags", Arc::new(flags) as ArrayRef),
        ("structs", Arc::new(structs) as ArrayRef),
    ] {
        fields.push(Field::new(name, c.data_type().clone(), true));
        cols.push(c);
    }
    let all = RecordBatch::try_new(Arc::new(Schema::new(fields)), cols).unwrap();
    for (start, len) in [(0, 10), (333, 17), (991, 9), (5, 0)] {
        let slice = all.slice(start, len);
        let trimmed = deeplake_storage::trimmed(&slice).unwrap();
        assert_eq!(trimmed, slice, "rows {start}..+{len}");
        for (c, orig) in trimmed.columns().iter().zip(slice.columns()) {
            let own = c.to_data().get_slice_memory_size().unwrap();
            // What the file encoder writes: every buffer's full length.
            fn buffers(d: &arrow_data::ArrayData) -> usize {
                d.buffers().iter().map(|b| b.len()).sum::<usize>()
                    + d.nulls().map_or(0, |n| n.buffer().len())
                    + d.child_data().iter().map(buffers).sum::<usize>()
            }
            let d = c.to_data();
            assert_eq!(d.offset(), 0);
            assert!(
                buffers(&d) <= own + 8 * (d.child_data().len() + 2),
                "{}: {} bytes written for {own} of rows (untrimmed {})",
                orig.data_type(),
                buffers(&d),
                buffers(&orig.to_data()),
            );
        }
    }
}

#[tokio::test]
async fn schemas_are_stored_as_arrow_ipc_and_damage_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let loc = Location::local(dir.path()).unwrap();
    let meta = std::collections::HashMap::from([(
        "deeplake.type".to_string(),
        "EMBEDDING(4)".to_string(),
    )]);
    let fields: Vec<Field> = schema()
        .fields()
        .iter()
        .map(|f| {
            if f.name() == "emb" {
                f.as_ref().clone().with_metadata(meta.clone())
            } else {
                f.as_ref().clone()
            }
        })
        .collect();
    let with_meta = Arc::new(Schema::new(fields));
    let mut t = loc.create_table("t", with_meta.clone()).await.unwrap();
    t.append(&batch(0, 5).with_schema(with_meta.clone()).unwrap())
        .await
        .unwrap();
    let reopened = loc.open_table("t").await.unwrap();
    assert_eq!(
        reopened.schema(),
        with_meta,
        "types, nullability and metadata survive"
    );
    check_row(&reopened.take(&[3], None).await.unwrap(), 0, 3);

    // The manifest holds the IPC encoding, not a dump of library structs.
    let manifest_path = dir.path().join("t/_versions/00000000000000000002.json");
    let text = std::fs::read_to_string(&manifest_path).unwrap();
    let json: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert!(json["schema"].is_string(), "{text}");

    // A manifest from a newer format is refused with a clear message.
    let mut newer = json.clone();
    newer["format"] = serde_json::json!(99);
    std::fs::write(&manifest_path, newer.to_string()).unwrap();
    let err = loc.open_table("t").await.err().unwrap().to_string();
    assert!(err.contains("table format 99 is newer"), "{err}");

    // A damaged schema is an error when opening, never a panic.
    let mut broken = json.clone();
    broken["schema"] = serde_json::Value::String("AAAA".into());
    std::fs::write(&manifest_path, broken.to_string()).unwrap();
    let r = loc.open_table("t").await;
    assert!(matches!(r, Err(StorageError::Corrupt(_))), "{:?}", r.err());
    broken["schema"] = serde_json::Value::String("not base64 at all!".into());
    std::fs::write(&manifest_path, broken.to_string()).unwrap();
    let r = loc.open_table("t").await;
    assert!(matches!(r, Err(StorageError::Corrupt(_))), "{:?}", r.err());
}

fn index_on(name: &str, column: &str, index_type: &str) -> deeplake_storage::IndexMeta {
    deeplake_storage::IndexMeta {
        name: name.into(),
        columns: vec![column.into()],
        index_type: index_type.into(),
        params: Default::default(),
        segments: vec![],
    }
}

fn segment_over(t: &Table, id: &str) -> deeplake_storage::IndexSegment {
    deeplake_storage::IndexSegment {
        id: id.into(),
        files: vec!["postings".into()],
        fragments: t
            .manifest()
            .fragments
            .iter()
            .map(|f| f.id.clone())
            .collect(),
    }
}

/// This test binary links no index crate, so nobody registered the
/// upkeep: rows into a table whose index binds writes are refused rather
/// than committed unchecked, while other indexes (and the writer) go on.
#[tokio::test]
async fn a_binding_index_without_its_upkeep_refuses_rows() {
    let dir = tempfile::tempdir().unwrap();
    let loc = Location::from_root(dir.path().to_str().unwrap()).unwrap();
    let mut t = loc.create_table("t", schema()).await.unwrap();
    t.append(&batch(0, 10)).await.unwrap();
    t.create_index(index_on("t_text", "text", "bm25"))
        .await
        .unwrap();
    t.append(&batch(10, 10)).await.unwrap();
    t.create_index(index_on("t_id", "id", "unique"))
        .await
        .unwrap();
    let version = t.version();
    let refused = [
        t.append(&batch(20, 1)).await,
        t.commit_overwrite(
            schema(),
            vec![t.write_fragment(&batch(0, 3)).await.unwrap()],
        )
        .await,
    ];
    for r in refused {
        match r {
            Err(StorageError::Constraint(m)) => assert!(
                m.contains("has a unique index \"t_id\" that this program cannot check"),
                "{m}"
            ),
            other => panic!("{other:?}"),
        }
    }
    let mut w = deeplake_storage::TableWriter::new(
        t.clone(),
        schema(),
        Default::default(),
        deeplake_storage::WriteKind::Append,
        -1,
        None,
    )
    .unwrap();
    w.push(&batch(30, 5)).await.unwrap();
    assert!(matches!(w.finish().await, Err(StorageError::Constraint(_))));
    let again = loc.open_table("t").await.unwrap();
    assert_eq!((again.version(), again.len()), (version, 20));
}

#[tokio::test]
async fn indexes_ride_in_the_manifest_and_never_cover_rewritten_rows() {
    let dir = tempfile::tempdir().unwrap();
    for loc in locations(dir.path()) {
        indexes_in_the_manifest(loc).await;
    }
}

async fn indexes_in_the_manifest(loc: Location) {
    let mut t = loc.create_table("t", schema()).await.unwrap();
    for k in 0..4 {
        t.append(&batch(k * 50, 50)).await.unwrap();
    }
    // Files first, then the commit that names them.
    t.put_index_file("s1", "postings", bytes::Bytes::from_static(b"abc"))
        .await
        .unwrap();
    let mut idx = index_on("t_text", "text", "bm25");
    idx.segments.push(segment_over(&t, "s1"));
    t.create_index(idx).await.unwrap();
    assert_eq!(t.unindexed(t.index("t_text").unwrap()), Vec::<usize>::new());
    assert_eq!(
        &t.get_index_file("s1", "postings").await.unwrap()[..],
        b"abc"
    );

    // Names, columns and the one-index-per-column rule.
    let err = t.create_index(index_on("t_text", "emb", "clustered")).await;
    assert!(
        matches!(err, Err(StorageError::IndexExists(ref n)) if n == "t_text"),
        "{err:?}"
    );
    let err = t.create_index(index_on("other", "text", "inverted")).await;
    assert!(
        matches!(err, Err(StorageError::IndexConflict(ref m)) if m.contains("Conflicting index types for column 'text'")),
        "{err:?}"
    );
    let err = t.create_index(index_on("x", "nope", "bm25")).await;
    assert!(
        matches!(err, Err(StorageError::SchemaMismatch(_))),
        "{err:?}"
    );
    assert!(t.get_index_file("s1", "../x").await.is_err());
    assert!(matches!(
        t.get_index_file("s9", "postings").await,
        Err(StorageError::Corrupt(_))
    ));

    // An append leaves the new fragment unindexed; a delete keeps coverage
    // (the fragment keeps its id and rows); a reopened table sees the same.
    t.append(&batch(200, 50)).await.unwrap();
    let idx = t.index("t_text").unwrap().clone();
    assert_eq!(t.unindexed(&idx), vec![4]);
    t.delete_where(|b| {
        let ids = b.column_by_name("id").unwrap().as_primitive::<Int64Type>();
        Ok::<_, StorageError>(ids.iter().map(|v| v.map(|x| x == 10)).collect())
    })
    .await
    .unwrap();
    let reopened = loc.open_table("t").await.unwrap();
    assert_eq!(
        reopened.unindexed(reopened.index("t_text").unwrap()),
        vec![4]
    );
    let before_compaction = t.version();

    // Compaction gives the rows new fragments: none is covered any more,
    // and the segment, left with no live fragment, leaves the manifest.
    t.compact(1000).await.unwrap();
    let idx = t.index("t_text").unwrap();
    assert!(idx.segments.is_empty(), "{idx:?}");
    assert_eq!(t.unindexed(idx).len(), t.manifest().fragments.len());
    // The version before still has its segment (and its file).
    let old = t.checkout(before_compaction).await.unwrap();
    assert_eq!(old.index("t_text").unwrap().segments.len(), 1);

    // Catching up covers the compacted rows; a segment naming a fragment
    // that is not live keeps the live ones at their places.
    let mut seg = segment_over(&t, "s2");
    seg.fragments.push("gone".into());
    t.add_index_segments("t_text", vec![seg]).await.unwrap();
    let idx = t.index("t_text").unwrap();
    assert!(t.unindexed(idx).is_empty());
    assert!(!idx.segments[0].fragments.contains(&"gone".to_string()));
    let places = &idx.segments[0].fragments;
    assert_eq!(places.len(), t.manifest().fragments.len() + 1);
    assert_eq!(places.last(), Some(&String::new()));
    let err = t.add_index_segments("nope", vec![]).await;
    assert!(
        matches!(err, Err(StorageError::IndexNotFound(_))),
        "{err:?}"
    );

    // An overwrite keeps definitions whose columns keep their types, with
    // no segments; dropping works once.
    t.create_index(index_on("t_emb", "emb", "clustered"))
        .await
        .unwrap();
    let f = t.write_fragment(&batch(0, 10)).await.unwrap();
    t.commit_overwrite(schema(), vec![f]).await.unwrap();
    let names: Vec<&str> = t.indexes().iter().map(|i| i.name.as_str()).collect();
    assert_eq!(names, vec!["t_text", "t_emb"]);
    assert!(t.indexes().iter().all(|i| i.segments.is_empty()));
    t.drop_index("t_text").await.unwrap();
    let err = t.drop_index("t_text").await;
    assert!(
        matches!(err, Err(StorageError::IndexNotFound(_))),
        "{err:?}"
    );
    assert_eq!(t.indexes().len(), 1);
    t.drop_index("t_emb").await.unwrap();
    assert_eq!(all_ids(&t).await, (0..10).collect::<Vec<i64>>());
}

#[tokio::test]
async fn manifests_with_indexes_are_format_3_and_without_stay_format_2() {
    let dir = tempfile::tempdir().unwrap();
    let loc = Location::local(dir.path()).unwrap();
    let mut t = loc.create_table("t", schema()).await.unwrap();
    t.append(&batch(0, 10)).await.unwrap();
    let read = |v: u64| {
        let p = dir.path().join(format!("t/_versions/{v:020}.json"));
        serde_json::from_str::<serde_json::Value>(&std::fs::read_to_string(p).unwrap()).unwrap()
    };
    assert_eq!(read(t.version())["format"], 2);
    assert!(read(t.version()).get("indexes").is_none());
    t.create_index(index_on("i", "id", "inverted"))
        .await
        .unwrap();
    assert_eq!(read(t.version())["format"], 3);
    assert_eq!(read(t.version())["indexes"][0]["index_type"], "inverted");
    t.drop_index("i").await.unwrap();
    assert_eq!(read(t.version())["format"], 2);
}
