//! Server-drawn SVG plots: a client's score trajectory per questionnaire,
//! with the instrument's severity bands shaded and dosing sessions marked on
//! the time axis. No script; the caption says in words what the plot shows.

use jiff::Timestamp;
use kairos_domain::instruments::Library;
use kairos_store::measures::Administration;
use std::fmt::Write;

pub struct Plot {
    pub svg: String,
    pub caption: String,
}

const W: f64 = 640.0;
const H: f64 = 220.0;
const LEFT: f64 = 40.0;
const RIGHT: f64 = 110.0;
const TOP: f64 = 12.0;
const BOTTOM: f64 = 28.0;

fn esc(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

fn day(t: Timestamp, tz: &jiff::tz::TimeZone) -> String {
    t.to_zoned(tz.clone()).strftime("%-d %b %Y").to_string()
}

/// One plot per instrument with at least one valid score (entries marked
/// entered in error are left out), in the order the library lists them.
/// Dates are the days of `tz` (the chart's site).
pub fn trajectories(
    lib: &Library,
    measures: &[Administration],
    doses: &[Timestamp],
    now: Timestamp,
    tz: &jiff::tz::TimeZone,
) -> Vec<Plot> {
    let mut out = Vec::new();
    for inst in lib.all() {
        let mut points: Vec<(Timestamp, i64)> = measures
            .iter()
            .filter(|m| m.instrument == inst.id && m.entered_in_error.is_none())
            .map(|m| (m.completed_at, m.score))
            .collect();
        if points.is_empty() {
            continue;
        }
        points.sort();
        let (lo, hi) = inst.score_range();
        let first = points[0].0;
        let last = points[points.len() - 1].0;
        let shown_doses: Vec<Timestamp> = doses.iter().copied().filter(|d| *d <= now).collect();
        let start = shown_doses.iter().copied().chain([first]).min().unwrap_or(first);
        let end = shown_doses.iter().copied().chain([last]).max().unwrap_or(last);
        let span = (end.as_second() - start.as_second()).max(86_400) as f64;
        let x = |t: Timestamp| LEFT + (t.as_second() - start.as_second()) as f64 / span * (W - LEFT - RIGHT);
        let y = |v: i64| TOP + (1.0 - (v - lo) as f64 / (hi - lo).max(1) as f64) * (H - TOP - BOTTOM);
        let mut svg = String::new();
        let label = format!("{} scores over time", inst.short_name);
        let _ = write!(
            svg,
            r#"<svg viewBox="0 0 {W} {H}" width="100%" role="img" aria-label="{}" xmlns="http://www.w3.org/2000/svg">"#,
            esc(&label)
        );
        // Severity bands, lightest for the least severe.
        if let Some(bands) = &inst.severity {
            let n = bands.bands.len().max(1) as f64;
            for (i, b) in bands.bands.iter().enumerate() {
                let top = y(b.max + 1).max(TOP);
                let bottom = y(b.min);
                let shade = 0.06 + 0.22 * (i as f64 / n);
                let _ = write!(
                    svg,
                    r##"<rect x="{LEFT}" y="{top:.1}" width="{:.1}" height="{:.1}" fill="#b3261e" fill-opacity="{shade:.2}"/><text x="{:.1}" y="{:.1}" font-size="11" fill="#333">{}</text>"##,
                    W - LEFT - RIGHT,
                    (bottom - top).max(0.0),
                    W - RIGHT + 6.0,
                    (top + bottom) / 2.0 + 4.0,
                    esc(&b.label)
                );
            }
        }
        // Axes and scale.
        let _ = write!(
            svg,
            r##"<line x1="{LEFT}" y1="{:.1}" x2="{:.1}" y2="{:.1}" stroke="#555"/><text x="{:.1}" y="{:.1}" font-size="11" text-anchor="end">{hi}</text><text x="{:.1}" y="{:.1}" font-size="11" text-anchor="end">{lo}</text>"##,
            H - BOTTOM,
            W - RIGHT,
            H - BOTTOM,
            LEFT - 4.0,
            TOP + 10.0,
            LEFT - 4.0,
            H - BOTTOM
        );
        let _ = write!(
            svg,
            r##"<text x="{LEFT}" y="{:.1}" font-size="11">{}</text><text x="{:.1}" y="{:.1}" font-size="11" text-anchor="end">{}</text>"##,
            H - 8.0,
            day(start, tz),
            W - RIGHT,
            H - 8.0,
            day(end, tz)
        );
        for d in &shown_doses {
            let _ = write!(
                svg,
                r##"<line x1="{0:.1}" y1="{TOP}" x2="{0:.1}" y2="{1:.1}" stroke="#1f4e8c" stroke-dasharray="3 3"><title>Dosing session {2}</title></line><path d="M{3:.1} {1:.1} l4 6 h-8 z" fill="#1f4e8c"/>"##,
                x(*d),
                H - BOTTOM,
                day(*d, tz),
                x(*d)
            );
        }
        let path: Vec<String> = points.iter().map(|(t, v)| format!("{:.1},{:.1}", x(*t), y(*v))).collect();
        let _ = write!(svg, r##"<polyline points="{}" fill="none" stroke="#111" stroke-width="2"/>"##, path.join(" "));
        for (t, v) in &points {
            let _ = write!(
                svg,
                r##"<circle cx="{:.1}" cy="{:.1}" r="4" fill="#111"><title>{} {}: {v}</title></circle>"##,
                x(*t),
                y(*v),
                day(*t, tz),
                esc(&inst.short_name)
            );
        }
        svg.push_str("</svg>");
        let (latest_t, latest) = points[points.len() - 1];
        let band = inst.severity_of(latest).map(|b| format!(" ({b})")).unwrap_or_default();
        let caption = format!(
            "{}: {} score{} from {} to {}, range {lo}-{hi}, higher is {}. Latest {latest}{band} on {}. {}{}",
            inst.short_name,
            points.len(),
            if points.len() == 1 { "" } else { "s" },
            day(first, tz),
            day(last, tz),
            if inst.higher_is_worse { "worse" } else { "better" },
            day(latest_t, tz),
            if inst.severity.is_some() { "Shaded bands are the severity bands. " } else { "" },
            if shown_doses.is_empty() {
                String::new()
            } else {
                format!("Dashed lines mark {} dosing session(s).", shown_doses.len())
            }
        );
        out.push(Plot { svg, caption });
    }
    out
}

/// The Kaplan-Meier step curve with its 95 % band, and a caption.
pub fn km_plot(curve: &kairos_domain::outcomes::KmCurve) -> (String, String) {
    let last = curve.steps.last().map(|s| s.time).unwrap_or(0.0).max(30.0);
    let x = |t: f64| LEFT + t / last * (W - LEFT - RIGHT);
    let y = |s: f64| TOP + (1.0 - s) * (H - TOP - BOTTOM);
    let mut svg = String::new();
    let _ = write!(
        svg,
        r#"<svg viewBox="0 0 {W} {H}" width="100%" role="img" aria-label="Time to relapse after the last induction dose" xmlns="http://www.w3.org/2000/svg">"#
    );
    for s in [0.0, 0.25, 0.5, 0.75, 1.0] {
        let _ = write!(
            svg,
            r##"<line x1="{LEFT}" y1="{0:.1}" x2="{1:.1}" y2="{0:.1}" stroke="#ddd"/><text x="{2:.1}" y="{3:.1}" font-size="11" text-anchor="end">{4:.0}%</text>"##,
            y(s),
            W - RIGHT,
            LEFT - 4.0,
            y(s) + 4.0,
            s * 100.0
        );
    }
    // Step functions: survival and its confidence band.
    let (mut line, mut lower, mut upper) = (format!("M{:.1},{:.1}", x(0.0), y(1.0)), String::new(), String::new());
    let (mut s_prev, mut lo_prev, mut hi_prev) = (1.0, 1.0, 1.0);
    lower.push_str(&format!("M{:.1},{:.1}", x(0.0), y(1.0)));
    upper.push_str(&format!("M{:.1},{:.1}", x(0.0), y(1.0)));
    for st in &curve.steps {
        line.push_str(&format!(" H{:.1} V{:.1}", x(st.time), y(st.survival)));
        lower.push_str(&format!(" H{:.1} V{:.1}", x(st.time), y(st.lower)));
        upper.push_str(&format!(" H{:.1} V{:.1}", x(st.time), y(st.upper)));
        (s_prev, lo_prev, hi_prev) = (st.survival, st.lower, st.upper);
    }
    let _ = (s_prev, lo_prev, hi_prev);
    for (path, dash) in [(&lower, "4 3"), (&upper, "4 3")] {
        let _ = write!(
            svg,
            r##"<path d="{path} H{:.1}" fill="none" stroke="#1f4e8c" stroke-dasharray="{dash}"/>"##,
            x(last)
        );
    }
    let _ = write!(svg, r##"<path d="{line} H{:.1}" fill="none" stroke="#111" stroke-width="2"/>"##, x(last));
    let _ = write!(
        svg,
        r##"<line x1="{LEFT}" y1="{0:.1}" x2="{1:.1}" y2="{0:.1}" stroke="#555"/><text x="{LEFT}" y="{2:.1}" font-size="11">day 0</text><text x="{1:.1}" y="{2:.1}" font-size="11" text-anchor="end">day {3:.0}</text>"##,
        H - BOTTOM,
        W - RIGHT,
        H - 8.0,
        last
    );
    svg.push_str("</svg>");
    let median = match curve.median {
        Some(m) => format!("median time to relapse {m:.0} days"),
        None => "median not reached".into(),
    };
    let caption = format!(
        "Kaplan-Meier estimate of the share of responders still in response, by days after the last induction dose: {} courses, {} relapses, {median}. Dashed lines: 95% confidence band (Greenwood, log-log).",
        curve.n, curve.events
    );
    (svg, caption)
}
