//! Several policies on the same pool and items: a CSV of what each buys, and accuracy drawn
//! against cost.

use crate::run::SimReport;
use concord_core::policy::Overlap;
use std::fmt::Write as _;

/// One policy of a sweep, with its method.
#[derive(Debug, Clone, PartialEq)]
pub struct SweepPoint {
    /// The overlap policy.
    pub policy: Overlap,
    /// The truth-inference method.
    pub method: String,
}

/// Parses a sweep: policies separated by commas, each `POLICY` or `POLICY/METHOD`
/// (`fixed:3/mv,fixed:5/mv,adaptive:2..6@0.95/ds`); a policy without a method takes
/// `default_method`.
///
/// # Errors
/// A message naming the entry and what is wrong with it.
pub fn parse_sweep(spec: &str, default_method: &str) -> Result<Vec<SweepPoint>, String> {
    let mut out = Vec::new();
    for (i, entry) in spec.split(',').map(str::trim).enumerate() {
        if entry.is_empty() {
            return Err(format!("--sweep entry {} is empty", i + 1));
        }
        let (policy, method) = entry.split_once('/').unwrap_or((entry, default_method));
        let policy: Overlap = policy
            .parse()
            .map_err(|e| format!("--sweep entry {} ({entry}): {e}", i + 1))?;
        method
            .parse::<concord_consensus::truth::Method>()
            .map_err(|e| format!("--sweep entry {} ({entry}): {e}", i + 1))?;
        out.push(SweepPoint {
            policy,
            method: method.to_string(),
        });
    }
    Ok(out)
}

/// The sweep's results as CSV: one row per policy.
pub fn to_csv(reports: &[SimReport]) -> String {
    let mut out = String::from(
        "policy,method,accuracy,labels_per_item,cost_per_item,adjudication_rate,labels,cost\n",
    );
    for r in reports {
        let _ = writeln!(
            out,
            "{},{},{:.6},{:.4},{:.4},{:.6},{},{}",
            r.policy,
            r.method,
            r.accuracy,
            r.labels_per_item,
            r.cost_per_item,
            r.adjudication_rate,
            r.labels,
            r.cost
        );
    }
    out
}

