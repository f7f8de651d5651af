//! Finding a local image by reference or id, and `images`, `rmi`, `inspect`.

use step07_overlay::store::{Store, StoreError, du};

use crate::error::{RegistryError, Result};
use crate::local::Local;
use crate::reference::ImageRef;

/// A local image, as `run` and `inspect` find it.
#[derive(Debug, PartialEq, Eq)]
pub enum Found {
    /// A pulled image: its id's hex digits (its step 07 image's name).
    Pulled(String),
    /// An image imported by step 07 under this name (it has no config).
    Imported(String),
}

impl Found {
    /// The name of its image in step 07's store.
    pub fn store_name(&self) -> &str {
        match self {
            Found::Pulled(hex) | Found::Imported(hex) => hex,
        }
    }
}

/// Finds `name` here: a pulled reference, an image id (or at least its
/// first four hex digits, `sha256:` or not), or an image step 07 imported.
pub fn find(state_dir: &std::path::Path, name: &str) -> Result<Option<Found>> {
    let local = Local::new(state_dir);
    let references = local.references()?;
    if let Ok(reference) = ImageRef::parse(name)
        && let Some(entry) = references.get(&reference.to_string())
    {
        return Ok(Some(Found::Pulled(hex_of_id(&entry.id).into())));
    }
    let prefix = name.strip_prefix("sha256:").unwrap_or(name);
    if prefix.len() >= 4 && prefix.bytes().all(|b| b.is_ascii_hexdigit()) {
        let mut ids: Vec<&str> = references
            .values()
            .map(|e| hex_of_id(&e.id))
            .filter(|h| h.starts_with(prefix))
            .collect();
        ids.sort();
        // Two names of one image are one image.
        ids.dedup();
        match ids.as_slice() {
            [one] => return Ok(Some(Found::Pulled(one.to_string()))),
            [] => {}
            _ => return Err(RegistryError::Ambiguous(name.into())),
        }
    }
    match Store::new(state_dir).image(name) {
        Ok(_) => Ok(Some(Found::Imported(name.into()))),
        Err(_) => Ok(None),
    }
}

/// `sha256:HEX` → `HEX`.
fn hex_of_id(id: &str) -> &str {
    id.strip_prefix("sha256:").unwrap_or(id)
}

/// `images`: one line per reference, then the images step 07 imported.
pub fn list(state_dir: &std::path::Path) -> Result<Vec<String>> {
    let local = Local::new(state_dir);
    let store = Store::new(state_dir);
    let references = local.references()?;
    let now = std::time::SystemTime::now();
    let mut lines = vec![format!(
        "{:<40} {:<12} {:<12} {:<16} {:>10}",
        "REPOSITORY", "TAG", "IMAGE ID", "CREATED", "SIZE"
    )];
    let size = |name: &str| -> u64 {
        store
            .image(name)
            .map(|i| i.layers.iter().map(|d| du(&store.layer(d))).sum())
            .unwrap_or(0)
    };
    for (text, entry) in &references {
        let Ok(reference) = ImageRef::parse(text) else {
            continue;
        };
        let id = hex_of_id(&entry.id);
        let created = local
            .config(id)
            .ok()
            .flatten()
            .and_then(|c| c.created().clone())
            .map(|c| ago(&c, now))
            .unwrap_or_else(|| "-".into());
        lines.push(format!(
            "{:<40} {:<12} {:<12} {:<16} {:>6} MiB",
            reference.short_name(),
            reference.tag().unwrap_or("<none>"),
            &id[..12],
            created,
            size(id) >> 20
        ));
    }
    let pulled: Vec<&str> = references.values().map(|e| hex_of_id(&e.id)).collect();
    for image in store.images()? {
        if !pulled.contains(&image.name.as_str()) {
            lines.push(format!(
                "{:<40} {:<12} {:<12} {:<16} {:>6} MiB",
                image.name,
                "<imported>",
                "-",
                "-",
                size(&image.name) >> 20
            ));
        }
    }
    Ok(lines)
}

/// "3 days ago", from an RFC 3339 time (the config's `created`).
fn ago(created: &str, now: std::time::SystemTime) -> String {
    let Some(then) = rfc3339_seconds(created) else {
        return "-".into();
    };
    let now = now
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let secs = now.saturating_sub(then);
    let (n, unit) = match secs {
        0..=119 => (secs, "second"),
        120..=7199 => (secs / 60, "minute"),
        7200..=172_799 => (secs / 3600, "hour"),
        172_800..=5_183_999 => (secs / 86_400, "day"),
        _ => (secs / 2_592_000, "month"),
    };
    format!("{n} {unit}{} ago", if n == 1 { "" } else { "s" })
}

