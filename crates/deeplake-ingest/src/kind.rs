//! Which normalizer a file goes through, decided by its extension as the
//! spec's "Chunking Strategy" table lists them.

use std::path::Path;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum FileKind {
    Video,
    Image,
    Pdf,
    Text,
    Other,
}

impl FileKind {
    pub fn of(path: &Path) -> FileKind {
        let ext = path
            .extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase)
            .unwrap_or_default();
        match ext.as_str() {
            "mp4" | "mov" | "avi" | "mkv" | "webm" => FileKind::Video,
            "jpg" | "jpeg" | "png" | "gif" | "bmp" | "webp" => FileKind::Image,
            "pdf" => FileKind::Pdf,
            "txt" | "md" | "csv" | "json" | "xml" | "html" => FileKind::Text,
            _ => FileKind::Other,
        }
    }
}

/// The file's name for labels and the `filename` column.
pub fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| path.display().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extensions_are_case_insensitive() {
        assert_eq!(FileKind::of(Path::new("a/B.MP4")), FileKind::Video);
        assert_eq!(FileKind::of(Path::new("x.JpEg")), FileKind::Image);
        assert_eq!(FileKind::of(Path::new("doc.pdf")), FileKind::Pdf);
        assert_eq!(FileKind::of(Path::new("n.md")), FileKind::Text);
        assert_eq!(FileKind::of(Path::new("archive.tar.gz")), FileKind::Other);
        assert_eq!(FileKind::of(Path::new("noext")), FileKind::Other);
    }
}
