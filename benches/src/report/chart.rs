//! The comparison chart: one horizontal bar per load row, calls/s on the left and p99 latency
//! on the right, both on log scales (the measured targets span three orders of magnitude).
//!
//! Drawn with plotters' bitmap backend and ab_glyph text, from a TrueType font read at run
//! time (DejaVu Sans from Debian's fonts-dejavu-core by default), so no font library is linked.

use std::path::Path;

use anyhow::{Context as _, anyhow};
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use crate::load::Report;

/// Where the font is looked for, first match wins.
pub const FONT_PATHS: &[&str] = &[
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/TTF/DejaVuSans.ttf",
    "/usr/share/fonts/dejavu/DejaVuSans.ttf",
];

const FAMILY: &str = "sans-serif";

/// Registers the first font found in `FONT_PATHS` (or `font`) as the chart's font.
pub fn load_font(font: Option<&Path>) -> anyhow::Result<()> {
    let path = match font {
        Some(p) => p.to_path_buf(),
        None => FONT_PATHS
            .iter()
            .map(Path::new)
            .find(|p| p.exists())
            .map(Path::to_path_buf)
            .ok_or_else(|| {
                anyhow!("no TrueType font found (apt-get install fonts-dejavu-core, or --font)")
            })?,
    };
    let bytes = std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
    // plotters keeps fonts for the life of the process.
    let bytes: &'static [u8] = Box::leak(bytes.into_boxed_slice());
    plotters::style::register_font(FAMILY, FontStyle::Normal, bytes)
        .map_err(|_| anyhow!("{} is not a usable TrueType font", path.display()))
}

fn color(label: &str) -> RGBColor {
    match label.rsplit('/').next().unwrap_or(label) {
        "smcp" => RGBColor(31, 119, 180),
        "smcp-oidc" => RGBColor(23, 190, 207),
        "smcp-governed" => RGBColor(148, 103, 189),
        "supergateway" => RGBColor(255, 127, 14),
        "mcp-proxy" => RGBColor(214, 39, 40),
        "nginx" => RGBColor(44, 160, 44),
        _ => RGBColor(127, 127, 127),
    }
}

/// A log-scale range around `values` with some room for the value labels.
fn range(values: impl Iterator<Item = f64>) -> (f64, f64) {
    let (mut lo, mut hi) = (f64::MAX, f64::MIN);
    for v in values.filter(|v| *v > 0.0) {
        lo = lo.min(v);
        hi = hi.max(v);
    }
    if lo > hi {
        return (1.0, 10.0);
    }
    let lo = 10f64.powf((lo / 2.0).log10().floor());
    let hi = 10f64.powf((hi * 8.0).log10().ceil());
    (lo, hi)
}

/// Draws one panel: a bar per run, `value` of each, labelled with `text`.
fn panel(
    area: &DrawingArea<BitMapBackend<'_>, Shift>,
    runs: &[&Report],
    title: &str,
    value: impl Fn(&Report) -> f64,
    text: impl Fn(&Report) -> String,
    y_labels: bool,
) -> anyhow::Result<()> {
    let n = runs.len();
    let (lo, hi) = range(runs.iter().map(|r| value(r)));
    let mut chart = ChartBuilder::on(area)
        .caption(title, (FAMILY, 22))
        .margin(12)
        .x_label_area_size(36)
        .y_label_area_size(if y_labels { 230 } else { 8 })
        .build_cartesian_2d((lo..hi).log_scale(), (0..n).into_segmented())
        .map_err(|e| anyhow!("chart: {e}"))?;
    let names: Vec<String> = runs.iter().rev().map(|r| r.label.clone()).collect();
    chart
        .configure_mesh()
        .disable_y_mesh()
        .y_labels(n)
        .y_label_formatter(&|v| match v {
            SegmentValue::CenterOf(i) if y_labels => names.get(*i).cloned().unwrap_or_default(),
            _ => String::new(),
        })
        .x_label_formatter(&|v| {
            if *v >= 1_000_000.0 {
                format!("{:.0}M", v / 1_000_000.0)
            } else if *v >= 1000.0 {
                format!("{:.0}k", v / 1000.0)
            } else if *v >= 1.0 {
                format!("{v:.0}")
            } else {
                format!("{v}")
            }
        })
        .label_style((FAMILY, 15))
        .draw()
        .map_err(|e| anyhow!("chart mesh: {e}"))?;
    let bars = runs.iter().rev().enumerate().map(|(i, r)| {
        let v = value(r).max(lo);
        let mut bar = Rectangle::new(
            [
                (lo, SegmentValue::Exact(i)),
                (v, SegmentValue::Exact(i + 1)),
            ],
            color(&r.label).filled(),
        );
        bar.set_margin(3, 3, 0, 0);
        bar
    });
    chart
        .draw_series(bars)
        .map_err(|e| anyhow!("chart bars: {e}"))?;
    let style = TextStyle::from((FAMILY, 14).into_font()).pos(Pos::new(HPos::Left, VPos::Center));
    let labels = runs.iter().rev().enumerate().map(|(i, r)| {
        Text::new(
            format!(" {}", text(r)),
            (value(r).max(lo), SegmentValue::CenterOf(i)),
            style.clone(),
        )
    });
    chart
        .draw_series(labels)
        .map_err(|e| anyhow!("chart labels: {e}"))?;
    Ok(())
}

/// Writes the PNG for `runs` (in display order, top to bottom).
pub fn draw(path: &Path, runs: &[&Report], subtitle: &str) -> anyhow::Result<()> {
    let height = (140 + runs.len() * 28).max(300) as u32;
    let root = BitMapBackend::new(path, (1500, height)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| anyhow!("chart: {e}"))?;
    let (top, body) = root.split_vertically(36);
    top.draw(&Text::new(
        subtitle.to_owned(),
        (12, 8),
        (FAMILY, 18).into_font(),
    ))
    .map_err(|e| anyhow!("chart title: {e}"))?;
    let (left, right) = body.split_horizontally(860);
    panel(
        &left,
        runs,
        "tools/call per second (log scale, higher is better)",
        |r| r.calls_per_s,
        |r| format!("{:.0}", r.calls_per_s),
        true,
    )?;
    panel(
        &right,
        runs,
        "p99 latency, ms (log scale, lower is better)",
        |r| r.p99_us / 1000.0,
        |r| format!("{:.2}", r.p99_us / 1000.0),
        false,
    )?;
    root.present()
        .map_err(|e| anyhow!("writing {}: {e}", path.display()))?;
    Ok(())
}
