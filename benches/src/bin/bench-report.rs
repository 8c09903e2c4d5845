//! `bench-report`: writes `docs/benchmarks.md` and its PNG chart from one comparison run
//! (see `smcp_benches::report`).

use std::path::PathBuf;

use clap::Parser;
use smcp_benches::report::{chart, markdown, model};

#[derive(Parser)]
#[command(about = "Writes the benchmark page and chart from one bench-compare run")]
struct Cli {
    /// JSON lines of smcp-load.
    #[arg(long)]
    results: PathBuf,
    /// The run's metadata (JSON written by run.sh).
    #[arg(long)]
    meta: PathBuf,
    /// criterion's output directory.
    #[arg(long, default_value = "target/criterion")]
    criterion: PathBuf,
    /// Hand-written analysis appended to the page.
    #[arg(long)]
    analysis: Option<PathBuf>,
    /// The page to write.
    #[arg(long, default_value = "docs/benchmarks.md")]
    out: PathBuf,
    /// The chart to write (linked from the page by file name).
    #[arg(long, default_value = "docs/benchmarks.png")]
    chart: PathBuf,
    /// A TrueType font for the chart (default: DejaVu Sans from the system).
    #[arg(long)]
    font: Option<PathBuf>,
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let inputs = model::Inputs {
        runs: model::read_runs(&cli.results)?,
        meta: model::read_meta(&cli.meta)?,
        criterion: model::read_criterion(&cli.criterion),
    };
    let analysis = match &cli.analysis {
        Some(path) if path.exists() => std::fs::read_to_string(path)?,
        _ => String::new(),
    };
    chart::load_font(cli.font.as_deref())?;
    let runs: Vec<_> = inputs.runs.iter().collect();
    let subtitle = format!(
        "smcp vs supergateway, mcp-proxy, nginx: one run of benches/compare/run.sh ({})",
        inputs.meta.date
    );
    chart::draw(&cli.chart, &runs, &subtitle)?;
    let chart_file = cli
        .chart
        .file_name()
        .map_or("benchmarks.png".into(), |n| n.to_string_lossy());
    let page = markdown::render(&inputs, &chart_file, &analysis);
    std::fs::write(&cli.out, page)?;
    eprintln!("wrote {} and {}", cli.out.display(), cli.chart.display());
    Ok(())
}
