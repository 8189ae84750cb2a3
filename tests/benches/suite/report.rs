//! What a run measured: rows grouped in sections, each a figure with (where it has one) its
//! ratio to a baseline of the same run and the target for it; printed as a table
//! and written as one JSON object for comparing commits.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde_json::{Map, Value, json};

use crate::stats::{Stats, us};

/// One figure.
#[derive(Debug, Clone)]
pub enum Measure {
    /// Latency samples (p50 and p99 shown).
    Latency(Stats),
    /// Things per second (`n` of them counted).
    Rate { per_s: f64, n: usize },
    /// One elapsed time.
    Time(Duration),
    /// Bytes (per something the label says).
    Bytes(f64),
    /// A plain number.
    Count(f64),
}

impl Measure {
    /// The number ratios and targets compare: p50 µs, per second, ms, bytes or the count.
    pub fn value(&self) -> f64 {
        match self {
            Self::Latency(s) => us(s.p50()),
            Self::Rate { per_s, .. } => *per_s,
            Self::Time(d) => d.as_secs_f64() * 1e3,
            Self::Bytes(b) | Self::Count(b) => *b,
        }
    }

    fn shown(&self) -> String {
        match self {
            Self::Latency(s) => format!(
                "p50 {:>9.1} µs  p99 {:>9.1} µs  (n {})",
                us(s.p50()),
                us(s.p99()),
                s.len()
            ),
            Self::Rate { per_s, n } => format!("{per_s:>10.0} /s  (n {n})"),
            Self::Time(d) => format!("{:>10.1} ms", d.as_secs_f64() * 1e3),
            Self::Bytes(b) if *b >= 10_240.0 => format!("{:>10.1} KiB", b / 1024.0),
            Self::Bytes(b) => format!("{b:>10.0} B"),
            Self::Count(c) => format!("{c:>10.1}"),
        }
    }

    fn json(&self) -> Value {
        match self {
            Self::Latency(s) => json!({
                "n": s.len(), "p50_us": us(s.p50()), "p99_us": us(s.p99()),
            }),
            Self::Rate { per_s, n } => json!({ "per_s": per_s, "n": n }),
            Self::Time(d) => json!({ "ms": d.as_secs_f64() * 1e3 }),
            Self::Bytes(b) => json!({ "bytes": b }),
            Self::Count(c) => json!({ "count": c }),
        }
    }
}

/// A figure's ratio to a baseline measured in the same run.
#[derive(Debug, Clone)]
pub struct Versus {
    /// What it is compared with, e.g. "Noise one-way".
    pub baseline: String,
    pub ratio: f64,
}

/// The target for a figure, and whether this run met it.
#[derive(Debug, Clone)]
pub struct Goal {
    pub text: String,
    pub met: bool,
}

#[derive(Debug, Clone)]
pub struct Row {
    pub section: &'static str,
    /// Unique within its section; the JSON key.
    pub key: String,
    pub label: String,
    pub measure: Measure,
    pub versus: Option<Versus>,
    pub goal: Option<Goal>,
    pub note: Option<String>,
}

impl Row {
    pub fn new(section: &'static str, key: &str, label: &str, measure: Measure) -> Self {
        Self {
            section,
            key: key.to_owned(),
            label: label.to_owned(),
            measure,
            versus: None,
            goal: None,
            note: None,
        }
    }

    /// Compared with `baseline` (its value divided by the baseline's).
    pub fn versus(mut self, baseline: &str, base_value: f64) -> Self {
        if base_value > 0.0 {
            self.versus = Some(Versus {
                baseline: baseline.to_owned(),
                ratio: self.measure.value() / base_value,
            });
        }
        self
    }

    pub fn goal(mut self, text: &str, met: bool) -> Self {
        self.goal = Some(Goal {
            text: text.to_owned(),
            met,
        });
        self
    }

