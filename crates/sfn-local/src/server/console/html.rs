//! The console's HTML plumbing: escaping, the page shell with its inline
//! style sheet, links to execution pages, and the HTTP response.
//!
//! Everything an execution carries (names, inputs, outputs, errors) comes
//! from whoever called the API, so every piece of it goes through
//! `escape` before it meets markup, and the response's Content Security
//! Policy allows no script at all, so a mistake here still runs nothing.

use bytes::Bytes;
use http_body_util::Full;
use hyper::{Response, StatusCode};

/// Where the execution pages live; the rest of the path is the ARN,
/// percent-encoded.
pub(super) const EXECUTION_PATH: &str = "/console/executions/";

/// `text` as HTML text or a double- or single-quoted attribute value.
pub(super) fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// The path of an execution's page.
pub(super) fn execution_path(arn: &str) -> String {
    let mut out = String::from(EXECUTION_PATH);
    for byte in arn.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~:".contains(&byte) {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// A path segment with its `%XX` escapes decoded, or `None` when an
/// escape is malformed or the bytes are not UTF-8.
pub(super) fn percent_decode(segment: &str) -> Option<String> {
    let mut bytes = Vec::with_capacity(segment.len());
    let mut rest = segment.as_bytes();
    while let Some((&byte, tail)) = rest.split_first() {
        if byte == b'%' {
            let hex = std::str::from_utf8(tail.get(..2)?).ok()?;
            bytes.push(u8::from_str_radix(hex, 16).ok()?);
            rest = &tail[2..];
        } else {
            bytes.push(byte);
            rest = tail;
        }
    }
    String::from_utf8(bytes).ok()
}

/// A whole page. `refresh` reloads it every two seconds, for executions
/// still running, so the console follows them without script.
pub(super) fn page(title: &str, refresh: bool, body: &str) -> String {
    let refresh = if refresh {
        r#"<meta http-equiv="refresh" content="2">"#
    } else {
        ""
    };
    format!(
        r#"<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">{refresh}<title>{title} · sfn-local</title><style>{STYLE}</style></head><body><header><a href="/">sfn-local</a><span>Step Functions console</span></header><main>{body}</main></body></html>"#,
        title = escape(title),
    )
}

/// The response for a page, which no cache keeps and which may load
/// nothing but its own inline style.
pub(super) fn response(status: StatusCode, page: String) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(page)));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    let fixed = [
        ("content-type", "text/html; charset=utf-8"),
        (
            "content-security-policy",
            "default-src 'none'; style-src 'unsafe-inline'",
        ),
        ("x-content-type-options", "nosniff"),
        ("cache-control", "no-store"),
    ];
    for (name, value) in fixed {
        headers.insert(name, hyper::header::HeaderValue::from_static(value));
    }
    response
}

/// The CSS class of an execution's status, in the colours of the states.
pub(super) fn status_class(status: &str) -> &'static str {
    match status {
        "SUCCEEDED" => "succeeded",
        "RUNNING" | "PENDING_REDRIVE" => "running",
        _ => "failed",
    }
}

