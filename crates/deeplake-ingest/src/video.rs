//! Video: cut into ~10-second segments by one ffmpeg run with the segment
//! muxer (stream copy, so cuts land on keyframes), with the real cut points
//! read back from the muxer's segment list; then one 320x180 JPEG thumbnail
//! per segment from its midpoint, several segments per ffmpeg run.

use std::path::{Path, PathBuf};

use deeplake_types::Value;

use crate::error::{IngestError, Result};
use crate::kind::file_name;
use crate::rows::{Batcher, Col, Emit, Row};
use crate::tools::{run, Tools, FFMPEG, FFPROBE};

/// Seconds per segment, as the spec's chunking table says.
pub const SEGMENT_SECONDS: f64 = 10.0;
/// Thumbnail size from the reference notes.
pub const THUMB_W: u32 = 320;
pub const THUMB_H: u32 = 180;
/// Seeking inputs opened by one thumbnail run: bounds open files and
/// decoder memory for long videos while keeping the process count low.
const THUMBS_PER_RUN: usize = 16;
/// Segments handed on per batch: bounds memory for long videos.
const SEGMENTS_PER_BATCH: usize = 8;

/// What ffprobe says about a video before it is cut.
#[derive(Debug, Clone, PartialEq)]
pub struct VideoInfo {
    /// `None` when the container does not know its duration.
    pub duration: Option<f64>,
    pub has_video: bool,
}

impl VideoInfo {
    /// Rows this video should produce: `ceil(duration / 10)`, which the real
    /// cut points can only lower (a cut waits for a keyframe).
    pub fn expected_rows(&self) -> u64 {
        match self.duration {
            Some(d) if d > 0.0 => (d / SEGMENT_SECONDS).ceil().max(1.0) as u64,
            _ => 1,
        }
    }
}

pub fn probe(tools: &Tools, path: &Path) -> Result<VideoInfo> {
    let mut cmd = tools.command(FFPROBE)?;
    cmd.args(["-v", "error", "-of", "json", "-show_entries"])
        .arg("format=duration:stream=codec_type,disposition")
        .arg(path);
    let out = run(tools, cmd, FFPROBE, path)?;
    let json: serde_json::Value = serde_json::from_slice(&out.stdout)
        .map_err(|e| IngestError::file(path, format!("unreadable ffprobe output: {e}")))?;
    let streams = json["streams"].as_array().cloned().unwrap_or_default();
    if streams.is_empty() {
        return Err(IngestError::file(path, "no audio or video streams"));
    }
    let has_video = streams.iter().any(|s| {
        s["codec_type"] == "video" && s["disposition"]["attached_pic"].as_i64() != Some(1)
    });
    let duration = json["format"]["duration"]
        .as_str()
        .and_then(|d| d.parse::<f64>().ok())
        .filter(|d| d.is_finite() && *d > 0.0);
    Ok(VideoInfo {
        duration,
        has_video,
    })
}

/// One stored segment: its file and the times it covers.
#[derive(Debug, Clone, PartialEq)]
struct Segment {
    file: PathBuf,
    start: f64,
    end: Option<f64>,
}

