//! The format protocol (batches with schema hints) and the COCO panoptic
//! format on a small real sample: scikit-image's photos with panoptic masks
//! made from them at test time.

use std::collections::HashMap;
use std::path::Path;

use crate::common::{client_at, col, column_types, skimage};
use deeplake_client::{Batch, CocoPanoptic, Format, FormatError, IngestOptions, Value};

/// A format that yields prepared batches (or errors), with hints.
struct Listed {
    hints: Vec<(&'static str, &'static str)>,
    batches: Vec<Result<Batch, String>>,
}

impl Format for Listed {
    fn schema(&self) -> Vec<(String, String)> {
        self.hints
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    }
    fn normalize(
        &mut self,
    ) -> Result<Box<dyn Iterator<Item = Result<Batch, FormatError>> + Send + '_>, FormatError> {
        let items = std::mem::take(&mut self.batches);
        Ok(Box::new(
            items.into_iter().map(|b| b.map_err(FormatError::Invalid)),
        ))
    }
}

fn batch(first: i64, n: i64) -> Batch {
    vec![
        col(
            "label",
            (first..first + n)
                .map(|i| Value::Str(format!("l{i}")))
                .collect(),
        ),
        col(
            "blob",
            (first..first + n)
                .map(|i| Value::Bytes(vec![i as u8; 3]))
                .collect(),
        ),
        col(
            "score",
            (first..first + n)
                .map(|i| Value::Float(i as f64 / 2.0))
                .collect(),
        ),
    ]
}

#[test]
fn formats_stream_batches_typed_by_hints_and_the_user_schema() {
    let dir = tempfile::tempdir().unwrap();
    let c = client_at(dir.path());
    let mut f = Listed {
        hints: vec![("blob", "IMAGE"), ("score", "FLOAT32")],
        batches: vec![Ok(batch(0, 5)), Ok(batch(5, 5)), Ok(batch(10, 2))],
    };
    let opts = IngestOptions {
        schema: vec![("score".into(), "FLOAT64".into())],
        ..Default::default()
    };
    let r = c.ingest_format("fmt", &mut f, opts).unwrap();
    assert_eq!(r.row_count, 12);
    let t = column_types(&c, "fmt");
    assert_eq!(t["blob"], "IMAGE");
    assert_eq!(
        t["score"], "double precision",
        "the user's schema wins over the hint"
    );
    let rows = c
        .query(
            "SELECT label, score FROM fmt ORDER BY score DESC LIMIT 1",
            &[],
        )
        .unwrap();
    assert_eq!(rows[0].get("label"), Some(&Value::Str("l11".into())));
}

#[test]
fn format_failures_leave_nothing_behind() {
    let dir = tempfile::tempdir().unwrap();
    let c = client_at(dir.path());
    let mut odd = batch(5, 2);
    odd.push(col("surprise", vec![Value::Int(1), Value::Int(2)]));
    let cases: Vec<(Vec<Result<Batch, String>>, &str)> = vec![
        (
            vec![Ok(batch(0, 3)), Err("image 7 is missing".into())],
            "image 7 is missing",
        ),
        (vec![Ok(batch(0, 3)), Ok(odd)], "surprise"),
        (vec![], "The format yielded no data."),
    ];
    for (batches, needle) in cases {
        let mut f = Listed {
            hints: vec![],
            batches,
        };
        match c.ingest_format("bad", &mut f, IngestOptions::default()) {
            Err(e) if e.class() == "IngestError" => {
                let m = e.message();
                assert!(m.contains(needle), "{m}")
            }
            other => panic!("expected an IngestError, got {other:?}"),
        }
        assert!(c.list_tables().unwrap().is_empty());
    }
}

/// Writes a panoptic PNG (id = R + 256 G + 256² B per pixel) that splits
/// the photo into its dark and light pixels; returns each segment's area.
fn make_mask(photo: &Path, out: &Path, ids: [u32; 2]) -> (u32, u32, [u64; 2]) {
    let img = image::open(photo).unwrap().to_luma8();
    let (w, h) = img.dimensions();
    let mut areas = [0u64; 2];
    let mask = image::RgbImage::from_fn(w, h, |x, y| {
        let k = usize::from(img.get_pixel(x, y)[0] >= 128);
        areas[k] += 1;
        let id = ids[k];
        image::Rgb([(id & 255) as u8, ((id >> 8) & 255) as u8, (id >> 16) as u8])
    });
    mask.save(out).unwrap();
    (w, h, areas)
}

