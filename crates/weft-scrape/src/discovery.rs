//! Service discovery: `static_configs` and `file_sd_configs`.
//!
//! File SD lists the configured patterns (a `*` glob in the last path element), reads JSON or
//! YAML target-group files, and re-reads a file when its modification time or size changes
//! (polled) and every file on `refresh_interval`. A file that cannot be read keeps the groups
//! it had, as Prometheus does; a file that disappears loses them.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::time::{Instant, SystemTime};

use serde::Deserialize;

use crate::config::{FileSd, JobConfig};
use crate::target::{TargetGroup, ADDRESS_LABEL, FILEPATH_LABEL};

/// The groups of a job's `static_configs`.
pub fn static_groups(job: &JobConfig) -> Vec<TargetGroup> {
    job.raw
        .static_configs
        .iter()
        .enumerate()
        .map(|(i, sc)| TargetGroup {
            source: format!("static/{i}"),
            targets: sc
                .targets
                .iter()
                .map(|t| BTreeMap::from([(ADDRESS_LABEL.to_string(), t.clone())]))
                .collect(),
            labels: sc.labels.clone(),
        })
        .collect()
}

/// A target group as written in a YAML file SD file (strict, as Prometheus' YAML reading).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileGroup {
    #[serde(default)]
    targets: Vec<String>,
    #[serde(default)]
    labels: BTreeMap<String, String>,
}

/// The JSON form, which Prometheus reads leniently (unknown keys ignored).
#[derive(Deserialize)]
struct JsonFileGroup {
    #[serde(default)]
    targets: Vec<String>,
    #[serde(default)]
    labels: BTreeMap<String, String>,
}

/// Reads one file SD file into groups (`__meta_filepath` set, source `path:index`).
pub fn read_group_file(path: &Path) -> Result<Vec<TargetGroup>, String> {
    let content = std::fs::read(path).map_err(|e| format!("reading {}: {e}", path.display()))?;
    let is_json = path
        .extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| e.eq_ignore_ascii_case("json"));
    let groups: Vec<FileGroup> = if is_json {
        let groups: Vec<JsonFileGroup> =
            serde_json::from_slice(&content).map_err(|e| format!("{}: {e}", path.display()))?;
        groups
            .into_iter()
            .map(|g| FileGroup {
                targets: g.targets,
                labels: g.labels,
            })
            .collect()
    } else if content.iter().all(|b| b.is_ascii_whitespace()) {
        // An empty YAML document is an empty list, not an error.
        Vec::new()
    } else {
        serde_yaml::from_slice(&content).map_err(|e| format!("{}: {e}", path.display()))?
    };
    let file = path.to_string_lossy().into_owned();
    let mut out = Vec::with_capacity(groups.len());
    for (i, g) in groups.into_iter().enumerate() {
        if let Some(name) = g.labels.keys().find(|n| n.is_empty()) {
            return Err(format!("{file}: invalid label name {name:?}"));
        }
        let mut labels = g.labels;
        labels.insert(FILEPATH_LABEL.to_string(), file.clone());
        out.push(TargetGroup {
            source: format!("{file}:{i}"),
            targets: g
                .targets
                .into_iter()
                .map(|t| BTreeMap::from([(ADDRESS_LABEL.to_string(), t)]))
                .collect(),
            labels,
        });
    }
    Ok(out)
}

