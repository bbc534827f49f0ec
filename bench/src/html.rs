//! The self-contained HTML report: the paired score differences over all scenarios as a
//! dot-and-whisker chart (95 % intervals), then one section per scenario with the medians
//! and intervals of its repeats, its paired differences, a table of every run, a throughput
//! chart overlaying every healer mode, and per run a latency-percentile chart (log scale)
//! and a throughput chart (repeats after the first folded away). Stalled bins are shaded red, fault windows orange
//! (instantaneous faults as a line), phases separated by dashed lines, healer actions marked
//! with purple triangles. Inline SVG and CSS only: no scripts, no external files.

use std::fmt::Write;

use crate::report::{Report, RunReport, ScenarioReport};
use crate::stats::Estimate;

const WIDTH: f64 = 1280.0;
const LEFT: f64 = 70.0;
const RIGHT: f64 = 20.0;
const TOP: f64 = 26.0;
const BOTTOM: f64 = 34.0;

fn esc(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

struct Frame {
    height: f64,
    x_max: f64,
    y_min: f64,
    y_max: f64,
    log: bool,
}

impl Frame {
    fn x(&self, t: f64) -> f64 {
        LEFT + (t / self.x_max).clamp(0.0, 1.0) * (WIDTH - LEFT - RIGHT)
    }

    fn y(&self, v: f64) -> f64 {
        let plot = self.height - TOP - BOTTOM;
        let f = if self.log {
            (v.max(self.y_min).ln() - self.y_min.ln()) / (self.y_max.ln() - self.y_min.ln())
        } else {
            (v - self.y_min) / (self.y_max - self.y_min)
        };
        TOP + plot * (1.0 - f.clamp(0.0, 1.0))
    }

    fn bottom(&self) -> f64 {
        self.height - BOTTOM
    }
}

fn nice_step(max: f64) -> f64 {
    let raw = (max / 5.0).max(1e-9);
    let magnitude = 10f64.powf(raw.log10().floor());
    [1.0, 2.0, 2.5, 5.0, 10.0]
        .iter()
        .map(|m| m * magnitude)
        .find(|s| *s >= raw)
        .unwrap_or(10.0 * magnitude)
}

fn us_label(us: f64) -> String {
    if us >= 1e6 {
        format!("{:.0} s", us / 1e6)
    } else if us >= 1e3 {
        format!("{:.0} ms", us / 1e3)
    } else {
        format!("{us:.0} µs")
    }
}

fn count_label(v: f64) -> String {
    if v >= 1e6 {
        format!("{:.1}M", v / 1e6)
    } else if v >= 1e3 {
        format!("{:.0}k", v / 1e3)
    } else {
        format!("{v:.0}")
    }
}

fn axes(svg: &mut String, f: &Frame, y_label: &str) {
    let _ = write!(
        svg,
        r##"<rect x="{LEFT}" y="{TOP}" width="{}" height="{}" fill="none" stroke="#bbb"/>"##,
        WIDTH - LEFT - RIGHT,
        f.bottom() - TOP
    );
    if f.log {
        let mut v = 1.0;
        while v <= f.y_max * 1.0001 {
            if v >= f.y_min {
                let y = f.y(v);
                let _ = write!(
                    svg,
                    r##"<line x1="{LEFT}" x2="{}" y1="{y:.1}" y2="{y:.1}" stroke="#eee"/><text x="{}" y="{:.1}" class="tick" text-anchor="end">{}</text>"##,
                    WIDTH - RIGHT,
                    LEFT - 6.0,
                    y + 4.0,
                    us_label(v)
                );
            }
            v *= 10.0;
        }
    } else {
        let step = nice_step(f.y_max);
        let mut v = 0.0;
        while v <= f.y_max * 1.0001 {
            let y = f.y(v);
            let _ = write!(
                svg,
                r##"<line x1="{LEFT}" x2="{}" y1="{y:.1}" y2="{y:.1}" stroke="#eee"/><text x="{}" y="{:.1}" class="tick" text-anchor="end">{}</text>"##,
                WIDTH - RIGHT,
                LEFT - 6.0,
                y + 4.0,
                count_label(v)
            );
            v += step;
        }
    }
    let step = nice_step(f.x_max);
    let mut t = 0.0;
    while t <= f.x_max * 1.0001 {
        let x = f.x(t);
        let _ = write!(
            svg,
            r##"<line x1="{x:.1}" x2="{x:.1}" y1="{}" y2="{}" stroke="#bbb"/><text x="{x:.1}" y="{}" class="tick" text-anchor="middle">{t:.0} s</text>"##,
            f.bottom(),
            f.bottom() + 4.0,
            f.bottom() + 16.0
        );
        t += step;
    }
    let _ = write!(
        svg,
        r##"<text x="{LEFT}" y="{}" class="axis">{}</text>"##,
        TOP - 8.0,
        esc(y_label)
    );
}

/// Shading and marks shared by a run's charts: stalls, faults, phases, healer actions.
fn context(svg: &mut String, f: &Frame, run: &RunReport) {
    stalls(svg, f, run);
    faults(svg, f, run);
    phases(svg, f, run);
    healer_marks(svg, f, run);
}

/// Stalled bins, merged into runs, shaded red.
fn stalls(svg: &mut String, f: &Frame, run: &RunReport) {
    let t = &run.timeline;
    let mut i = 0;
    while i < t.stalled.len() {
        if t.stalled[i] {
            let start = t.t_s[i];
            let mut j = i;
            while j + 1 < t.stalled.len() && t.stalled[j + 1] {
                j += 1;
            }
            let end = t.t_s[j] + t.bin_s;
            let _ = write!(
                svg,
                r##"<rect x="{:.1}" y="{TOP}" width="{:.1}" height="{:.1}" fill="#e8505b" fill-opacity="0.16"><title>writes stalled {start:.1}–{end:.1} s</title></rect>"##,
                f.x(start),
                (f.x(end) - f.x(start)).max(1.0),
                f.bottom() - TOP
            );
            i = j + 1;
        } else {
            i += 1;
        }
    }
}

/// Fault windows shaded orange (an instantaneous corruption as a line), with recoveries.
fn faults(svg: &mut String, f: &Frame, run: &RunReport) {
    let t = &run.timeline;
    let run_end = t.t_s.last().map_or(0.0, |s| s + t.bin_s);
    for fault in &run.faults {
        let x0 = f.x(fault.start_s);
        let title = format!(
            "{}: {} (from {:.1} s)",
            fault.kind, fault.detail, fault.start_s
        );
        match fault.end_s {
            Some(end) => {
                let _ = write!(
                    svg,
                    r##"<rect x="{x0:.1}" y="{TOP}" width="{:.1}" height="{:.1}" fill="#f5a623" fill-opacity="0.14" stroke="#f5a623" stroke-opacity="0.6"><title>{}</title></rect>"##,
                    (f.x(end) - x0).max(1.0),
                    f.bottom() - TOP,
                    esc(&title)
                );
            }
            None if fault.kind == "sst_corruption" => {
                let _ = write!(
                    svg,
                    r##"<line x1="{x0:.1}" x2="{x0:.1}" y1="{TOP}" y2="{}" stroke="#f5a623" stroke-width="3"><title>{}</title></line>"##,
                    f.bottom(),
                    esc(&title)
                );
            }
            None => {
                let _ = write!(
                    svg,
                    r##"<rect x="{x0:.1}" y="{TOP}" width="{:.1}" height="{:.1}" fill="#f5a623" fill-opacity="0.14"><title>{}</title></rect>"##,
                    (f.x(run_end) - x0).max(1.0),
                    f.bottom() - TOP,
                    esc(&title)
                );
            }
        }
        let _ = write!(
            svg,
            r##"<text x="{:.1}" y="{}" class="fault">{}</text>"##,
            x0 + 3.0,
            TOP + 12.0,
            esc(fault.kind)
        );
        if let Some(recovered) = fault.recovered_s {
            let x = f.x(recovered);
            let _ = write!(
                svg,
                r##"<line x1="{x:.1}" x2="{x:.1}" y1="{TOP}" y2="{}" stroke="#2a9d4b" stroke-dasharray="2,3"><title>recovered at {recovered:.1} s</title></line>"##,
                f.bottom()
            );
        }
    }
}

/// Phase boundaries as dashed lines, with the phases' names where there is room.
fn phases(svg: &mut String, f: &Frame, run: &RunReport) {
    for phase in run.phases.iter().skip(1) {
        let x = f.x(phase.start_s);
        let _ = write!(
            svg,
            r##"<line x1="{x:.1}" x2="{x:.1}" y1="{TOP}" y2="{}" stroke="#888" stroke-dasharray="5,4"/>"##,
            f.bottom()
        );
    }
    let mut last_label_x = f64::NEG_INFINITY;
    for phase in &run.phases {
        let x = f.x(phase.start_s);
        if x - last_label_x < 110.0 {
            continue;
        }
        last_label_x = x;
        let _ = write!(
            svg,
            r##"<text x="{:.1}" y="{}" class="phase">{}{}</text>"##,
            f.x(phase.start_s) + 3.0,
            f.bottom() - 4.0,
            esc(&phase.name),
            if phase.warmup { " (warm-up)" } else { "" }
        );
    }
}

/// Healer actions (purple) and detections or advice not applied (gold) as triangles.
fn healer_marks(svg: &mut String, f: &Frame, run: &RunReport) {
    for entry in run.actions.iter().flatten() {
        let x = f.x(entry.at_s);
        let colour = if entry.what == "act" {
            "#7b3fb5"
        } else {
            "#b58f3f"
        };
        let _ = write!(
            svg,
            r##"<path d="M{:.1} {} l5 -9 l-10 0 z" fill="{colour}"><title>{:.1} s {}: {}</title></path>"##,
            x,
            TOP + 1.0,
            entry.at_s,
            entry.what,
            esc(&entry.detail)
        );
    }
}

#[allow(clippy::too_many_arguments)] // one call per series; a struct would only rename them
fn polyline(
    svg: &mut String,
    f: &Frame,
    xs: &[f64],
    ys: &[Option<f64>],
    colour: &str,
    width: f64,
    dash: &str,
    label: &str,
) {
    let mut path = String::new();
    let mut pen_down = false;
    for (x, y) in xs.iter().zip(ys) {
        match y {
            Some(v) if v.is_finite() => {
                let _ = write!(
                    path,
                    "{}{:.1} {:.1} ",
                    if pen_down { "L" } else { "M" },
                    f.x(*x),
                    f.y(*v)
                );
                pen_down = true;
            }
            _ => pen_down = false,
        }
    }
    if !path.is_empty() {
        let _ = write!(
            svg,
            r##"<path d="{path}" fill="none" stroke="{colour}" stroke-width="{width}" stroke-dasharray="{dash}"><title>{}</title></path>"##,
            esc(label)
        );
    }
}

fn legend(svg: &mut String, items: &[(&str, &str)], height: f64) {
    let mut x = LEFT + 200.0;
    for (label, colour) in items {
        let _ = write!(
            svg,
            r##"<rect x="{x:.0}" y="{}" width="14" height="4" fill="{colour}"/><text x="{:.0}" y="{}" class="tick">{}</text>"##,
            TOP - 14.0,
            x + 18.0,
            TOP - 9.0,
            esc(label)
        );
        x += 30.0 + label.len() as f64 * 6.5;
    }
    let _ = height;
}

const MODE_COLOURS: [(&str, &str); 3] = [
    ("off", "#444444"),
    ("rules", "#1f77b4"),
    ("learned", "#2ca02c"),
];

fn mode_colour(mode: &str) -> &'static str {
    MODE_COLOURS
        .iter()
        .find(|(m, _)| *m == mode)
        .map_or("#999", |(_, c)| c)
}