/// Normalizes one video, handing rows on in small batches.
pub fn normalize(
    tools: &Tools,
    path: &Path,
    info: &VideoInfo,
    file_id: &str,
    mut emit: Emit<'_>,
) -> Result<()> {
    let work = tempfile::tempdir().map_err(|e| {
        IngestError::Internal(format!("Failed to create a temporary directory: {e}"))
    })?;
    let segments = match info.duration {
        Some(duration) => {
            // Listing keyframes and cutting both only demux: side by side.
            let (keys, cuts) = std::thread::scope(|s| {
                let keys = s.spawn(|| match info.has_video {
                    true => keyframes(tools, path),
                    false => Ok(vec![]),
                });
                let cuts = cut(tools, path, work.path());
                (keys.join(), cuts)
            });
            let keys = keys.unwrap_or_else(|_| {
                Err(IngestError::file(
                    path,
                    "keyframe listing failed unexpectedly",
                ))
            })?;
            place(cuts?, duration, &keys)
        }
        None => vec![Segment {
            file: path.to_path_buf(),
            start: 0.0,
            end: None,
        }],
    };
    let thumbs = match info.has_video {
        true => thumbnails(tools, path, &segments, work.path())?,
        false => vec![None; segments.len()],
    };
    let mut batch = Batcher::new(SEGMENTS_PER_BATCH, &mut emit);
    for (i, (seg, thumb)) in segments.iter().zip(thumbs).enumerate() {
        let bytes = std::fs::read(&seg.file)
            .map_err(|e| IngestError::file(path, format!("cannot read a cut segment: {e}")))?;
        let text = match seg.end {
            Some(end) => format!("Video segment {i}: {:.1}s - {end:.1}s", seg.start),
            None => format!("Video: {}", file_name(path)),
        };
        let mut row = Row::new(file_id, i);
        row.set(Col::ChunkIndex, Value::Int(i as i64))
            .set(Col::StartTime, Value::Float(seg.start))
            .set(Col::EndTime, seg.end.map_or(Value::Null, Value::Float))
            .set(Col::VideoData, Value::Bytes(bytes))
            .set(Col::Thumbnail, thumb.map_or(Value::Null, Value::Bytes))
            .set(Col::Text, Value::Str(text));
        batch.push(row)?;
    }
    batch.finish()
}

fn round_ms(t: f64) -> f64 {
    (t * 1000.0).round() / 1000.0
}

/// Presentation times of the video stream's keyframes (a demux pass, no
/// decoding), sorted.
fn keyframes(tools: &Tools, path: &Path) -> Result<Vec<f64>> {
    let mut cmd = tools.command(FFPROBE)?;
    cmd.args(["-v", "error", "-select_streams", "V:0", "-show_entries"])
        .args(["packet=pts_time,flags", "-of", "csv=p=0"])
        .arg(path);
    let out = run(tools, cmd, FFPROBE, path)?;
    let mut keys: Vec<f64> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| l.contains('K'))
        .filter_map(|l| l.split(',').next()?.trim().parse().ok())
        .collect();
    keys.sort_by(f64::total_cmp);
    Ok(keys)
}

/// Where a cut really is in the source's timeline. The segment muxer
/// reports packet times after ffmpeg has shifted them to make decoding
/// times non-negative (by the B-frame delay, a few frames at most), so
/// the cut is at the last keyframe at or before the reported time.
fn source_time(reported: f64, keys: &[f64]) -> f64 {
    let at = keys.partition_point(|k| *k <= reported + 0.0005);
    match at {
        0 => reported,
        n => keys[n - 1],
    }
}