/// Accuracy against cost per item as a self-contained SVG: one point per policy, labelled,
/// points of the same kind of policy and method joined in order of cost.
pub fn to_svg(reports: &[SimReport], title: &str) -> String {
    let (w, h) = (720.0, 460.0);
    let (left, right, top, bottom) = (70.0, 200.0, 40.0, 60.0);
    let xs: Vec<f64> = reports.iter().map(|r| r.cost_per_item).collect();
    let ys: Vec<f64> = reports.iter().map(|r| r.accuracy).collect();
    let (x0, x1) = bounds(&xs, 0.0);
    let (y0, y1) = bounds(&ys, 0.005);
    // Accuracy ends at 1.
    let y1 = y1.min(1.0);
    let px = |x: f64| left + (x - x0) / (x1 - x0) * (w - left - right);
    let py = |y: f64| h - bottom - (y - y0) / (y1 - y0) * (h - top - bottom);
    let mut svg = String::new();
    let _ = write!(
        svg,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" \
         viewBox=\"0 0 {w} {h}\" font-family=\"sans-serif\" font-size=\"12\">\n\
         <rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n\
         <text x=\"{}\" y=\"22\" font-size=\"15\" text-anchor=\"middle\">{}</text>\n",
        (w - right + left) / 2.0,
        escape(title)
    );
    // Axes with five ticks each.
    let _ = writeln!(
        svg,
        "<line x1=\"{left}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" stroke=\"black\"/>\
         <line x1=\"{left}\" y1=\"{top}\" x2=\"{left}\" y2=\"{}\" stroke=\"black\"/>",
        h - bottom,
        w - right,
        h - bottom,
        h - bottom
    );
    for t in 0..=4 {
        let x = x0 + (x1 - x0) * f64::from(t) / 4.0;
        let y = y0 + (y1 - y0) * f64::from(t) / 4.0;
        let _ = writeln!(
            svg,
            "<text x=\"{:.1}\" y=\"{}\" text-anchor=\"middle\">{x:.2}</text>\
             <text x=\"{}\" y=\"{:.1}\" text-anchor=\"end\">{y:.3}</text>\
             <line x1=\"{left}\" y1=\"{:.1}\" x2=\"{}\" y2=\"{:.1}\" stroke=\"#eee\"/>",
            px(x),
            h - bottom + 18.0,
            left - 6.0,
            py(y) + 4.0,
            py(y),
            w - right,
            py(y)
        );
    }
    let _ = writeln!(
        svg,
        "<text x=\"{}\" y=\"{}\" text-anchor=\"middle\">cost per item</text>\
         <text x=\"16\" y=\"{}\" transform=\"rotate(-90 16 {})\" text-anchor=\"middle\">accuracy \
         before adjudication</text>",
        (w - right + left) / 2.0,
        h - 14.0,
        (h - bottom + top) / 2.0,
        (h - bottom + top) / 2.0
    );
    // One series per policy kind and method.
    let palette = [
        "#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b",
    ];
    let mut series: Vec<(String, Vec<usize>)> = Vec::new();
    for (i, r) in reports.iter().enumerate() {
        let kind = format!(
            "{} / {}",
            r.policy.split(':').next().unwrap_or(""),
            r.method
        );
        match series.iter_mut().find(|(k, _)| *k == kind) {
            Some((_, v)) => v.push(i),
            None => series.push((kind, vec![i])),
        }
    }
    for (s, (kind, members)) in series.iter().enumerate() {
        let colour = palette[s % palette.len()];
        let mut ordered = members.clone();
        ordered.sort_by(|&a, &b| xs[a].total_cmp(&xs[b]));
        let points: Vec<String> = ordered
            .iter()
            .map(|&i| format!("{:.1},{:.1}", px(xs[i]), py(ys[i])))
            .collect();
        let _ = writeln!(
            svg,
            "<polyline points=\"{}\" fill=\"none\" stroke=\"{colour}\" stroke-width=\"1.5\"/>",
            points.join(" ")
        );
        for &i in &ordered {
            let _ = writeln!(
                svg,
                "<circle cx=\"{:.1}\" cy=\"{:.1}\" r=\"4\" fill=\"{colour}\" data-policy=\"{}\" \
                 data-accuracy=\"{:.6}\" data-cost=\"{:.4}\"/><text x=\"{:.1}\" y=\"{:.1}\" \
                 font-size=\"10\">{}</text>",
                px(xs[i]),
                py(ys[i]),
                escape(&reports[i].policy),
                ys[i],
                xs[i],
                px(xs[i]) + 6.0,
                py(ys[i]) - 6.0,
                escape(&reports[i].policy)
            );
        }
        let ly = top + 20.0 * s as f64;
        let _ = writeln!(
            svg,
            "<rect x=\"{}\" y=\"{}\" width=\"12\" height=\"12\" fill=\"{colour}\"/>\
             <text x=\"{}\" y=\"{}\">{}</text>",
            w - right + 20.0,
            ly,
            w - right + 38.0,
            ly + 10.0,
            escape(kind)
        );
    }
    svg.push_str("</svg>\n");
    svg
}

/// The axis range over `v` with a margin, never empty.
fn bounds(v: &[f64], floor_margin: f64) -> (f64, f64) {
    let lo = v.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = v.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    if !lo.is_finite() {
        return (0.0, 1.0);
    }
    let margin = ((hi - lo) * 0.1).max(floor_margin).max(1e-9);
    (lo - margin, hi + margin)
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_policies_and_methods() {
        let s = parse_sweep("fixed:3/mv, adaptive:2..6@0.95", "ds").unwrap();
        assert_eq!(s.len(), 2);
        assert_eq!(s[0].method, "mv");
        assert_eq!(s[1].method, "ds");
        assert_eq!(s[1].policy.to_string(), "adaptive:2..6@0.95");
        let e = parse_sweep("fixed:3,fixed:x", "ds").unwrap_err();
        assert!(e.contains("entry 2"), "{e}");
        let e = parse_sweep("fixed:3/nope", "ds").unwrap_err();
        assert!(e.contains("nope"), "{e}");
    }
}