/// Matches `name` against a glob with `*` (any run), `?` (one char) and literal text.
fn glob_match(pattern: &str, name: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let n: Vec<char> = name.chars().collect();
    // Classic two-pointer wildcard match with backtracking to the last `*`.
    let (mut pi, mut ni) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ni < n.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == n[ni]) {
            pi += 1;
            ni += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some((pi, ni));
            pi += 1;
        } else if let Some((sp, sn)) = star {
            pi = sp + 1;
            ni = sn + 1;
            star = Some((sp, sn + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

/// The existing files matching the patterns, sorted and deduplicated.
pub fn list_files(patterns: &[String]) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for pat in patterns {
        let path = Path::new(pat);
        let Some(last) = path.file_name().and_then(|n| n.to_str()) else {
            continue;
        };
        if !last.contains('*') && !last.contains('?') {
            if path.is_file() {
                out.push(path.to_path_buf());
            }
            continue;
        }
        let dir = match path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for e in entries.flatten() {
            let name = e.file_name();
            if let Some(name) = name.to_str() {
                if glob_match(last, name) && e.path().is_file() {
                    out.push(dir.join(name));
                }
            }
        }
    }
    out.sort();
    out.dedup();
    out
}

/// What a file looked like when last read: modification time and size.
type Stamp = (Option<SystemTime>, u64);

/// One file SD config's state between polls.
pub struct FileSdState {
    cfg: FileSd,
    /// Per file: (mtime, size) when last read, and its groups.
    files: HashMap<PathBuf, (Stamp, Vec<TargetGroup>)>,
    last_full: Option<Instant>,
    /// The groups last returned, to report only changes.
    last_groups: Option<Vec<TargetGroup>>,
}

/// Outcome of one poll.
pub struct Refresh {
    /// The full set of groups, if it changed since the last poll.
    pub changed: Option<Vec<TargetGroup>>,
    /// Files that could not be read.
    pub errors: Vec<String>,
}

impl FileSdState {
    pub fn new(cfg: FileSd) -> Self {
        Self {
            cfg,
            files: HashMap::new(),
            last_full: None,
            last_groups: None,
        }
    }

    /// Re-reads changed files (all of them once per `refresh_interval`).
    pub fn refresh(&mut self) -> Refresh {
        let full = self
            .last_full
            .is_none_or(|t| t.elapsed() >= self.cfg.refresh_interval);
        if full {
            self.last_full = Some(Instant::now());
        }
        let mut errors = Vec::new();
        let mut next = HashMap::new();
        for path in list_files(&self.cfg.files) {
            let stamp = std::fs::metadata(&path)
                .map(|m| (m.modified().ok(), m.len()))
                .unwrap_or((None, 0));
            let old = self.files.remove(&path);
            let unchanged = old
                .as_ref()
                .is_some_and(|(s, _)| *s == stamp && stamp.0.is_some());
            let entry = match (unchanged && !full, old) {
                (true, Some(o)) => o,
                (_, old) => match read_group_file(&path) {
                    Ok(groups) => (stamp, groups),
                    Err(e) => {
                        errors.push(e);
                        // Keep what the file had until the file changes again.
                        let groups = old.map(|(_, g)| g).unwrap_or_default();
                        (stamp, groups)
                    }
                },
            };
            next.insert(path, entry);
        }
        self.files = next;
        let mut paths: Vec<&PathBuf> = self.files.keys().collect();
        paths.sort();
        let groups: Vec<TargetGroup> = paths
            .into_iter()
            .flat_map(|p| self.files[p].1.iter().cloned())
            .collect();
        let changed = if self.last_groups.as_ref() != Some(&groups) {
            self.last_groups = Some(groups.clone());
            Some(groups)
        } else {
            None
        };
        Refresh { changed, errors }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn glob() {
        assert!(glob_match("*.json", "a.json"));
        assert!(glob_match("t*s.yml", "targets.yml"));
        assert!(glob_match("a?.json", "ab.json"));
        assert!(!glob_match("*.json", "a.yaml"));
        assert!(!glob_match("a*b", "acbx"));
        assert!(glob_match("*", ""));
    }

    #[test]
    fn unchanged_stamp_waits_for_the_refresh_interval() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.yml");
        std::fs::write(&path, "- targets: ['aa:1']\n").unwrap();
        let mtime = std::fs::metadata(&path).unwrap().modified().unwrap();
        let mut st = FileSdState::new(FileSd {
            files: vec![path.display().to_string()],
            refresh_interval: std::time::Duration::from_millis(100),
        });
        assert!(st.refresh().changed.is_some());
        // Same size, same modification time: the poll does not notice…
        std::fs::write(&path, "- targets: ['bb:1']\n").unwrap();
        let f = std::fs::File::options().write(true).open(&path).unwrap();
        f.set_modified(mtime).unwrap();
        drop(f);
        assert!(st.refresh().changed.is_none());
        // …but the periodic full re-read does.
        std::thread::sleep(std::time::Duration::from_millis(120));
        let groups = st.refresh().changed.expect("full refresh re-reads");
        assert_eq!(groups[0].targets[0][ADDRESS_LABEL], "bb:1");
    }

    #[test]
    fn reads_json_and_yaml_and_tracks_changes() {
        let dir = tempfile::tempdir().unwrap();
        let json = dir.path().join("a.json");
        let yaml = dir.path().join("b.yml");
        std::fs::write(&json, r#"[{"targets":["h1:1"],"labels":{"env":"p"}}]"#).unwrap();
        std::fs::write(&yaml, "- targets: ['h2:2', 'h3:3']\n").unwrap();
        std::fs::write(dir.path().join("c.txt"), "ignored").unwrap();
        let mut st = FileSdState::new(FileSd {
            files: vec![
                format!("{}/*.json", dir.path().display()),
                yaml.display().to_string(),
            ],
            refresh_interval: std::time::Duration::from_secs(300),
        });
        let groups = st.refresh().changed.expect("first poll reports");
        assert_eq!(groups.len(), 2);
        assert_eq!(groups[0].labels["env"], "p");
        assert_eq!(groups[0].labels[FILEPATH_LABEL], json.display().to_string());
        assert_eq!(groups[1].targets.len(), 2);
        assert!(st.refresh().changed.is_none(), "no change, no report");

        // A broken file keeps its groups and reports an error.
        std::fs::write(&yaml, "- targets: [unclosed\n").unwrap();
        let r = st.refresh();
        assert_eq!(r.errors.len(), 1);
        assert!(r.changed.is_none());
        std::fs::remove_file(&json).unwrap();
        let groups = st.refresh().changed.expect("removal reports");
        assert_eq!(groups.len(), 1);
    }
}