/// The style sheet. Each outcome class sets two colours that the boxes,
/// the badges and the legend's swatches all use.
const STYLE: &str = "
:root { font-family: system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif; color: #16191f; }
body { margin: 0; background: #f2f3f3; }
header { background: #232f3e; color: #fff; padding: 10px 24px; display: flex; gap: 16px; align-items: baseline; }
header a { color: #fff; font-weight: 700; text-decoration: none; font-size: 18px; }
header span { color: #d5dbdb; font-size: 14px; }
main { padding: 16px 24px; max-width: 1400px; }
h1 { font-size: 22px; margin: 2px 0 10px; word-break: break-all; }
.crumbs { font-size: 13px; color: #545b64; }
h2 { font-size: 17px; margin: 0 0 10px; }
h3 { font-size: 14px; margin: 12px 0 6px; color: #545b64; }
section { background: #fff; border-radius: 8px; box-shadow: 0 1px 2px rgba(0,28,36,.3); padding: 14px 18px; margin-bottom: 16px; }
a { color: #0073bb; }
table { border-collapse: collapse; width: 100%; font-size: 13px; }
th, td { border-bottom: 1px solid #eaeded; padding: 6px 8px; text-align: left; vertical-align: top; }
th { background: #fafafa; color: #545b64; font-weight: 600; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
dl.summary { display: grid; grid-template-columns: max-content 1fr; gap: 4px 16px; margin: 0; font-size: 14px; }
dl.summary dt { color: #545b64; }
dl.summary dd { margin: 0; word-break: break-all; }
pre { background: #fafafa; border: 1px solid #eaeded; padding: 8px; margin: 6px 0 0; max-height: 320px; overflow: auto; white-space: pre-wrap; word-break: break-all; font-size: 12px; }
details summary { cursor: pointer; font-family: ui-monospace, monospace; font-size: 12px; max-width: 360px; overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }
.muted { color: #687078; }
.succeeded { --fill: #e9f6e7; --line: #1d8102; }
.failed { --fill: #fdecea; --line: #d13212; }
.caught { --fill: #fff1dd; --line: #ec7211; }
.running { --fill: #e6f2fb; --line: #0073bb; }
.not-run { --fill: #f4f4f4; --line: #95a5a6; }
.badge { display: inline-block; padding: 1px 8px; border-radius: 10px; background: var(--fill); color: var(--line); border: 1px solid var(--line); font-weight: 600; font-size: 12px; white-space: nowrap; }
.legend { display: flex; flex-wrap: wrap; gap: 18px; font-size: 13px; margin: 0 0 8px; padding: 0; list-style: none; }
.swatch { display: inline-block; width: 14px; height: 14px; border-radius: 3px; background: var(--fill); border: 2px solid var(--line); vertical-align: -3px; margin-right: 6px; }
figure { margin: 0; }
figcaption { font-size: 13px; color: #545b64; margin-bottom: 4px; }
.diagrams { display: flex; flex-wrap: wrap; gap: 12px 32px; align-items: flex-start; overflow-x: auto; }
.state rect { fill: var(--fill); stroke: var(--line); stroke-width: 2; }
.state.not-run rect { stroke-dasharray: 5 3; }
.state.running rect { stroke-width: 3; }
.state text { text-anchor: middle; }
.state text.name { font-size: 13px; font-weight: 600; fill: #16191f; }
.state.not-run text.name { fill: #687078; }
.state text.type { font-size: 11px; fill: #545b64; }
.edge path, .start path { fill: none; stroke: #879596; stroke-width: 1.5; }
.edge.choice path { stroke: #5f6b7a; }
.edge.default path { stroke-dasharray: 3 3; }
.edge.catch path { stroke: #ec7211; stroke-dasharray: 6 4; }
.edge text { font-size: 11px; text-anchor: middle; fill: #545b64; paint-order: stroke; stroke: #fff; stroke-width: 4px; stroke-linejoin: round; }
.head path { fill: #879596; }
.head.choice path { fill: #5f6b7a; }
.head.catch path { fill: #ec7211; }
.start circle { fill: #16191f; }
.start text { font-size: 11px; fill: #545b64; }
";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markup_characters_become_entities() {
        assert_eq!(
            escape(r#"<script>alert("x" & 'y')</script>"#),
            "&lt;script&gt;alert(&quot;x&quot; &amp; &#39;y&#39;)&lt;/script&gt;"
        );
    }

    #[test]
    fn execution_paths_round_trip() {
        let arn = "arn:aws:states:us-east-1:123456789012:execution:m:run é+1";
        let path = execution_path(arn);
        assert_eq!(
            path,
            "/console/executions/arn:aws:states:us-east-1:123456789012:execution:m:run%20%C3%A9%2B1"
        );
        let segment = path.strip_prefix(EXECUTION_PATH).unwrap();
        assert_eq!(percent_decode(segment).as_deref(), Some(arn));
        assert_eq!(percent_decode("bad%2"), None);
        assert_eq!(percent_decode("%FF"), None);
    }
}