#[test]
fn coco_panoptic_rows_match_the_annotations() {
    let dir = tempfile::tempdir().unwrap();
    let images = dir.path().join("train2017");
    let masks = dir.path().join("panoptic_train2017");
    std::fs::create_dir_all(&images).unwrap();
    std::fs::create_dir_all(&masks).unwrap();
    let categories = serde_json::json!([
        {"id": 1, "name": "shadow", "supercategory": "light", "isthing": 0},
        {"id": 2, "name": "highlight", "supercategory": "light", "isthing": 0},
        {"id": 3, "name": "unused", "supercategory": "none", "isthing": 1}
    ]);
    let mut image_list = vec![];
    let mut annotations = vec![];
    for (i, photo) in ["camera.png", "coffee.png", "astronaut.png", "rocket.jpg"]
        .iter()
        .enumerate()
    {
        let id = 100 + i as i64;
        let file_name = format!(
            "{id:012}.{}",
            if photo.ends_with("jpg") { "jpg" } else { "png" }
        );
        let mask_name = format!("{id:012}.png");
        let seg_ids = [1000 + i as u32 * 2, 70000 + i as u32 * 2];
        let (w, h, areas) = make_mask(&skimage(photo), &masks.join(&mask_name), seg_ids);
        // The last photo is left out of the images directory: skipped.
        if i < 3 {
            std::fs::copy(skimage(photo), images.join(&file_name)).unwrap();
        }
        image_list
            .push(serde_json::json!({"id": id, "file_name": file_name, "width": w, "height": h}));
        annotations.push(serde_json::json!({
            "image_id": id,
            "file_name": mask_name,
            "segments_info": [
                {"id": seg_ids[0], "category_id": 1, "area": areas[0], "iscrowd": 0},
                {"id": seg_ids[1], "category_id": 2, "area": areas[1], "iscrowd": 0}
            ]
        }));
    }
    let ann_path = dir.path().join("panoptic_train2017.json");
    let doc = serde_json::json!({"images": image_list, "annotations": annotations, "categories": categories});
    std::fs::write(&ann_path, doc.to_string()).unwrap();

    let c = client_at(dir.path());
    let mut coco = CocoPanoptic::new(&images, &masks, &ann_path);
    let r = c
        .ingest_format("panoptic", &mut coco, IngestOptions::default())
        .unwrap();
    assert_eq!((r.row_count, r.skipped), (3, 1));
    // The same rows in batches of two, counting the skipped image as it goes.
    let small = CocoPanoptic::new(&images, &masks, &ann_path).with_batch_size(2);
    let mut batches = small.batches().unwrap();
    let sizes: Vec<usize> = batches.by_ref().map(|b| b.unwrap()[0].1.len()).collect();
    assert_eq!((sizes, batches.skipped()), (vec![2, 1], 1));
    let zero = CocoPanoptic::new(&images, &masks, &ann_path).with_batch_size(0);
    assert!(zero
        .batches()
        .is_err_and(|e| e.to_string().contains("batch_size")));
    let t = column_types(&c, "panoptic");
    assert_eq!(t["image"], "IMAGE");
    assert_eq!(t["mask"], "SEGMENT_MASK");
    assert_eq!(t["segments_info"], "jsonb");
    assert_eq!(t["categories"], "jsonb");
    let rows = c
        .query("SELECT * FROM panoptic ORDER BY image_id", &[])
        .unwrap();
    assert_eq!(
        rows[0].columns(),
        [
            "image_id",
            "image",
            "mask",
            "width",
            "height",
            "filename",
            "segments_info",
            "categories"
        ]
    );
    for (row, (img, ann)) in rows.iter().zip(image_list.iter().zip(&annotations)) {
        assert_eq!(
            row.get("image_id"),
            Some(&Value::Int(img["id"].as_i64().unwrap()))
        );
        assert_eq!(
            row.get("width"),
            Some(&Value::Int(img["width"].as_i64().unwrap()))
        );
        assert_eq!(
            row.get("height"),
            Some(&Value::Int(img["height"].as_i64().unwrap()))
        );
        let name = img["file_name"].as_str().unwrap();
        assert_eq!(row.get("filename"), Some(&Value::Str(name.into())));
        assert_eq!(
            row.get("image"),
            Some(&Value::Bytes(std::fs::read(images.join(name)).unwrap()))
        );
        assert_eq!(
            row.get("segments_info"),
            Some(&Value::Json(ann["segments_info"].clone()))
        );
        assert_eq!(
            row.get("categories"),
            Some(&Value::Json(serde_json::json!([
                categories[0],
                categories[1]
            ])))
        );
        // The stored mask's segment ids and areas are the annotation's.
        let Some(Value::Bytes(mask)) = row.get("mask") else {
            panic!("mask")
        };
        let mask = image::load_from_memory(mask).unwrap().to_rgb8();
        let mut areas: HashMap<u64, u64> = HashMap::new();
        for p in mask.pixels() {
            *areas
                .entry(p[0] as u64 + 256 * p[1] as u64 + 65536 * p[2] as u64)
                .or_default() += 1;
        }
        for seg in ann["segments_info"].as_array().unwrap() {
            assert_eq!(
                areas.get(&seg["id"].as_u64().unwrap()),
                seg["area"].as_u64().as_ref()
            );
        }
    }
}

#[test]
fn coco_panoptic_needs_its_annotations_and_directories() {
    let dir = tempfile::tempdir().unwrap();
    let c = client_at(dir.path());
    std::fs::create_dir_all(dir.path().join("img")).unwrap();
    std::fs::create_dir_all(dir.path().join("masks")).unwrap();
    let missing_json = dir.path().join("none.json");
    let cases = [
        (
            CocoPanoptic::new(
                dir.path().join("img"),
                dir.path().join("masks"),
                &missing_json,
            ),
            missing_json.clone(),
        ),
        (
            CocoPanoptic::new(
                dir.path().join("img"),
                dir.path().join("nomasks"),
                &missing_json,
            ),
            dir.path().join("nomasks"),
        ),
    ];
    for (mut coco, path) in cases {
        match c.ingest_format("p", &mut coco, IngestOptions::default()) {
            Err(e) if e.class() == "IngestError" => {
                let m = e.message().to_string();
                assert!(
                    m.contains(&format!("File not found: {}", path.display())),
                    "{m}"
                )
            }
            other => panic!("expected an IngestError, got {other:?}"),
        }
    }
    let broken = dir.path().join("broken.json");
    std::fs::write(&broken, "{\"images\": [").unwrap();
    let mut coco = CocoPanoptic::new(dir.path().join("img"), dir.path().join("masks"), &broken);
    match c.ingest_format("p", &mut coco, IngestOptions::default()) {
        Err(e) if e.class() == "IngestError" => {
            let m = e.message();
            assert!(m.contains("not valid JSON"), "{m}")
        }
        other => panic!("expected an IngestError, got {other:?}"),
    }
    assert!(c.list_tables().unwrap().is_empty());
}