fn x_max(scenario: &ScenarioReport) -> f64 {
    scenario
        .runs
        .iter()
        .filter_map(|r| r.timeline.t_s.last().map(|t| t + r.timeline.bin_s))
        .fold(1.0, f64::max)
}

fn throughput_chart(scenario: &ScenarioReport, runs: &[&RunReport], title: &str) -> String {
    // Scale to the measured phases: a warm-up load at full speed would flatten the rest
    // (its line is clipped at the top instead).
    let measured_max = |r: &RunReport| {
        r.timeline
            .t_s
            .iter()
            .zip(&r.timeline.throughput)
            .filter(|(t, _)| {
                r.phases
                    .iter()
                    .any(|p| !p.warmup && **t >= p.start_s && **t < p.end_s)
            })
            .map(|(_, v)| *v)
            .fold(0.0, f64::max)
    };
    let y_max = runs.iter().map(|r| measured_max(r)).fold(1.0, f64::max) * 1.15;
    let f = Frame {
        height: 200.0,
        x_max: x_max(scenario),
        y_min: 0.0,
        y_max,
        log: false,
    };
    let mut svg = format!(
        r##"<svg viewBox="0 0 {WIDTH} {}" width="100%" xmlns="http://www.w3.org/2000/svg">"##,
        f.height
    );
    if runs.len() == 1 {
        context(&mut svg, &f, runs[0]);
    }
    axes(&mut svg, &f, title);
    let mut items = Vec::new();
    for run in runs {
        let ys: Vec<Option<f64>> = run.timeline.throughput.iter().map(|v| Some(*v)).collect();
        polyline(
            &mut svg,
            &f,
            &run.timeline.t_s,
            &ys,
            mode_colour(run.healer),
            1.6,
            "",
            &format!("{} ops/s", run.healer),
        );
        items.push((run.healer, mode_colour(run.healer)));
        if runs.len() == 1 && run.timeline.errors.iter().any(|e| *e > 0) {
            let errors: Vec<Option<f64>> = run
                .timeline
                .errors
                .iter()
                .map(|e| Some(*e as f64 / run.timeline.bin_s))
                .collect();
            polyline(
                &mut svg,
                &f,
                &run.timeline.t_s,
                &errors,
                "#d62728",
                1.4,
                "3,2",
                "failed ops/s",
            );
            items.push(("failed ops/s", "#d62728"));
        }
    }
    if items.len() > 1 {
        legend(&mut svg, &items, f.height);
    }
    svg.push_str("</svg>");
    svg
}

