//! The daily report as one self-contained HTML page: inline CSS, an inline
//! SVG chart, no script and nothing loaded from anywhere, so the page reads
//! the same from the bucket, a mail attachment or a file on a laptop.
//!
//! Group names, exemption dates and policy rule ids are written by whoever
//! may tag or name a group, so every text and attribute value from the
//! report is escaped, and the page's Content-Security-Policy forbids
//! scripts besides. Key figures carry stable ids and data attributes
//! (`id="groups-scanned"`, `data-date` on each point of the chart), so
//! tests and people's own tooling can read the page as reliably as the JSON.

use std::fmt::Write as _;

use chrono::{DateTime, Days, NaiveDate, Utc};

use super::{
    AccountScore, ControlCount, Cost, DailyReport, ExecutionStat, FrameworkSummary, TREND_DAYS,
    TrendPoint,
};

/// Appends formatted text to the page. Writing to a `String` cannot fail,
/// so the `fmt::Result` carries nothing worth handling.
macro_rules! put {
    ($page:expr, $($arg:tt)*) => {
        let _ = write!($page, $($arg)*);
    };
}

const STYLE: &str = "
:root { --ok: #1a7f37; --bad: #cf222e; --warn: #9a6700; --ink: #1f2328; --muted: #59636e; --line: #d1d9e0; --panel: #f6f8fa; }
* { box-sizing: border-box; }
body { margin: 0; font: 14px/1.45 system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif; color: var(--ink); background: #fff; }
main { max-width: 1120px; margin: 0 auto; padding: 24px 28px 40px; }
h1 { font-size: 24px; margin: 0 0 4px; }
h2 { font-size: 17px; margin: 28px 0 10px; padding-bottom: 4px; border-bottom: 1px solid var(--line); }
h3 { font-size: 14px; margin: 0 0 6px; }
.sub, .note, .none { color: var(--muted); }
code { font: 12px ui-monospace, SFMono-Regular, Menlo, monospace; }
.figures { display: grid; grid-template-columns: repeat(auto-fit, minmax(140px, 1fr)); gap: 12px; margin-top: 18px; }
.figure { background: var(--panel); border: 1px solid var(--line); border-radius: 8px; padding: 12px 14px; }
.figure .value { display: block; font-size: 26px; font-weight: 650; }
.figure .label { color: var(--muted); }
.figure.bad .value { color: var(--bad); }
.figure.good .value { color: var(--ok); }
.warnings { background: #fff8c5; border: 1px solid #d4a72c; border-radius: 8px; padding: 8px 14px 8px 32px; margin-top: 16px; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; padding: 5px 8px; border-bottom: 1px solid var(--line); vertical-align: top; }
th { background: var(--panel); font-weight: 600; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
td.failing { color: var(--bad); font-weight: 600; }
td.failing.zero { color: var(--ok); font-weight: 400; }
.bar { display: inline-block; height: 8px; border-radius: 4px; background: var(--ok); vertical-align: middle; margin-right: 6px; }
.grid2 { display: grid; grid-template-columns: repeat(auto-fit, minmax(460px, 1fr)); gap: 18px; }
.chart { width: 100%; max-width: 900px; height: auto; display: block; }
.chart .axis { stroke: var(--ink); stroke-width: 1; }
.chart .gridline { stroke: var(--line); stroke-width: 1; }
.chart text { font-size: 11px; fill: var(--muted); }
.chart .score-line { fill: none; stroke: var(--ok); stroke-width: 2.5; }
.chart .groups-line { fill: none; stroke: #0969da; stroke-width: 1.5; }
.chart .violations-line { fill: none; stroke: var(--bad); stroke-width: 1.5; stroke-dasharray: 5 3; }
.chart .point { fill: #fff; stroke: var(--ok); stroke-width: 2; }
.chart .point.no-score { stroke: var(--muted); }
.chart .point.today { fill: var(--ok); }
.legend span { margin-right: 16px; color: var(--muted); }
.swatch { display: inline-block; width: 14px; height: 3px; vertical-align: middle; margin-right: 5px; }
details { margin-top: 8px; }
footer { margin-top: 32px; color: var(--muted); font-size: 12px; }
";

/// The page of `report`.
pub fn render_html(report: &DailyReport) -> String {
    let mut page = String::with_capacity(64 * 1024);
    head(&mut page, report);
    figures(&mut page, report);
    warnings(&mut page, &report.warnings);
    trend(&mut page, report);
    accounts(&mut page, &report.accounts);
    controls(&mut page, &report.controls);
    frameworks(&mut page, &report.frameworks);
    violating_groups(&mut page, report);
    exemptions(&mut page, report);
    executions(&mut page, report);
    cost(&mut page, &report.cost);
    footer(&mut page, report);
    page.push_str("</main>\n</body>\n</html>\n");
    page
}

/// `text` made safe for both element content and quoted attribute values.
pub(super) fn escape(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '"' => escaped.push_str("&quot;"),
            '\'' => escaped.push_str("&#39;"),
            c => escaped.push(c),
        }
    }
    escaped
}

/// A score as the page shows it: `92.5%`, or `n/a` when nothing was scanned.
pub(super) fn percent(score: Option<f64>) -> String {
    score.map_or_else(|| "n/a".to_owned(), |score| format!("{score:.1}%"))
}

/// Dollars as the page shows them: to a millionth, without trailing zeros
/// past the cents (`$0.025`, `$1.20`, `$0.000133`).
pub(super) fn dollars(usd: f64) -> String {
    let text = format!("{usd:.6}");
    let trimmed = text.trim_end_matches('0');
    let decimals = trimmed
        .split_once('.')
        .map_or(0, |(_, fraction)| fraction.len());
    let padded = format!("{trimmed}{}", "0".repeat(2usize.saturating_sub(decimals)));
    format!("${padded}")
}

/// `1000000` as `1,000,000`.
fn grouped(number: f64) -> String {
    if number.fract() != 0.0 || number.abs() >= 1e15 {
        return format!("{number}");
    }
    let digits = format!("{}", number.abs() as u64);
    let mut out = String::new();
    for (index, digit) in digits.chars().enumerate() {
        if index > 0 && (digits.len() - index) % 3 == 0 {
            out.push(',');
        }
        out.push(digit);
    }
    if number < 0.0 { format!("-{out}") } else { out }
}

fn timestamp(at: &DateTime<Utc>) -> String {
    at.format("%Y-%m-%d %H:%M:%S UTC").to_string()
}

fn duration(ms: Option<u64>) -> String {
    match ms {
        None => "running".to_owned(),
        Some(ms) if ms < 1000 => format!("{ms} ms"),
        Some(ms) => format!("{:.1} s", ms as f64 / 1000.0),
    }
}

fn head(page: &mut String, report: &DailyReport) {
    let date = report.date;
    put!(
        page,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>Moat compliance report {date}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n<main>\n\
         <header>\n<h1>Moat daily compliance report</h1>\n<p class=\"sub\"><time id=\"report-date\" datetime=\"{date}\">{date}</time>"
    );
    if !report.sweep_id.is_empty() {
        put!(
            page,
            " · sweep <code id=\"sweep-id\">{}</code>",
            escape(&report.sweep_id)
        );
    }
    if let Some(started) = &report.sweep_started_at {
        put!(page, " · started {}", timestamp(started));
    }
    if let Some(finished) = &report.sweep_finished_at {
        put!(page, " · finished {}", timestamp(finished));
    }
    page.push_str("</p>\n</header>\n");
}

fn figure(page: &mut String, id: &str, value: &str, data: &str, label: &str, tone: &str) {
    put!(
        page,
        "<div class=\"figure {tone}\"><span class=\"value\" id=\"{id}\" data-value=\"{}\">{}</span><span class=\"label\">{label}</span></div>\n",
        escape(data),
        escape(value)
    );
}

fn figures(page: &mut String, report: &DailyReport) {
    let tone = |bad: bool| if bad { "bad" } else { "good" };
    page.push_str("<section class=\"figures\" aria-label=\"Key figures\">\n");
    let scanned = report.groups_scanned.to_string();
    figure(
        page,
        "groups-scanned",
        &scanned,
        &scanned,
        "groups scanned",
        "",
    );
    let violations = report.violations.to_string();
    figure(
        page,
        "violations",
        &violations,
        &violations,
        "violations found",
        tone(report.violations > 0),
    );
    let remediations = report.remediations.to_string();
    figure(
        page,
        "remediations",
        &remediations,
        &remediations,
        "remediations made",
        "",
    );
    let reviews = report.reviews_pending.to_string();
    figure(
        page,
        "reviews-pending",
        &reviews,
        &reviews,
        "reviews pending",
        tone(report.reviews_pending > 0),
    );
    let score = report
        .compliance_score
        .map(|s| s.to_string())
        .unwrap_or_default();
    let score_tone = tone(report.compliance_score.is_some_and(|s| s < 100.0));
    figure(
        page,
        "compliance-score",
        &percent(report.compliance_score),
        &score,
        "compliant",
        score_tone,
    );
    let total = report.cost.total_usd.to_string();
    figure(
        page,
        "cost-total",
        &dollars(report.cost.total_usd),
        &total,
        "cost of the day",
        "",
    );
    page.push_str("</section>\n");
    if report.groups_skipped > 0 {
        let (noun, verb) = if report.groups_skipped == 1 {
            ("group", "is")
        } else {
            ("groups", "are")
        };
        put!(
            page,
            "<p class=\"note\"><span id=\"groups-skipped\">{}</span> {noun} could not be judged and {verb} not counted.</p>\n",
            report.groups_skipped
        );
    }
}

fn warnings(page: &mut String, warnings: &[String]) {
    if warnings.is_empty() {
        return;
    }
    page.push_str("<ul class=\"warnings\" id=\"warnings\">\n");
    for warning in warnings {
        put!(page, "<li>{}</li>\n", escape(warning));
    }
    page.push_str("</ul>\n");
}

/// The chart's frame, in SVG user units.
struct Frame {
    first: NaiveDate,
    left: f64,
    top: f64,
    width: f64,
    height: f64,
    max_count: f64,
}

impl Frame {
    const WIDTH: f64 = 760.0;
    const HEIGHT: f64 = 290.0;

    fn new(today: NaiveDate, points: &[TrendPoint]) -> Frame {
        let most = points
            .iter()
            .map(|p| p.groups_scanned.max(p.violations))
            .max()
            .unwrap_or(0);
        Frame {
            first: today
                .checked_sub_days(Days::new(TREND_DAYS - 1))
                .unwrap_or(today),
            left: 56.0,
            top: 20.0,
            width: Frame::WIDTH - 56.0 - 56.0,
            height: Frame::HEIGHT - 20.0 - 50.0,
            max_count: nice_ceiling(most as f64),
        }
    }

    fn x(&self, date: NaiveDate) -> f64 {
        let day = (date - self.first).num_days() as f64;
        self.left + self.width * day / (TREND_DAYS - 1) as f64
    }

    fn bottom(&self) -> f64 {
        self.top + self.height
    }

    fn y_score(&self, score: f64) -> f64 {
        self.top + self.height * (1.0 - score / 100.0)
    }

    fn y_count(&self, count: usize) -> f64 {
        self.top + self.height * (1.0 - count as f64 / self.max_count)
    }
}

/// The smallest 1, 2 or 5 times a power of ten at or above `value`, and at
/// least 1, so the count axis has round ticks.
fn nice_ceiling(value: f64) -> f64 {
    let mut step = 1.0;
    loop {
        for multiple in [1.0, 2.0, 5.0] {
            if multiple * step >= value {
                return multiple * step;
            }
        }
        step *= 10.0;
    }
}

fn trend(page: &mut String, report: &DailyReport) {
    let points = &report.trend;
    let frame = Frame::new(report.date, points);
    put!(
        page,
        "<section id=\"trend-section\">\n<h2>The last {TREND_DAYS} days</h2>\n\
         <svg class=\"chart\" id=\"trend\" viewBox=\"0 0 {} {}\" role=\"img\" aria-labelledby=\"trend-title\">\n\
         <title id=\"trend-title\">Compliance score, groups scanned and violations per day</title>\n",
        Frame::WIDTH,
        Frame::HEIGHT
    );
    axes(page, &frame);
    series(page, &frame, points);
    page.push_str("</svg>\n<p class=\"legend\"><span><i class=\"swatch\" style=\"background:#1a7f37\"></i>compliance score (left axis)</span>\
        <span><i class=\"swatch\" style=\"background:#0969da\"></i>groups scanned (right axis)</span>\
        <span><i class=\"swatch\" style=\"background:#cf222e\"></i>violations (right axis)</span></p>\n");
    trend_table(page, points);
    page.push_str("</section>\n");
}

fn axes(page: &mut String, frame: &Frame) {
    let (left, right, bottom) = (frame.left, frame.left + frame.width, frame.bottom());
    for tick in [0.0, 25.0, 50.0, 75.0, 100.0] {
        let y = frame.y_score(tick);
        put!(
            page,
            "<line class=\"gridline\" x1=\"{left}\" y1=\"{y}\" x2=\"{right}\" y2=\"{y}\"/>\n"
        );
        put!(
            page,
            "<text x=\"{}\" y=\"{}\" text-anchor=\"end\">{tick}%</text>\n",
            left - 6.0,
            y + 4.0
        );
    }
    for fraction in [0.0, 0.5, 1.0] {
        let value = frame.max_count * fraction;
        let y = frame.top + frame.height * (1.0 - fraction);
        put!(
            page,
            "<text class=\"count-tick\" x=\"{}\" y=\"{}\">{}</text>\n",
            right + 6.0,
            y + 4.0,
            grouped(value.round())
        );
    }
    put!(
        page,
        "<line class=\"axis\" x1=\"{left}\" y1=\"{}\" x2=\"{left}\" y2=\"{bottom}\"/>\n",
        frame.top
    );
    put!(
        page,
        "<line class=\"axis\" x1=\"{right}\" y1=\"{}\" x2=\"{right}\" y2=\"{bottom}\"/>\n",
        frame.top
    );
    put!(
        page,
        "<line class=\"axis\" x1=\"{left}\" y1=\"{bottom}\" x2=\"{right}\" y2=\"{bottom}\"/>\n"
    );
    for day in [0, 7, 14, 21, TREND_DAYS - 1] {
        let date = frame
            .first
            .checked_add_days(Days::new(day))
            .unwrap_or(frame.first);
        let x = frame.x(date);
        put!(
            page,
            "<line class=\"axis\" x1=\"{x}\" y1=\"{bottom}\" x2=\"{x}\" y2=\"{}\"/>\n",
            bottom + 4.0
        );
        put!(
            page,
            "<text class=\"date-tick\" x=\"{x}\" y=\"{}\" text-anchor=\"middle\">{}</text>\n",
            bottom + 17.0,
            date.format("%b %-d")
        );
    }
    put!(
        page,
        "<text x=\"{left}\" y=\"{}\">compliance score</text>\n",
        bottom + 36.0
    );
    put!(
        page,
        "<text x=\"{right}\" y=\"{}\" text-anchor=\"end\">groups</text>\n",
        bottom + 36.0
    );
}

fn polyline(page: &mut String, class: &str, points: impl Iterator<Item = (f64, f64)>) {
    let coordinates: Vec<String> = points.map(|(x, y)| format!("{x:.1},{y:.1}")).collect();
    if !coordinates.is_empty() {
        put!(
            page,
            "<polyline class=\"{class}\" points=\"{}\"/>\n",
            coordinates.join(" ")
        );
    }
}

fn series(page: &mut String, frame: &Frame, points: &[TrendPoint]) {
    polyline(
        page,
        "groups-line",
        points
            .iter()
            .map(|p| (frame.x(p.date), frame.y_count(p.groups_scanned))),
    );
    polyline(
        page,
        "violations-line",
        points
            .iter()
            .map(|p| (frame.x(p.date), frame.y_count(p.violations))),
    );
    let scored = points.iter().filter_map(|p| {
        p.compliance_score
            .map(|s| (frame.x(p.date), frame.y_score(s)))
    });
    polyline(page, "score-line", scored);
    let last = points.last().map(|p| p.date);
    for point in points {
        let (y, missing) = match point.compliance_score {
            Some(score) => (frame.y_score(score), ""),
            None => (frame.bottom(), " no-score"),
        };
        let today = if Some(point.date) == last {
            " today"
        } else {
            ""
        };
        put!(
            page,
            "<circle class=\"point{missing}{today}\" cx=\"{:.1}\" cy=\"{y:.1}\" r=\"4\" data-date=\"{}\" data-score=\"{}\" data-groups=\"{}\" data-violations=\"{}\"><title>{}: {} compliant, {} groups, {} violations</title></circle>\n",
            frame.x(point.date),
            point.date,
            point
                .compliance_score
                .map(|s| s.to_string())
                .unwrap_or_default(),
            point.groups_scanned,
            point.violations,
            point.date,
            percent(point.compliance_score),
            point.groups_scanned,
            point.violations
        );
    }
}

fn trend_table(page: &mut String, points: &[TrendPoint]) {
    page.push_str("<details><summary>The trend as a table</summary>\n<table id=\"trend-table\"><thead><tr><th>Day</th><th class=\"num\">Groups scanned</th><th class=\"num\">Violations</th><th class=\"num\">Compliant</th></tr></thead><tbody>\n");
    for point in points.iter().rev() {
        put!(
            page,
            "<tr data-date=\"{}\"><td>{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td></tr>\n",
            point.date,
            point.date,
            point.groups_scanned,
            point.violations,
            percent(point.compliance_score)
        );
    }
    page.push_str("</tbody></table></details>\n");
}

fn accounts(page: &mut String, accounts: &[AccountScore]) {
    page.push_str("<section id=\"accounts-section\">\n<h2>Compliance by account</h2>\n");
    if accounts.is_empty() {
        page.push_str("<p class=\"none\">No account was scanned.</p>\n</section>\n");
        return;
    }
    page.push_str("<table id=\"accounts\"><thead><tr><th>Account</th><th class=\"num\">Groups</th><th class=\"num\">Compliant</th><th>Score</th></tr></thead><tbody>\n");
    for account in accounts {
        let width = account.compliance_score.unwrap_or(0.0);
        put!(
            page,
            "<tr data-account=\"{0}\"><td><code>{0}</code></td><td class=\"num groups\">{1}</td><td class=\"num compliant\">{2}</td>\
             <td><span class=\"bar\" style=\"width:{width:.1}px\"></span><span class=\"score\">{3}</span></td></tr>\n",
            escape(&account.account),
            account.groups,
            account.compliant,
            percent(account.compliance_score)
        );
    }
    page.push_str("</tbody></table>\n</section>\n");
}

fn failing_cell(failing: usize) -> String {
    let zero = if failing == 0 { " zero" } else { "" };
    format!("<td class=\"num failing{zero}\">{failing}</td>")
}

fn controls(page: &mut String, controls: &[ControlCount]) {
    page.push_str("<section id=\"controls-section\">\n<h2>Groups failing each Security Hub control</h2>\n\
        <table id=\"controls\"><thead><tr><th>Control</th><th>Title</th><th class=\"num\">Failing groups</th></tr></thead><tbody>\n");
    for control in controls {
        put!(
            page,
            "<tr data-control=\"{0}\"><td><code>{0}</code></td><td>{1}</td>{2}</tr>\n",
            escape(&control.control),
            escape(&control.title),
            failing_cell(control.failing_groups)
        );
    }
    page.push_str("</tbody></table>\n</section>\n");
}

fn frameworks(page: &mut String, frameworks: &[FrameworkSummary]) {
    page.push_str("<section id=\"frameworks-section\">\n<h2>Failing requirements by framework</h2>\n<div class=\"grid2\">\n");
    for framework in frameworks {
        put!(
            page,
            "<div class=\"framework\" data-framework=\"{0}\"><h3>{0}</h3>\n",
            escape(&framework.framework)
        );
        if framework.requirements.is_empty() {
            page.push_str("<p class=\"none\">No requirement failing.</p>\n</div>\n");
            continue;
        }
        page.push_str("<table><thead><tr><th>Requirement</th><th>Through</th><th class=\"num\">Failing groups</th></tr></thead><tbody>\n");
        for requirement in &framework.requirements {
            put!(
                page,
                "<tr data-requirement=\"{0}\"><td>{0}</td><td><code>{1}</code></td>{2}</tr>\n",
                escape(&requirement.requirement),
                escape(&requirement.controls.join(", ")),
                failing_cell(requirement.failing_groups)
            );
        }
        page.push_str("</tbody></table>\n</div>\n");
    }
    page.push_str("</div>\n</section>\n");
}

fn group_cells(account: &str, region: &str, group_id: &str, group_name: &str) -> String {
    format!(
        "<td><code>{}</code></td><td>{}</td><td><code>{}</code></td><td class=\"group-name\">{}</td>",
        escape(account),
        escape(region),
        escape(group_id),
        escape(group_name)
    )
}

fn violating_groups(page: &mut String, report: &DailyReport) {
    page.push_str("<section id=\"violations-section\">\n<h2>Groups in violation</h2>\n");
    if report.violating_groups.is_empty() {
        page.push_str("<p class=\"none\">No group is in violation.</p>\n</section>\n");
        return;
    }
    page.push_str("<details><summary>Every group with a finding</summary>\n<table><thead><tr><th>Account</th><th>Region</th><th>Group</th><th>Name</th><th>Controls</th><th>Action</th></tr></thead><tbody id=\"violating-groups\">\n");
    for group in &report.violating_groups {
        put!(
            page,
            "<tr data-group=\"{}\">{}<td><code>{}</code></td><td>{}</td></tr>\n",
            escape(&group.group_id),
            group_cells(
                &group.account,
                &group.region,
                &group.group_id,
                &group.group_name
            ),
            escape(&group.controls.join(", ")),
            escape(&group.action)
        );
    }
    page.push_str("</tbody></table></details>\n</section>\n");
}

fn exemptions(page: &mut String, report: &DailyReport) {
    let head = "<th>Account</th><th>Region</th><th>Group</th><th>Name</th><th>Policy rule</th>";
    put!(
        page,
        "<section id=\"exemptions-section\">\n<h2>Exemptions</h2>\n<h3>In force (<span id=\"exemptions-count\">{}</span>)</h3>\n",
        report.exemptions.len()
    );
    if report.exemptions.is_empty() {
        page.push_str("<p class=\"none\">No exemption is in force.</p>\n");
    } else {
        put!(
            page,
            "<table><thead><tr>{head}<th>Rules</th><th>Until</th></tr></thead><tbody id=\"exemptions\">\n"
        );
        for exemption in &report.exemptions {
            put!(
                page,
                "<tr>{}<td><code>{}</code></td><td><code>{}</code></td><td class=\"until\">{}</td></tr>\n",
                group_cells(
                    &exemption.account,
                    &exemption.region,
                    &exemption.group_id,
                    &exemption.group_name
                ),
                escape(&exemption.policy_rule_id),
                escape(&exemption.security_group_rule_ids.join(", ")),
                escape(exemption.until.as_deref().unwrap_or("-"))
            );
        }
        page.push_str("</tbody></table>\n");
    }
    put!(
        page,
        "<h3>Expired (<span id=\"expired-exemptions-count\">{}</span>)</h3>\n",
        report.expired_exemptions.len()
    );
    if report.expired_exemptions.is_empty() {
        page.push_str("<p class=\"none\">No exemption has expired.</p>\n");
    } else {
        put!(
            page,
            "<table><thead><tr>{head}<th>Expired on</th></tr></thead><tbody id=\"expired-exemptions\">\n"
        );
        for expired in &report.expired_exemptions {
            put!(
                page,
                "<tr>{}<td><code>{}</code></td><td class=\"expired-on\">{}</td></tr>\n",
                group_cells(
                    &expired.account,
                    &expired.region,
                    &expired.group_id,
                    &expired.group_name
                ),
                escape(&expired.policy_rule_id),
                escape(&expired.expired_on)
            );
        }
        page.push_str("</tbody></table>\n");
    }
    page.push_str("</section>\n");
}

fn execution_table(page: &mut String, id: &str, executions: &[ExecutionStat], empty: &str) {
    if executions.is_empty() {
        put!(page, "<p class=\"none\">{empty}</p>\n");
        return;
    }
    put!(
        page,
        "<table><thead><tr><th>Execution</th><th>Status</th><th>Started</th><th class=\"num\">Duration</th><th>Error</th></tr></thead><tbody id=\"{id}\">\n"
    );
    for execution in executions {
        put!(
            page,
            "<tr data-arn=\"{}\" data-duration-ms=\"{}\"><td><code>{}</code></td><td>{}</td><td>{}</td><td class=\"num\">{}</td><td>{}</td></tr>\n",
            escape(&execution.arn),
            execution
                .duration_ms
                .map(|ms| ms.to_string())
                .unwrap_or_default(),
            escape(&execution.name),
            escape(&execution.status),
            timestamp(&execution.started_at),
            duration(execution.duration_ms),
            escape(execution.error.as_deref().unwrap_or(""))
        );
    }
    page.push_str("</tbody></table>\n");
}

fn executions(page: &mut String, report: &DailyReport) {
    page.push_str("<section id=\"executions-section\">\n<h2>Executions</h2>\n<div class=\"grid2\">\n<div>\n<h3>The slowest</h3>\n");
    execution_table(
        page,
        "slowest-executions",
        &report.slowest_executions,
        "No execution ended today.",
    );
    put!(
        page,
        "</div>\n<div>\n<h3>Failed (<span id=\"failed-count\">{}</span>)</h3>\n",
        report.failed_executions.len()
    );
    execution_table(
        page,
        "failed-executions",
        &report.failed_executions,
        "No execution failed.",
    );
    page.push_str("</div>\n</div>\n</section>\n");
}

fn cost(page: &mut String, cost: &Cost) {
    put!(
        page,
        "<section id=\"cost-section\">\n<h2>What the day cost</h2>\n<p class=\"note\">List prices in {} as of {}, without free tier.</p>\n\
         <table id=\"cost\"><thead><tr><th>Item</th><th class=\"num\">Quantity</th><th class=\"num\">Price</th><th class=\"num\">Cost</th></tr></thead><tbody>\n",
        escape(&cost.region),
        cost.as_of
    );
    for item in &cost.items {
        put!(
            page,
            "<tr data-item=\"{}\"><td>{}</td><td class=\"num quantity\">{}</td><td class=\"num\">{} per {}</td><td class=\"num usd\" data-usd=\"{}\">{}</td></tr>\n",
            escape(&item.item),
            escape(&item.label),
            grouped(item.quantity),
            dollars_exact(item.price_usd),
            grouped(item.per),
            item.usd,
            dollars(item.usd)
        );
    }
    put!(
        page,
        "<tr class=\"total\"><th>Total</th><th></th><th></th><th class=\"num usd\" data-usd=\"{}\">{}</th></tr>\n</tbody></table>\n</section>\n",
        cost.total_usd,
        dollars(cost.total_usd)
    );
}

/// A unit price as the price list writes it, every digit kept.
fn dollars_exact(usd: f64) -> String {
    format!("${usd}")
}

fn footer(page: &mut String, report: &DailyReport) {
    let source = &report.mapping_source;
    page.push_str("<footer>\n<p>Framework requirements: FSBP, CIS and NIST 800-53 as the policy's rules name them; FSBP membership and PCI DSS v3.2.1 from ");
    // Only an https link is a link: the report may be read back from a
    // bucket someone else could write to.
    if source.url.starts_with("https://") {
        put!(
            page,
            "<a href=\"{}\">{}</a>",
            escape(&source.url),
            escape(&source.title)
        );
    } else {
        page.push_str(&escape(&source.title));
    }
    if let Some(read) = source.read {
        put!(page, " (read {read})");
    }
    put!(
        page,
        ".</p>\n<p>Made by Moat for {}.</p>\n</footer>\n",
        report.date
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping_covers_every_character_that_changes_markup() {
        assert_eq!(
            escape("<img src=x onerror='a()'>&\"x\""),
            "&lt;img src=x onerror=&#39;a()&#39;&gt;&amp;&quot;x&quot;"
        );
        assert_eq!(escape("sg-web é"), "sg-web é");
    }

    #[test]
    fn dollars_keep_cents_and_drop_noise() {
        assert_eq!(dollars(0.025), "$0.025");
        assert_eq!(dollars(1.2), "$1.20");
        assert_eq!(dollars(0.0), "$0.00");
        assert_eq!(dollars(0.000133), "$0.000133");
        assert_eq!(dollars(12.0), "$12.00");
    }

    #[test]
    fn numbers_are_grouped_in_thousands() {
        assert_eq!(grouped(1_000_000.0), "1,000,000");
        assert_eq!(grouped(999.0), "999");
        assert_eq!(grouped(1234.5), "1234.5");
        assert_eq!(grouped(0.0), "0");
    }

    #[test]
    fn the_count_axis_ends_on_a_round_number() {
        assert_eq!(nice_ceiling(0.0), 1.0);
        assert_eq!(nice_ceiling(37.0), 50.0);
        assert_eq!(nice_ceiling(200.0), 200.0);
        assert_eq!(nice_ceiling(201.0), 500.0);
    }

    #[test]
    fn percentages_have_one_decimal_or_say_none() {
        assert_eq!(percent(Some(92.5)), "92.5%");
        assert_eq!(percent(Some(100.0)), "100.0%");
        assert_eq!(percent(None), "n/a");
    }
}