/// One ffmpeg run: stream-copied segments of the audio and video streams,
/// and where the segment muxer says each one starts.
fn cut(tools: &Tools, path: &Path, dir: &Path) -> Result<Vec<(PathBuf, f64)>> {
    let ext = path
        .extension()
        .map(|e| e.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_else(|| "mkv".into());
    let list = dir.join("segments.csv");
    let mut cmd = tools.command(FFMPEG)?;
    cmd.args(["-v", "error", "-nostdin", "-xerror", "-i"])
        .arg(path)
        .args([
            "-map", "0:V?", "-map", "0:a?", "-c", "copy", "-f", "segment",
        ])
        .args(["-segment_time", &SEGMENT_SECONDS.to_string()])
        .args(["-reset_timestamps", "1", "-segment_list_type", "csv"])
        .arg("-segment_list")
        .arg(&list)
        .arg(dir.join(format!("seg%05d.{ext}")));
    run(tools, cmd, FFMPEG, path)?;
    let listing = std::fs::read_to_string(&list)
        .map_err(|e| IngestError::file(path, format!("ffmpeg wrote no segment list: {e}")))?;
    let mut cuts = vec![];
    for line in listing.lines().filter(|l| !l.trim().is_empty()) {
        // `name,start,end`; the name is ours and holds no commas. Ends are
        // set from the next segment's start.
        let mut parts = line.rsplitn(3, ',').skip(1);
        let start = parts.next().and_then(|s| s.trim().parse::<f64>().ok());
        let (Some(start), Some(name)) = (start, parts.next()) else {
            return Err(IngestError::file(
                path,
                format!("unexpected segment list line '{line}'"),
            ));
        };
        cuts.push((dir.join(name.trim()), start));
    }
    if cuts.is_empty() {
        return Err(IngestError::file(path, "ffmpeg produced no segments"));
    }
    Ok(cuts)
}

/// The segments in the source's timeline: each starts at its cut's
/// keyframe and ends where the next begins, the last where the video
/// does, so the stored pieces cover the whole video with no gap and no
/// overlap.
fn place(cuts: Vec<(PathBuf, f64)>, duration: f64, keys: &[f64]) -> Vec<Segment> {
    let starts: Vec<f64> = cuts
        .iter()
        .enumerate()
        .map(|(i, (_, reported))| match i {
            0 => 0.0,
            _ => round_ms(source_time(*reported, keys)),
        })
        .collect();
    let ends = starts
        .iter()
        .skip(1)
        .copied()
        .chain(std::iter::once(round_ms(duration)));
    cuts.into_iter()
        .zip(starts.iter().copied().zip(ends))
        .map(|((file, _), (start, end))| Segment {
            file,
            start,
            end: Some(end.max(start)),
        })
        .collect()
}

/// One ffmpeg run making the thumbnails of `group` (segments from `first`
/// on): one seeking input and one output per segment, each decoder on one
/// thread since several runs share the cores.
fn thumbnail_run(
    tools: &Tools,
    path: &Path,
    filter: &str,
    first: usize,
    group: &[Segment],
    dir: &Path,
) -> Result<Vec<Option<Vec<u8>>>> {
    let mut cmd = tools.command(FFMPEG)?;
    cmd.args(["-v", "error", "-nostdin"]);
    for seg in group {
        let mid = match seg.end {
            Some(end) => (seg.start + end) / 2.0,
            None => 0.0,
        };
        cmd.args(["-threads", "1", "-ss", &format!("{mid:.3}"), "-i"])
            .arg(path);
    }
    let mut files = vec![];
    for i in 0..group.len() {
        let file = dir.join(format!("thumb{}.jpg", first + i));
        cmd.args(["-map", &format!("{i}:V:0"), "-frames:v", "1", "-vf", filter])
            .args(["-q:v", "3", "-y"])
            .arg(&file);
        files.push(file);
    }
    run(tools, cmd, FFMPEG, path)?;
    Ok(files
        .into_iter()
        .map(|f| std::fs::read(&f).ok().filter(|b| !b.is_empty()))
        .collect())
}

/// A frame from each segment's midpoint, scaled into 320x180 (letterboxed to
/// keep the aspect ratio). A segment with no frame there gets none.
fn thumbnails(
    tools: &Tools,
    path: &Path,
    segments: &[Segment],
    dir: &Path,
) -> Result<Vec<Option<Vec<u8>>>> {
    let filter = format!(
        "scale={THUMB_W}:{THUMB_H}:force_original_aspect_ratio=decrease,pad={THUMB_W}:{THUMB_H}:(ow-iw)/2:(oh-ih)/2,setsar=1"
    );
    // Groups run side by side, one per core: a thumbnail costs a decode
    // from the keyframe before its midpoint, and one ffmpeg run decodes its
    // inputs one after another.
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let per_run = segments.len().div_ceil(cores).clamp(1, THUMBS_PER_RUN);
    let groups: Vec<(usize, &[Segment])> = segments
        .chunks(per_run)
        .enumerate()
        .map(|(g, group)| (g * per_run, group))
        .collect();
    let mut out = Vec::with_capacity(segments.len());
    for wave in groups.chunks(cores) {
        let results: Vec<Result<Vec<Option<Vec<u8>>>>> = std::thread::scope(|s| {
            let handles: Vec<_> = wave
                .iter()
                .map(|(first, group)| {
                    s.spawn(|| thumbnail_run(tools, path, &filter, *first, group, dir))
                })
                .collect();
            handles
                .into_iter()
                .map(|h| {
                    h.join().unwrap_or_else(|_| {
                        Err(IngestError::file(
                            path,
                            "thumbnail extraction failed unexpectedly",
                        ))
                    })
                })
                .collect()
        });
        for r in results {
            out.extend(r?);
        }
    }
    Ok(out)
}