fn latency_chart(scenario: &ScenarioReport, run: &RunReport) -> String {
    let t = &run.timeline;
    // (label, values, colour, stroke width, dash pattern)
    type Series<'a> = (&'a str, &'a Vec<Option<f64>>, &'a str, f64, &'a str);
    let series: [Series<'_>; 7] = [
        ("write p50", &t.write_p50_us, "#f4a582", 1.2, ""),
        ("write p99", &t.write_p99_us, "#d6604d", 1.8, ""),
        ("write p99.9", &t.write_p999_us, "#67001f", 1.2, "4,3"),
        ("read p50", &t.read_p50_us, "#92c5de", 1.2, ""),
        ("read p99", &t.read_p99_us, "#2166ac", 1.8, ""),
        ("read p99.9", &t.read_p999_us, "#053061", 1.2, "4,3"),
        ("scan p99", &t.scan_p99_us, "#1b7837", 1.8, ""),
    ];
    let max = series
        .iter()
        .flat_map(|(_, s, ..)| s.iter().flatten().copied())
        .fold(10.0, f64::max);
    let y_max = 10f64.powf(max.log10().ceil());
    let f = Frame {
        height: 280.0,
        x_max: x_max(scenario),
        y_min: 1.0,
        y_max,
        log: true,
    };
    let mut svg = format!(
        r##"<svg viewBox="0 0 {WIDTH} {}" width="100%" xmlns="http://www.w3.org/2000/svg">"##,
        f.height
    );
    context(&mut svg, &f, run);
    axes(&mut svg, &f, "latency from intended start (log)");
    let mut items = Vec::new();
    for (label, values, colour, width, dash) in series {
        if values.iter().any(Option::is_some) {
            polyline(&mut svg, &f, &t.t_s, values, colour, width, dash, label);
            items.push((label, colour));
        }
    }
    legend(&mut svg, &items, f.height);
    svg.push_str("</svg>");
    svg
}