    pub fn note(mut self, note: impl Into<String>) -> Self {
        self.note = Some(note.into());
        self
    }
}

/// Every row of one run, in the order measured.
pub struct Report {
    pub rows: Vec<Row>,
    started: Instant,
}

impl Report {
    pub fn new() -> Self {
        Self {
            rows: Vec::new(),
            started: Instant::now(),
        }
    }

    pub fn add(&mut self, row: Row) {
        eprintln!("  {} / {}: {}", row.section, row.key, row.measure.shown());
        self.rows.push(row);
    }

    /// A row measured earlier in this run.
    pub fn get(&self, section: &str, key: &str) -> Option<&Measure> {
        let row = self
            .rows
            .iter()
            .find(|r| r.section == section && r.key == key);
        row.map(|r| &r.measure)
    }

    pub fn print(&self) {
        println!();
        println!(
            "natter benchmark suite ({} cores, 127.0.0.1; ratios are to baselines of this run)",
            cores()
        );
        let mut section = "";
        for row in &self.rows {
            if row.section != section {
                section = row.section;
                println!();
                println!("## {section}");
            }
            let mut line = format!("{:<46} {}", row.label, row.measure.shown());
            if let Some(v) = &row.versus {
                line += &format!("  = {:.2} × {}", v.ratio, v.baseline);
            }
            println!("{line}");
            if let Some(g) = &row.goal {
                let mark = if g.met { "met" } else { "NOT met" };
                println!("{:<46} target {}: {mark}", "", g.text);
            }
            if let Some(note) = &row.note {
                println!("{:<46} {note}", "");
            }
        }
        let goals: Vec<_> = self.rows.iter().filter_map(|r| r.goal.as_ref()).collect();
        let met = goals.iter().filter(|g| g.met).count();
        println!();
        println!(
            "targets met: {met} of {}; total {:.1} s",
            goals.len(),
            self.started.elapsed().as_secs_f64()
        );
    }

    pub fn to_json(&self) -> Value {
        let mut sections = Map::new();
        for row in &self.rows {
            let mut v = row.measure.json();
            v["label"] = json!(row.label);
            if let Some(versus) = &row.versus {
                v["versus"] = json!(versus.baseline);
                v["ratio"] = json!(versus.ratio);
            }
            if let Some(goal) = &row.goal {
                v["target"] = json!(goal.text);
                v["met"] = json!(goal.met);
            }
            if let Some(note) = &row.note {
                v["note"] = json!(note);
            }
            let section = sections
                .entry(row.section)
                .or_insert_with(|| Value::Object(Map::new()));
            section[&row.key] = v;
        }
        json!({
            "commit": git(&["rev-parse", "HEAD"]),
            "dirty": git(&["status", "--porcelain"]).map(|s| !s.is_empty()),
            "unix_time": std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0),
            "cores": cores(),
            "total_s": self.started.elapsed().as_secs_f64(),
            "sections": sections,
        })
    }

    /// Writes the JSON to `bench-suite.json` in the target directory; returns its path.
    pub fn write_json(&self) -> PathBuf {
        let path = target_dir().join("bench-suite.json");
        let text = serde_json::to_string_pretty(&self.to_json()).expect("json");
        std::fs::write(&path, text + "\n").expect("write the JSON report");
        path
    }
}

fn cores() -> usize {
    std::thread::available_parallelism()
        .map(usize::from)
        .unwrap_or(0)
}

/// `git args` in this checkout, trimmed; `None` when git is not there to ask.
fn git(args: &[&str]) -> Option<String> {
    let out = std::process::Command::new("git")
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

/// The target directory this bench was built in.
pub fn target_dir() -> PathBuf {
    // The bench runs as <target>/<profile>/deps/suite-<hash>.
    let exe = std::env::current_exe().expect("current exe");
    let target = exe.ancestors().nth(3).map(PathBuf::from);
    target.unwrap_or_else(|| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../target")))
}
