//! `cargo xtask links`: every link in the built book leads somewhere.
//!
//! mdBook builds a page with a broken link without a word. This reads the
//! HTML it wrote (`book/book/`), and for each `href` and `src` that stays
//! in the book: the file must exist, and a `#fragment` must be the `id`
//! of an element in it. Links that leave the book (`https:`, `mailto:`)
//! are not followed: this runs offline.

use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};

/// A link that leads nowhere.
#[derive(Debug, PartialEq, Eq)]
pub struct Broken {
    /// The page it is on, relative to the built book.
    pub page: String,
    /// The link as written.
    pub link: String,
    /// What is missing.
    pub why: &'static str,
}

/// The pages mdBook writes for its own use: they repeat the chapters'
/// links (`print.html`) or are not from the sources.
const SKIPPED: [&str; 3] = ["print.html", "404.html", "toc.html"];

/// Checks every page under `built` (mdBook's output directory).
pub fn check(built: &Path) -> Result<Vec<Broken>, String> {
    let mut pages = Vec::new();
    collect(built, &mut pages);
    if pages.is_empty() {
        return Err(format!(
            "no pages in {}: run `mdbook build book` first",
            built.display()
        ));
    }
    let mut ids: HashMap<PathBuf, Vec<String>> = HashMap::new();
    let mut broken = Vec::new();
    for page in &pages {
        let relative = page.strip_prefix(built).unwrap_or(page);
        if SKIPPED.iter().any(|s| relative == Path::new(s)) {
            continue;
        }
        let html = fs::read_to_string(page).map_err(|e| format!("{}: {e}", page.display()))?;
        for link in attributes(&html, "href")
            .into_iter()
            .chain(attributes(&html, "src"))
        {
            if leaves_the_book(&link) {
                continue;
            }
            let (path, fragment) = link.split_once('#').unwrap_or((&link, ""));
            let target = if path.is_empty() {
                page.clone()
            } else {
                page.parent().unwrap_or(built).join(path)
            };
            let why = if !target.exists() {
                Some("no such file")
            } else if !fragment.is_empty() && target.extension().is_some_and(|e| e == "html") {
                let known = ids.entry(target.clone()).or_insert_with(|| {
                    attributes(&fs::read_to_string(&target).unwrap_or_default(), "id")
                });
                (!known.iter().any(|id| id == fragment)).then_some("no such anchor")
            } else {
                None
            };
            if let Some(why) = why {
                broken.push(Broken {
                    page: relative.display().to_string(),
                    link,
                    why,
                });
            }
        }
    }
    Ok(broken)
}

/// Whether a link goes outside the book (or is not a place at all).
fn leaves_the_book(link: &str) -> bool {
    link.contains("://")
        || link.starts_with("mailto:")
        || link.starts_with("javascript:")
        || link.starts_with("data:")
        // mdBook's own search and theme files are written by mdBook.
        || link.contains("{{")
}

/// The values of `name="…"` in `html`, in order (no HTML parser: mdBook
/// writes plain double-quoted attributes).
fn attributes(html: &str, name: &str) -> Vec<String> {
    let needle = format!(" {name}=\"");
    let mut found = Vec::new();
    let mut rest = html;
    while let Some(at) = rest.find(&needle) {
        rest = &rest[at + needle.len()..];
        if let Some(end) = rest.find('"') {
            found.push(unescape(&rest[..end]));
            rest = &rest[end..];
        }
    }
    found
}

/// `&amp;` and the percent-encoding mdBook gives some names, undone.
fn unescape(text: &str) -> String {
    let text = text.replace("&amp;", "&");
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let Ok(byte) = u8::from_str_radix(&text[i + 1..i + 3], 16)
        {
            out.push(byte);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn collect(dir: &Path, pages: &mut Vec<PathBuf>) {
    for entry in fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            collect(&path, pages);
        } else if path.extension().is_some_and(|e| e == "html") {
            pages.push(path);
        }
    }
    pages.sort();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attributes_are_read_in_order() {
        let html = r#"<a href="a.html#x">a</a> <img src="d/f.svg"> <h2 id="x">"#;
        assert_eq!(attributes(html, "href"), ["a.html#x"]);
        assert_eq!(attributes(html, "src"), ["d/f.svg"]);
        assert_eq!(attributes(html, "id"), ["x"]);
    }

    #[test]
    fn broken_files_and_anchors_are_found() {
        let dir = std::env::temp_dir().join(format!("links-test-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        fs::write(
            dir.join("a.html"),
            r#"<h1 id="top"></h1><a href="b.html#top">ok</a>"#,
        )
        .unwrap();
        fs::write(
            dir.join("b.html"),
            r#"<h1 id="top"></h1><a href="a.html#nowhere">x</a><a href="c.html">y</a><a href="https://example.com/">z</a>"#,
        )
        .unwrap();
        let broken = check(&dir).unwrap();
        fs::remove_dir_all(&dir).unwrap();
        let found: Vec<(&str, &str)> = broken.iter().map(|b| (b.link.as_str(), b.why)).collect();
        assert_eq!(
            found,
            [
                ("a.html#nowhere", "no such anchor"),
                ("c.html", "no such file")
            ]
        );
    }
}