fn cell_us(v: Option<f64>) -> String {
    match v {
        None => "–".to_owned(),
        Some(us) if us >= 1000.0 => format!("{:.1} ms", us / 1000.0),
        Some(us) => format!("{us:.0} µs"),
    }
}

fn cell_s(v: Option<f64>) -> String {
    v.map_or("–".to_owned(), |s| format!("{s:.1} s"))
}

fn summary_table(scenario: &ScenarioReport) -> String {
    let mut html = String::from(
        "<table><tr><th>healer</th><th>repeat (seed)</th><th>ops/s</th><th>write p50 / p99 / p99.9</th><th>read p50 / p99 / p99.9</th><th>scan p99</th><th>stall s (ticker / wall)</th><th>errors (w / r)</th><th>faults: impact / detected / recovered</th><th>keys verified / lost / wrong</th></tr>",
    );
    for run in &scenario.runs {
        let faults = run
            .faults
            .iter()
            .map(|f| {
                format!(
                    "{} {} / {} / {}",
                    f.kind,
                    cell_s(f.impact_s),
                    cell_s(f.detected_s),
                    cell_s(f.recovered_s)
                )
            })
            .collect::<Vec<_>>()
            .join("<br>");
        let keys = match (run.keys_verified, run.keys_lost, run.wrong_values) {
            (Some(a), Some(b), Some(c)) => format!("{a} / {b} / {c}"),
            _ => "–".to_owned(),
        };
        let _ = write!(
            html,
            "<tr><td><b style=\"color:{}\">{}</b></td><td>{} ({})</td><td>{:.0}</td><td>{} / {} / {}</td><td>{} / {} / {}</td><td>{}</td><td>{:.2} / {:.1}</td><td>{} / {}</td><td>{}</td><td>{}</td></tr>",
            mode_colour(run.healer),
            run.healer,
            run.repeat + 1,
            run.seed,
            run.throughput_ops_per_s,
            cell_us(run.write_p50_us),
            cell_us(run.write_p99_us),
            cell_us(run.write_p999_us),
            cell_us(run.read_p50_us),
            cell_us(run.read_p99_us),
            cell_us(run.read_p999_us),
            cell_us(run.scan_p99_us),
            run.stall_seconds,
            run.stall_wall_seconds,
            run.write_errors,
            run.read_errors,
            if faults.is_empty() { "–".to_owned() } else { faults },
            keys
        );
    }
    html.push_str("</table>");
    for skipped in &scenario.skipped {
        let _ = write!(
            html,
            "<p class=\"note\">healer <b>{}</b> not run: {}</p>",
            skipped.healer,
            esc(&skipped.reason)
        );
    }
    html
}

