//! The state machine drawn as inline SVG: one diagram per block (the
//! machine, then each Parallel branch and Map item processor), states as
//! boxes coloured by their outcome, transitions as arrows (`Next`, each
//! Choice rule, `Default`, each Catcher).
//!
//! `layout` places the boxes; this file turns the validated model the
//! executor runs into what `layout` sees, and draws the result, so the
//! diagram shows exactly the transitions an execution can take.

use std::collections::HashMap;
use std::fmt::Write;

use super::html::escape;
use super::layout::{self, BOX_HEIGHT, Graph, LOOP_ROOM, Layout, Placed, Point, START_ROOM};
use super::outcome::Outcome;
use crate::asl::{Block, Kind, State, StateMachine};

/// Names longer than this are cut in the box (the tooltip has them whole).
const NAME_CHARS: usize = 34;

/// What kind of transition an arrow is; also its CSS class.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum EdgeKind {
    Next,
    Choice,
    Default,
    Catch,
}

impl EdgeKind {
    fn class(self) -> &'static str {
        match self {
            Self::Next => "next",
            Self::Choice => "choice",
            Self::Default => "default",
            Self::Catch => "catch",
        }
    }
}

/// One arrow: the transitions from one state to another, their labels
/// joined when several lead to the same state (a rule and the Default).
#[derive(Debug)]
struct Edge<'a> {
    from: &'a str,
    to: &'a str,
    kind: EdgeKind,
    label: String,
}

/// Every block of a machine with its heading: the machine itself first,
/// then the blocks inside its states, depth first in layout order.
pub(super) fn blocks(machine: &StateMachine) -> Vec<(String, &Block)> {
    let mut out = vec![(format!("State machine {}", machine.name), &machine.root)];
    add_inner_blocks(&machine.root, &mut out);
    out
}

fn add_inner_blocks<'a>(block: &'a Block, out: &mut Vec<(String, &'a Block)>) {
    let edges = edges(block);
    for name in layout::rows(&graph(block, &edges)).into_iter().flatten() {
        let inner: Vec<(String, &Block)> = match &block.states[name].kind {
            Kind::Parallel { branches } => branches
                .iter()
                .enumerate()
                .map(|(i, b)| {
                    (
                        format!("{name} · branch {} of {}", i + 1, branches.len()),
                        b,
                    )
                })
                .collect(),
            Kind::Map(spec) => vec![(format!("{name} · item processor"), &spec.processor)],
            _ => Vec::new(),
        };
        for (heading, inner_block) in inner {
            out.push((heading, inner_block));
            add_inner_blocks(inner_block, out);
        }
    }
}

/// Where a state can go, in the order the definition lists it. This is
/// the reading `asl::graph::transitions` makes of a definition's JSON,
/// made here of the validated model that the registry keeps and the
/// executor runs (the JSON reading is private to `asl`, for definitions
/// that cannot be parsed yet).
fn transitions(state: &State) -> Vec<(&str, EdgeKind, String)> {
    let mut out = Vec::new();
    match &state.kind {
        Kind::Choice { choices, default } => {
            for (i, (_, next)) in choices.iter().enumerate() {
                out.push((next.as_str(), EdgeKind::Choice, format!("Choices[{i}]")));
            }
            if let Some(default) = default {
                out.push((default.as_str(), EdgeKind::Default, "Default".to_owned()));
            }
        }
        _ => {
            if let Some(next) = &state.next {
                out.push((next.as_str(), EdgeKind::Next, String::new()));
            }
        }
    }
    for catcher in &state.catch {
        let label = format!("Catch {}", catcher.error_equals.join(", "));
        out.push((catcher.next.as_str(), EdgeKind::Catch, label));
    }
    out
}

