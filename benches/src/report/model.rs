//! The inputs of a report: load results, run metadata and criterion estimates.

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;

use anyhow::Context as _;
use serde::Deserialize;

use crate::load::Report;

/// Facts about the run, written by `run.sh` as JSON.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Meta {
    /// When the run started (UTC, ISO 8601).
    #[serde(default)]
    pub date: String,
    /// Machine facts, in display order (`[name, value]`).
    #[serde(default)]
    pub machine: Vec<(String, String)>,
    /// Versions of everything measured, in display order.
    #[serde(default)]
    pub versions: Vec<(String, String)>,
    /// The load settings (`duration`, `warmup`, ...), in display order.
    #[serde(default)]
    pub settings: Vec<(String, String)>,
    /// Wall time of the whole run, seconds.
    #[serde(default)]
    pub elapsed_s: Option<f64>,
    /// Rows the run could not measure, with the reason.
    #[serde(default)]
    pub skipped: Vec<(String, String)>,
    /// Every process the run started and every load it applied (`[name, command]`).
    #[serde(default)]
    pub commands: Vec<(String, String)>,
}

/// One criterion benchmark's estimate.
#[derive(Debug, Clone)]
pub struct Estimate {
    /// `group/function/parameter`.
    pub id: String,
    /// Mean time per iteration, nanoseconds.
    pub mean_ns: f64,
    /// Median time per iteration, nanoseconds.
    pub median_ns: f64,
    /// Bytes processed per iteration, when the bench declared it.
    pub bytes: Option<u64>,
}

/// Everything a report is made of.
#[derive(Debug, Clone, Default)]
pub struct Inputs {
    /// Load results by label (`group/target`), in run order.
    pub runs: Vec<Report>,
    /// The run's metadata.
    pub meta: Meta,
    /// Criterion estimates by id.
    pub criterion: BTreeMap<String, Estimate>,
}

impl Inputs {
    /// The run labelled `label`, if it was measured.
    pub fn run(&self, label: &str) -> Option<&Report> {
        self.runs.iter().find(|r| r.label == label)
    }

    /// The criterion estimate `id`, if present.
    pub fn estimate(&self, id: &str) -> Option<&Estimate> {
        self.criterion.get(id)
    }
}

/// Reads the JSON lines of `smcp-load` (other lines are ignored).
pub fn read_runs(path: &Path) -> anyhow::Result<Vec<Report>> {
    let text = fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    Ok(text
        .lines()
        .filter(|l| l.trim_start().starts_with('{'))
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect())
}

/// Reads the metadata file.
pub fn read_meta(path: &Path) -> anyhow::Result<Meta> {
    let text = fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    serde_json::from_str(&text).with_context(|| format!("parsing {}", path.display()))
}

#[derive(Deserialize)]
struct BenchmarkJson {
    full_id: String,
    /// `{"Bytes": n}`, `{"Elements": n}` or null.
    #[serde(default)]
    throughput: Option<serde_json::Value>,
}

#[derive(Deserialize)]
struct EstimatesJson {
    mean: PointEstimate,
    median: PointEstimate,
}

#[derive(Deserialize)]
struct PointEstimate {
    point_estimate: f64,
}

/// Reads every `*/new/{benchmark,estimates}.json` under criterion's output directory.
pub fn read_criterion(dir: &Path) -> BTreeMap<String, Estimate> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = fs::read_dir(&d) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if !path.is_dir() {
                continue;
            }
            if path.file_name().is_some_and(|n| n == "new") {
                if let Some(estimate) = read_estimate(&path) {
                    out.insert(estimate.id.clone(), estimate);
                }
            } else if path
                .file_name()
                .is_none_or(|n| n != "base" && n != "report")
            {
                stack.push(path);
            }
        }
    }
    out
}

fn read_estimate(dir: &Path) -> Option<Estimate> {
    let bench: BenchmarkJson =
        serde_json::from_str(&fs::read_to_string(dir.join("benchmark.json")).ok()?).ok()?;
    let est: EstimatesJson =
        serde_json::from_str(&fs::read_to_string(dir.join("estimates.json")).ok()?).ok()?;
    let bytes = bench
        .throughput
        .as_ref()
        .and_then(|t| t.get("Bytes").or_else(|| t.get("BytesDecimal")))
        .and_then(serde_json::Value::as_u64);
    Some(Estimate {
        id: bench.full_id,
        mean_ns: est.mean.point_estimate,
        median_ns: est.median.point_estimate,
        bytes,
    })
}