/// One run's latency and throughput over time, with its fault details and warnings.
fn run_timelines(scenario: &ScenarioReport, run: &RunReport) -> String {
    let mut html = latency_chart(scenario, run);
    html.push_str(&throughput_chart(scenario, &[run], "ops/s"));
    for fault in &run.faults {
        let _ = write!(
            html,
            "<p class=\"note\">{} at {:.1} s: {}</p>",
            fault.kind,
            fault.start_s,
            esc(&fault.detail)
        );
    }
    for warning in &run.warnings {
        let _ = write!(html, "<p class=\"note\">warning: {}</p>", esc(warning));
    }
    html
}

/// Per mode: medians with 95 % intervals of the headline figures, and the paired score
/// differences as a whisker chart (only with several repeats).
fn repeats_section(scenario: &ScenarioReport) -> String {
    if scenario.seeds.len() < 2 {
        return String::new();
    }
    let mut html = format!(
        "<h3>{} repeats per mode: medians [95 % CI]</h3><table><tr><th>healer</th><th>runs</th>",
        scenario.seeds.len()
    );
    const SHOWN: &[(&str, &str)] = &[
        ("throughput_ops_per_s", "ops/s"),
        ("worst_p99_us", "worst p99"),
        ("write_p999_us", "write p99.9"),
        ("read_p999_us", "read p99.9"),
        ("scan_p999_us", "scan p99.9"),
        ("stall_seconds", "stall s"),
        ("resource_units_mean", "resources"),
        ("keys_lost", "keys lost"),
        ("wrong_values", "wrong values"),
    ];
    for (_, title) in SHOWN {
        let _ = write!(html, "<th>{title}</th>");
    }
    html.push_str("</tr>");
    for (mode, summary) in &scenario.summary {
        let _ = write!(
            html,
            "<tr><td><b style=\"color:{}\">{}</b></td><td>{}</td>",
            mode_colour(mode),
            esc(mode),
            summary.runs
        );
        for (name, _) in SHOWN {
            let cell = summary.figures.get(name).map_or("–".to_owned(), |f| {
                let v = |x: f64| {
                    if name.ends_with("_us") {
                        cell_us(Some(x))
                    } else if *name == "throughput_ops_per_s" {
                        format!("{x:.0}")
                    } else {
                        format!("{x:.2}")
                    }
                };
                f.display(v)
            });
            let _ = write!(html, "<td>{cell}</td>");
        }
        html.push_str("</tr>");
    }
    html.push_str("</table>");
    let rows: Vec<(String, Option<Estimate>)> = scenario
        .paired
        .iter()
        .map(|p| {
            (
                format!("S({}) − S({})", p.healer, p.reference),
                p.difference,
            )
        })
        .collect();
    if !rows.is_empty() {
        html.push_str("<h3>paired score differences (mean, 95 % CI; right of 0 = better)</h3>");
        html.push_str(&whisker_chart(&rows));
    }
    html
}