/// The arrows of a block, merged per pair of states, state by state in
/// name order and each state's in the order the definition lists them.
fn edges(block: &Block) -> Vec<Edge<'_>> {
    let mut states: Vec<(&String, &State)> = block.states.iter().collect();
    states.sort_unstable_by_key(|(name, _)| *name);
    let mut edges: Vec<Edge<'_>> = Vec::new();
    for (from, state) in states {
        for (to, kind, label) in transitions(state) {
            let Some((to, _)) = block.states.get_key_value(to) else {
                continue;
            };
            match edges.iter_mut().find(|e| e.from == from && e.to == to) {
                Some(edge) if edge.label.is_empty() => edge.label = label,
                Some(edge) => edge.label = format!("{} / {label}", edge.label),
                None => edges.push(Edge {
                    from,
                    to,
                    kind,
                    label,
                }),
            }
        }
    }
    edges
}

/// What the layout sees of a block: names, arrows, and a box width that
/// fits the longest name shown.
fn graph<'a>(block: &'a Block, edges: &[Edge<'a>]) -> Graph<'a> {
    let longest = block
        .states
        .keys()
        .map(|n| n.chars().count().min(NAME_CHARS))
        .max()
        .unwrap_or(0);
    Graph {
        start: &block.start_at,
        names: block.states.keys().map(String::as_str).collect(),
        arrows: edges.iter().map(|e| (e.from, e.to)).collect(),
        box_width: (longest as f64 * 7.6 + 32.0).clamp(120.0, 300.0),
    }
}

/// A block's diagram. `id` keeps the arrowheads' ids apart between the
/// diagrams of one page.
pub(super) fn svg(block: &Block, outcomes: &HashMap<&str, Outcome>, id: usize) -> String {
    let edges = edges(block);
    let layout = layout::layout(&graph(block, &edges));
    let (width, height) = (layout.width, layout.height);
    let mut out = String::new();
    let _ = write!(
        out,
        r#"<svg class="diagram" xmlns="http://www.w3.org/2000/svg" width="{width:.0}" height="{height:.0}" viewBox="0 0 {width:.0} {height:.0}" role="img">"#
    );
    out.push_str(&markers(id));
    if let Some(start) = layout.boxes.get(block.start_at.as_str()) {
        out.push_str(&start_marker(start, id));
    }
    for (i, edge) in edges.iter().enumerate() {
        out.push_str(&arrow(edge, i, &layout, id));
    }
    for name in &layout.order {
        let outcome = outcomes.get(name).copied().unwrap_or(Outcome::NotRun);
        out.push_str(&state_box(
            &block.states[*name],
            layout.boxes[name],
            outcome,
        ));
    }
    out.push_str("</svg>");
    out
}

/// The arrowheads, one per kind so each takes its arrow's colour.
fn markers(id: usize) -> String {
    let mut out = String::from("<defs>");
    for kind in [
        EdgeKind::Next,
        EdgeKind::Choice,
        EdgeKind::Default,
        EdgeKind::Catch,
    ] {
        let _ = write!(
            out,
            r#"<marker id="d{id}-{k}" class="head {k}" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z"/></marker>"#,
            k = kind.class()
        );
    }
    out.push_str("</defs>");
    out
}

fn start_marker(start: &Placed, id: usize) -> String {
    let x = start.center_x();
    let top = start.y - START_ROOM + 8.0;
    format!(
        r#"<g class="start"><circle cx="{x:.1}" cy="{top:.1}" r="7"/><text x="{tx:.1}" y="{ty:.1}">Start</text><path class="edge next" d="M{x:.1},{from:.1} L{x:.1},{to:.1}" marker-end="url(#d{id}-next)"/></g>"#,
        tx = x + 12.0,
        ty = top + 4.0,
        from = top + 7.0,
        to = start.y - 2.0,
    )
}

/// One arrow with its label: down to a later row (through its passages),
/// along the bottom to a state of the same row, or round the right-hand
/// side back up.
fn arrow(edge: &Edge<'_>, index: usize, layout: &Layout<'_>, id: usize) -> String {
    let (from, to) = (layout.boxes[edge.from], layout.boxes[edge.to]);
    let (path, label) = if to.row > from.row {
        let passages = layout.passages.get(&index).map_or(&[][..], Vec::as_slice);
        downward(from, to, passages)
    } else {
        let curve = if to.row == from.row && edge.from != edge.to {
            along_the_bottom(from, to)
        } else {
            round_the_side(from, to)
        };
        let start = format!("M{:.1},{:.1}", curve[0].x, curve[0].y);
        (start + &curve_to(&curve), point_at(&curve, 0.5))
    };
    let kind = edge.kind.class();
    format!(
        r#"<g class="edge {kind}"><path d="{path}" marker-end="url(#d{id}-{kind})"/><text x="{:.1}" y="{:.1}">{}</text></g>"#,
        label.x,
        label.y + 4.0,
        escape(&edge.label),
    )
}

/// An arrow down, bending between rows and straight through its passages,
/// with its label's place on its first bend.
fn downward(from: Placed, to: Placed, passages: &[Point]) -> (String, Point) {
    let mut at = Point {
        x: from.center_x(),
        y: from.y + BOX_HEIGHT,
    };
    let mut path = format!("M{:.1},{:.1}", at.x, at.y);
    let mut label = None;
    let end = Point {
        x: to.center_x(),
        y: to.y - 2.0,
    };
    for passage in passages.iter().chain([&end]) {
        let curve = bend(at, *passage);
        // Arrows that leave one state together part towards their ends,
        // so the label sits near the end of the first bend, where they
        // are furthest apart.
        label.get_or_insert(point_at(&curve, 0.75));
        path.push_str(&curve_to(&curve));
        at = Point {
            y: passage.y + BOX_HEIGHT,
            ..*passage
        };
        if passage != &end {
            let _ = write!(path, " L{:.1},{:.1}", at.x, at.y);
        }
    }
    (path, label.unwrap_or(end))
}

/// An S-shaped curve from `a` down to `b`.
fn bend(a: Point, b: Point) -> [Point; 4] {
    let middle = (a.y + b.y) / 2.0;
    [a, Point { y: middle, ..a }, Point { y: middle, ..b }, b]
}

fn along_the_bottom(from: Placed, to: Placed) -> [Point; 4] {
    let start = Point {
        x: from.center_x(),
        y: from.y + BOX_HEIGHT,
    };
    let end = Point {
        x: to.center_x(),
        y: to.y + BOX_HEIGHT + 2.0,
    };
    [
        start,
        Point {
            y: start.y + 40.0,
            ..start
        },
        Point {
            y: end.y + 40.0,
            ..end
        },
        end,
    ]
}

fn round_the_side(from: Placed, to: Placed) -> [Point; 4] {
    let start = Point {
        x: from.x + from.width,
        y: from.y + BOX_HEIGHT / 2.0,
    };
    let end = Point {
        x: to.x + to.width + 2.0,
        y: to.y + BOX_HEIGHT / 2.0,
    };
    let side = start.x.max(end.x) + LOOP_ROOM * 0.7;
    [
        start,
        Point { x: side, ..start },
        Point { x: side, ..end },
        end,
    ]
}

/// The path command of a curve from its first point.
fn curve_to(curve: &[Point; 4]) -> String {
    let [_, b, c, d] = curve;
    format!(
        " C{:.1},{:.1} {:.1},{:.1} {:.1},{:.1}",
        b.x, b.y, c.x, c.y, d.x, d.y
    )
}

/// The point of a cubic Bézier curve at `t` (0 at its start, 1 at its end).
fn point_at(curve: &[Point; 4], t: f64) -> Point {
    let u = 1.0 - t;
    let weights = [u * u * u, 3.0 * u * u * t, 3.0 * u * t * t, t * t * t];
    let mut point = Point { x: 0.0, y: 0.0 };
    for (p, w) in curve.iter().zip(weights) {
        point.x += p.x * w;
        point.y += p.y * w;
    }
    point
}

/// A state's box: its name and type, coloured by its outcome, with a
/// tooltip that names it whole.
fn state_box(state: &State, at: Placed, outcome: Outcome) -> String {
    let name = escape(&state.name);
    let shown: String = if state.name.chars().count() > NAME_CHARS {
        let cut: String = state.name.chars().take(NAME_CHARS - 1).collect();
        escape(&format!("{cut}…"))
    } else {
        name.clone()
    };
    let kind = type_label(&state.kind);
    format!(
        r#"<g class="state {class}" data-state="{name}"><title>{name} ({kind}): {label}</title><rect x="{x:.1}" y="{y:.1}" width="{w:.1}" height="{h:.1}" rx="8"/><text class="name" x="{cx:.1}" y="{ny:.1}">{shown}</text><text class="type" x="{cx:.1}" y="{ty:.1}">{kind}</text></g>"#,
        class = outcome.class(),
        label = outcome.label(),
        x = at.x,
        y = at.y,
        w = at.width,
        h = BOX_HEIGHT,
        cx = at.center_x(),
        ny = at.y + 19.0,
        ty = at.y + 34.0,
    )
}

/// The state's `Type` as the definition spells it. The history's event
/// names spell it the same way, but a state that never ran has no events,
/// so it is read from the model here.
fn type_label(kind: &Kind) -> &'static str {
    match kind {
        Kind::Pass { .. } => "Pass",
        Kind::Task { .. } => "Task",
        Kind::Choice { .. } => "Choice",
        Kind::Wait(_) => "Wait",
        Kind::Succeed => "Succeed",
        Kind::Fail { .. } => "Fail",
        Kind::Parallel { .. } => "Parallel",
        Kind::Map(_) => "Map",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn machine(definition: serde_json::Value) -> StateMachine {
        StateMachine::new("m", &definition.to_string(), &HashMap::new()).expect("valid")
    }

    fn looping() -> StateMachine {
        machine(serde_json::json!({"StartAt": "A", "States": {
            "A": {"Type": "Pass", "Next": "Route"},
            "Route": {"Type": "Choice", "Choices": [
                {"Variable": "$.again", "BooleanEquals": true, "Next": "A"},
                {"Variable": "$.fail", "BooleanEquals": true, "Next": "Try"}
            ], "Default": "Done"},
            "Try": {"Type": "Parallel", "Next": "Done",
                    "Branches": [{"StartAt": "Boom", "States": {"Boom": {"Type": "Fail"}}}],
                    "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "Done"}]},
            "Done": {"Type": "Succeed"}
        }}))
    }

    #[test]
    fn every_transition_is_one_labelled_arrow_per_pair_of_states() {
        let machine = looping();
        let edges = edges(&machine.root);
        let arrows: Vec<(&str, &str, EdgeKind, &str)> = edges
            .iter()
            .map(|e| (e.from, e.to, e.kind, e.label.as_str()))
            .collect();
        assert_eq!(
            arrows,
            [
                ("A", "Route", EdgeKind::Next, ""),
                ("Route", "A", EdgeKind::Choice, "Choices[0]"),
                ("Route", "Try", EdgeKind::Choice, "Choices[1]"),
                ("Route", "Done", EdgeKind::Default, "Default"),
                ("Try", "Done", EdgeKind::Next, "Catch States.ALL"),
            ]
        );
    }

    #[test]
    fn inner_blocks_follow_the_machine_with_headings() {
        let machine = looping();
        let headings: Vec<String> = blocks(&machine).into_iter().map(|(h, _)| h).collect();
        assert_eq!(headings, ["State machine m", "Try · branch 1 of 1"]);
    }

    #[test]
    fn each_box_carries_its_outcome_class() {
        let machine = looping();
        let outcomes = HashMap::from([("A", Outcome::Succeeded), ("Route", Outcome::Running)]);
        let svg = svg(&machine.root, &outcomes, 0);
        assert!(
            svg.contains(r#"<g class="state succeeded" data-state="A">"#),
            "{svg}"
        );
        assert!(svg.contains(r#"<g class="state running" data-state="Route">"#));
        assert!(svg.contains(r#"<g class="state not-run" data-state="Done">"#));
        assert!(svg.contains(">Catch States.ALL</text>"));
    }
}
