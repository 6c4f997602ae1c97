//! SVG line charts of a benchmark's results, written to `docs/charts/` by a full run (not a
//! quick one) so that README.md and docs/benchmarks.md show the numbers of the same run.

use plotters::coord::Shift;
use plotters::coord::ranged1d::ValueFormatter;
use plotters::prelude::*;

/// One line: a name for the legend and its points.
pub struct Series {
    pub name: String,
    pub points: Vec<(f64, f64)>,
}

/// One chart of a figure.
pub struct Panel {
    pub title: String,
    pub x_label: &'static str,
    pub y_label: &'static str,
    pub log_x: bool,
    pub log_y: bool,
    pub series: Vec<Series>,
}

/// softview's line first and thicker, the comparisons after it.
const COLOURS: [RGBColor; 5] = [
    RGBColor(0xd6, 0x3a, 0x1f),
    RGBColor(0x2a, 0x6f, 0xb0),
    RGBColor(0x6a, 0x6a, 0x6a),
    RGBColor(0x2e, 0x8b, 0x57),
    RGBColor(0x8e, 0x44, 0xad),
];

type ChartResult = Result<(), Box<dyn std::error::Error>>;

/// Writes `panels` side by side (`columns` a row) under `title` to `docs/charts/<name>.svg`.
pub fn write(name: &str, title: &str, columns: usize, panels: &[Panel]) -> ChartResult {
    let path = format!("{}/docs/charts/{name}.svg", env!("CARGO_MANIFEST_DIR"));
    let rows = panels.len().div_ceil(columns);
    let size = ((460 * columns as u32).max(720), 40 + 340 * rows as u32);
    let root = SVGBackend::new(&path, size).into_drawing_area();
    root.fill(&WHITE)?;
    let root = root.titled(title, ("sans-serif", 20))?;
    for (area, panel) in root.split_evenly((rows, columns)).iter().zip(panels) {
        draw(area, panel)?;
    }
    root.present()?;
    println!("wrote {path}");
    Ok(())
}

fn bounds(values: impl Iterator<Item = f64> + Clone, log: bool) -> std::ops::Range<f64> {
    let low = values.clone().fold(f64::INFINITY, f64::min);
    let high = values.fold(f64::NEG_INFINITY, f64::max);
    if log {
        (low / 1.5)..(high * 1.5)
    } else {
        0.0..(high * 1.1).max(f64::MIN_POSITIVE)
    }
}

fn draw(area: &DrawingArea<SVGBackend<'_>, Shift>, panel: &Panel) -> ChartResult {
    let points = || panel.series.iter().flat_map(|s| s.points.iter());
    let x = bounds(points().map(|p| p.0), panel.log_x);
    let y = bounds(points().map(|p| p.1), panel.log_y);
    let mut builder = ChartBuilder::on(area);
    builder
        .caption(&panel.title, ("sans-serif", 15))
        .margin(12)
        .x_label_area_size(38)
        .y_label_area_size(58);
    match (panel.log_x, panel.log_y) {
        (false, false) => plot(builder.build_cartesian_2d(x, y)?, panel),
        (true, false) => plot(builder.build_cartesian_2d(x.log_scale(), y)?, panel),
        (false, true) => plot(builder.build_cartesian_2d(x, y.log_scale())?, panel),
        (true, true) => plot(
            builder.build_cartesian_2d(x.log_scale(), y.log_scale())?,
            panel,
        ),
    }
}

fn plot<'a, X, Y>(
    mut chart: ChartContext<'a, SVGBackend<'a>, Cartesian2d<X, Y>>,
    panel: &Panel,
) -> ChartResult
where
    X: Ranged<ValueType = f64> + ValueFormatter<f64>,
    Y: Ranged<ValueType = f64> + ValueFormatter<f64>,
{
    chart
        .configure_mesh()
        .x_desc(panel.x_label)
        .y_desc(panel.y_label)
        .x_label_formatter(&|v| short(*v))
        .y_label_formatter(&|v| short(*v))
        .light_line_style(WHITE.mix(0.0))
        .draw()?;
    for (i, series) in panel.series.iter().enumerate() {
        let colour = COLOURS[i % COLOURS.len()];
        let style = colour.stroke_width(if i == 0 { 3 } else { 2 });
        chart
            .draw_series(LineSeries::new(series.points.iter().copied(), style))?
            .label(series.name.as_str())
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], style));
        chart.draw_series(
            series
                .points
                .iter()
                .map(|&p| Circle::new(p, 3, colour.filled())),
        )?;
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK.mix(0.3))
        .label_font(("sans-serif", 12))
        .draw()?;
    Ok(())
}

/// 0.25, 3, 1.5k, 2M: ticks that fit.
fn short(v: f64) -> String {
    let a = v.abs();
    if a >= 1e6 {
        format!("{}M", trim(v / 1e6))
    } else if a >= 1e3 {
        format!("{}k", trim(v / 1e3))
    } else {
        trim(v)
    }
}

fn trim(v: f64) -> String {
    let text = format!("{v:.2}");
    text.trim_end_matches('0').trim_end_matches('.').to_owned()
}