/// Dot-and-whisker chart: one row per label, the estimate as a dot, its 95 % interval as a
/// line, and zero marked (a whisker clear of zero is a difference at 95 % confidence).
fn whisker_chart(rows: &[(String, Option<Estimate>)]) -> String {
    let (label_w, plot_w, row_h) = (300.0, 560.0, 26.0);
    let height = 30.0 + row_h * rows.len() as f64;
    let span = rows
        .iter()
        .filter_map(|(_, e)| e.as_ref())
        .flat_map(|e| {
            let [low, high] = e.ci95.unwrap_or([e.value; 2]);
            [low.abs(), high.abs(), e.value.abs()]
        })
        .fold(0.1f64, f64::max)
        * 1.1;
    let x = |v: f64| label_w + (v + span) / (2.0 * span) * plot_w;
    let mut svg = format!(
        "<svg width=\"{}\" height=\"{height}\" role=\"img\">",
        label_w + plot_w + 20.0
    );
    let _ = write!(
        svg,
        "<line x1=\"{0}\" x2=\"{0}\" y1=\"4\" y2=\"{1}\" stroke=\"#888\" stroke-dasharray=\"3,3\"/><text class=\"tick\" x=\"{2}\" y=\"{3}\">{4:+.2}</text><text class=\"tick\" x=\"{0}\" y=\"{3}\" text-anchor=\"middle\">0</text><text class=\"tick\" x=\"{5}\" y=\"{3}\" text-anchor=\"end\">{6:+.2}</text>",
        x(0.0),
        height - 18.0,
        label_w,
        height - 4.0,
        -span,
        label_w + plot_w,
        span
    );
    for (i, (label, estimate)) in rows.iter().enumerate() {
        let y = 16.0 + row_h * i as f64;
        let _ = write!(
            svg,
            "<text class=\"axis\" x=\"{}\" y=\"{}\" text-anchor=\"end\">{}</text>",
            label_w - 8.0,
            y + 4.0,
            esc(label)
        );
        let Some(e) = estimate else { continue };
        let colour = if e.above_zero() {
            "#2a9d4b"
        } else if e.below_zero() {
            "#e8505b"
        } else {
            "#555"
        };
        let title = match e.ci95 {
            Some([low, high]) => format!("{:+.3} [{low:+.3}, {high:+.3}], n = {}", e.value, e.n),
            None => format!("{:+.3}, n = {} (no interval)", e.value, e.n),
        };
        if let Some([low, high]) = e.ci95 {
            let _ = write!(
                svg,
                "<line x1=\"{:.1}\" x2=\"{:.1}\" y1=\"{y}\" y2=\"{y}\" stroke=\"{colour}\" stroke-width=\"2\"/>",
                x(low),
                x(high)
            );
        }
        let _ = write!(
            svg,
            "<circle cx=\"{:.1}\" cy=\"{y}\" r=\"4\" fill=\"{colour}\"><title>{title}</title></circle>",
            x(e.value)
        );
    }
    svg.push_str("</svg>");
    svg
}