/// Seconds since 1970 of `2024-01-31T12:00:00Z` (fractions and offsets
/// after the seconds are ignored: "3 days ago" does not need them).
fn rfc3339_seconds(text: &str) -> Option<u64> {
    let num = |r: std::ops::Range<usize>| text.get(r)?.parse::<i64>().ok();
    let (y, m, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (hh, mm, ss) = (num(11..13)?, num(14..16)?, num(17..19)?);
    // Days from civil (Howard Hinnant's algorithm): the proleptic
    // Gregorian calendar, March-based years so February comes last.
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    u64::try_from(days * 86_400 + hh * 3600 + mm * 60 + ss).ok()
}

/// What `rmi NAME` would take away.
#[derive(Debug)]
pub struct Removal {
    /// The image NAME finds.
    pub found: Found,
    /// The references that lose their name (whole, defaults written out).
    pub untag: Vec<String>,
    /// Whether the image goes too (no name is left to it, or it was
    /// named by its id, or step 07 imported it).
    pub deletes: bool,
}

/// What `rmi NAME` would take away, without taking it: by reference, that
/// name (the image goes with its last); by id, every name and the image.
pub fn removal(state_dir: &std::path::Path, name: &str) -> Result<Removal> {
    let found = find(state_dir, name)?.ok_or_else(|| RegistryError::NotPulled(name.into()))?;
    let Found::Pulled(hex) = &found else {
        return Ok(Removal {
            found,
            untag: Vec::new(),
            deletes: true,
        });
    };
    let by_reference = ImageRef::parse(name).ok().map(|r| r.to_string());
    let names: Vec<String> = Local::new(state_dir)
        .references()?
        .into_iter()
        .filter(|(_, e)| hex_of_id(&e.id) == hex)
        .map(|(r, _)| r)
        .collect();
    let untag: Vec<String> = match &by_reference {
        Some(r) if names.contains(r) => vec![r.clone()],
        _ => names.clone(),
    };
    Ok(Removal {
        deletes: untag.len() == names.len(),
        found,
        untag,
    })
}

/// `rmi NAME`: a reference loses its name; an image with no name left
/// goes, with its config and the layers no other image uses (step 07's
/// `rmi`). By id, every name of it goes. Returns what it did, to print.
pub fn remove(state_dir: &std::path::Path, name: &str) -> Result<Vec<String>> {
    let local = Local::new(state_dir);
    let store = Store::new(state_dir);
    let Removal {
        found,
        untag,
        deletes,
    } = removal(state_dir, name)?;
    let hex = match found {
        Found::Imported(name) => {
            let layers = store.remove(&name)?;
            return Ok(deleted(&layers, &[format!("removed image {name}")]));
        }
        Found::Pulled(hex) => hex,
    };
    // A run of its own, locked (step 01's owner.rs): a pull's sweep must
    // not take our references file, written aside, for a dead run's.
    let run = step01_chroot::spec::random_id();
    let _lock = step01_chroot::owner::RunLock::take(&run).map_err(crate::error::io(
        "locking",
        &step01_chroot::owner::runs_dir(),
    ))?;
    let mut report: Vec<String> = untag.iter().map(|r| format!("untagged {r}")).collect();
    let mut layers = Vec::new();
    if deletes {
        // The last name: the image goes first (step 07 refuses while a
        // container stands on it), then its names, so a refusal leaves
        // everything as it was.
        match store.remove(&hex) {
            Ok(gone) => layers = gone,
            // Gone already (a removal killed half-way): its names go now.
            Err(StoreError::NoImage(_)) => {}
            Err(err) => return Err(err.into()),
        }
        let _ = std::fs::remove_file(local.config_file(&hex));
        report.push(format!("deleted sha256:{hex}"));
    }
    local.update(&run, |refs| {
        for r in &untag {
            refs.remove(r);
        }
    })?;
    Ok(deleted(&layers, &report))
}

fn deleted(layers: &[String], report: &[String]) -> Vec<String> {
    let mut lines = report.to_vec();
    lines.extend(layers.iter().map(|d| format!("deleted layer {}", &d[..12])));
    lines
}

/// `inspect`: Docker's fields that a pull knows, and the config whole.
pub fn inspect(state_dir: &std::path::Path, name: &str) -> Result<serde_json::Value> {
    let local = Local::new(state_dir);
    let found = find(state_dir, name)?.ok_or_else(|| RegistryError::NotPulled(name.into()))?;
    let layers = Store::new(state_dir).image(found.store_name())?.layers;
    let Found::Pulled(hex) = found else {
        return Ok(serde_json::json!({ "Name": name, "Layers": layers }));
    };
    let references = local.references()?;
    let mine = references.iter().filter(|(_, e)| e.id.ends_with(&hex));
    let tags: Vec<&String> = mine.clone().map(|(r, _)| r).collect();
    let digests: Vec<String> = mine
        .filter_map(|(r, e)| {
            Some(format!(
                "{}@{}",
                ImageRef::parse(r).ok()?.short_name(),
                e.digest
            ))
        })
        .collect();
    let config = std::fs::read(local.config_file(&hex))
        .map_err(crate::error::io("reading", &local.config_file(&hex)))?;
    let config: serde_json::Value = serde_json::from_slice(&config).unwrap_or_default();
    Ok(serde_json::json!({
        "Id": format!("sha256:{hex}"),
        "RepoTags": tags,
        "RepoDigests": digests,
        "Layers": layers.iter().map(|d| format!("sha256:{d}")).collect::<Vec<_>>(),
        "Config": config,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_times_count_from_1970() {
        assert_eq!(rfc3339_seconds("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(rfc3339_seconds("2000-03-01T00:00:00Z"), Some(951_868_800));
        assert_eq!(
            rfc3339_seconds("2024-02-29T12:30:15.123456789Z"),
            Some(1_709_209_815)
        );
        assert_eq!(rfc3339_seconds("yesterday"), None);
    }

    #[test]
    fn ages_read_as_docker_prints_them() {
        let at = |s| std::time::UNIX_EPOCH + std::time::Duration::from_secs(s);
        assert_eq!(ago("1970-01-01T00:00:00Z", at(5)), "5 seconds ago");
        assert_eq!(ago("1970-01-01T00:00:00Z", at(3 * 3600)), "3 hours ago");
        assert_eq!(ago("1970-01-01T00:00:00Z", at(3 * 86_400)), "3 days ago");
    }
}