/// The whole report as one HTML document.
pub fn render(report: &Report) -> String {
    let mut html = String::from(
        r#"<!DOCTYPE html><html><head><meta charset="utf-8"><title>lsmedic-bench report</title><style>
body{font:14px/1.4 -apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:24px;color:#222;max-width:1340px}
h1{font-size:22px}h2{font-size:18px;margin-top:36px;border-bottom:1px solid #ddd}h3{font-size:15px;margin:14px 0 2px}
table{border-collapse:collapse;margin:8px 0}td,th{border:1px solid #ddd;padding:3px 8px;text-align:right;font-size:13px}th{background:#f6f6f6}
td:first-child,th:first-child{text-align:left}.note{color:#777}.desc{color:#444}
svg text{font-family:inherit}.tick{font-size:11px;fill:#555}.axis{font-size:12px;fill:#333}.fault{font-size:11px;fill:#b9770e;font-weight:bold}.phase{font-size:11px;fill:#777}
.key span{display:inline-block;margin-right:16px}.sw{display:inline-block;width:14px;height:10px;margin-right:4px;vertical-align:middle}
</style></head><body><h1>lsmedic-bench report</h1>"#,
    );
    let _ = write!(
        html,
        "<p class=\"desc\">{} scenario(s), time scale {}. Latency is measured from each op's intended start (open loop: queueing behind a stall counts). <span class=\"key\"><span><i class=\"sw\" style=\"background:#e8505b44\"></i>writes stalled</span><span><i class=\"sw\" style=\"background:#f5a62355;border:1px solid #f5a623\"></i>fault window</span><span><i class=\"sw\" style=\"background:#7b3fb5\"></i>healer action</span><span><i class=\"sw\" style=\"background:#b58f3f\"></i>healer detection or advice (not applied)</span><span><i class=\"sw\" style=\"border-left:2px dashed #2a9d4b\"></i>recovered</span><span><i class=\"sw\" style=\"border-left:2px dashed #888\"></i>phase boundary</span></span></p>",
        report.scenarios.len(),
        report.time_scale
    );
    if report.scenarios.len() > 1 && !report.paired.is_empty() {
        let label = |p: &crate::compare::AggregatePaired, group: &str| {
            (
                format!(
                    "{group}S({}) − S({}) ({} scen.)",
                    p.healer, p.reference, p.scenarios
                ),
                p.difference,
            )
        };
        let mut rows: Vec<(String, Option<Estimate>)> =
            report.paired.iter().map(|p| label(p, "")).collect();
        if report.paired_by_family.len() > 1 {
            for (family, pairs) in &report.paired_by_family {
                let group = format!("{}: ", family.name());
                rows.extend(pairs.iter().map(|p| label(p, &group)));
            }
        }
        html.push_str("<h2>all scenarios: paired score differences</h2><p class=\"desc\">Mean over scenarios of each scenario's mean paired difference, with the 95 % Student-t interval over the scenarios (it counts how much the effect varies between scenarios as well as each one's run-to-run noise); right of 0 = better.</p>");
        html.push_str(&whisker_chart(&rows));
    }
    for scenario in &report.scenarios {
        let _ = write!(
            html,
            "<h2>{}</h2><p class=\"desc\">{} (seed {}, {} family)</p>",
            esc(&scenario.name),
            esc(&scenario.description),
            scenario.seed,
            scenario.family.name()
        );
        html.push_str(&repeats_section(scenario));
        html.push_str(&summary_table(scenario));
        let first: Vec<&RunReport> = scenario.first_repeat().collect();
        if first.len() > 1 {
            html.push_str("<h3>throughput, every mode (first repeat)</h3>");
            html.push_str(&throughput_chart(scenario, &first, "ops/s"));
        }
        for run in &scenario.runs {
            let timelines = run_timelines(scenario, run);
            if run.repeat == 0 {
                let _ = write!(html, "<h3>healer {}</h3>{timelines}", run.healer);
            } else {
                let _ = write!(
                    html,
                    "<details><summary>healer {}, repeat {} (seed {})</summary>{timelines}</details>",
                    run.healer,
                    run.repeat + 1,
                    run.seed
                );
            }
        }
    }
    html.push_str("</body></html>\n");
    html
}
