//! The layered layout of one diagram, which sees names and arrows only:
//! which row each state goes in, the order along each row, and where
//! every box sits.
//!
//! A state's row is the length of the longest path to it from the start
//! once the arrows that close a loop are cut, so every other arrow points
//! down. An arrow that crosses several rows gets a narrow passage in each
//! row between, so it runs between the boxes rather than behind them. Each
//! row is then ordered by where its arrows come from in the row above
//! (the barycentre heuristic), which keeps crossings few, with ties in
//! breadth-first order, which follows the order of a Choice's rules.

use std::collections::{HashMap, HashSet, VecDeque};

pub(super) const BOX_HEIGHT: f64 = 44.0;
pub(super) const ROW_GAP: f64 = 52.0;
pub(super) const MARGIN: f64 = 24.0;
/// Room above the first row for the start marker.
pub(super) const START_ROOM: f64 = 44.0;
/// Room right of the widest row for the arrows that close loops.
pub(super) const LOOP_ROOM: f64 = 90.0;
const COLUMN_GAP: f64 = 36.0;
/// A passage is narrow, and so is the gap beside it.
const PASSAGE_WIDTH: f64 = 8.0;
const PASSAGE_GAP: f64 = 14.0;

/// What is laid out: the states' names, the arrows between them, and the
/// width every box gets.
pub(super) struct Graph<'a> {
    pub start: &'a str,
    pub names: Vec<&'a str>,
    pub arrows: Vec<(&'a str, &'a str)>,
    pub box_width: f64,
}

/// A point of the drawing.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct Point {
    pub x: f64,
    pub y: f64,
}

/// A state's box.
#[derive(Debug, Clone, Copy)]
pub(super) struct Placed {
    pub x: f64,
    pub y: f64,
    pub width: f64,
    pub row: usize,
}

impl Placed {
    pub(super) fn center_x(&self) -> f64 {
        self.x + self.width / 2.0
    }
}

/// Where everything goes.
pub(super) struct Layout<'a> {
    pub boxes: HashMap<&'a str, Placed>,
    /// For each arrow (by its index in `Graph::arrows`) that crosses rows,
    /// the top of its passage through each row in between, top down.
    pub passages: HashMap<usize, Vec<Point>>,
    /// The states in drawing order: row by row, left to right.
    pub order: Vec<&'a str>,
    pub width: f64,
    pub height: f64,
}

/// One place in a row: a state's box or an arrow's passage.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Slot<'a> {
    State(&'a str),
    Passage(usize),
}

pub(super) fn layout<'a>(graph: &Graph<'a>) -> Layout<'a> {
    let rows = rows(graph);
    let row_of: HashMap<&str, usize> = rows
        .iter()
        .enumerate()
        .flat_map(|(r, names)| names.iter().map(move |n| (*n, r)))
        .collect();
    let mut slots = slots(graph, &rows, &row_of);
    for r in 1..slots.len() {
        order_row(&mut slots, r, graph, &row_of);
    }
    place(graph, &slots)
}

/// The states by row, each row in breadth-first order. States the start
/// does not reach go in a last row, by name.
pub(super) fn rows<'a>(graph: &Graph<'a>) -> Vec<Vec<&'a str>> {
    let (topological, loops) = walk(graph);
    let mut depth: HashMap<&str, usize> = HashMap::new();
    // In topological order every state comes after all the states that
    // lead to it, so its depth is final when it is read.
    for &name in &topological {
        let from = *depth.entry(name).or_insert(0);
        for to in successors(graph, name) {
            if !loops.contains(&(name, to)) {
                let row = depth.entry(to).or_insert(0);
                *row = (*row).max(from + 1);
            }
        }
    }
    let mut rows: Vec<Vec<&str>> = Vec::new();
    for name in breadth_first(graph) {
        let row = depth[name];
        rows.resize_with(rows.len().max(row + 1), Vec::new);
        rows[row].push(name);
    }
    let mut lost: Vec<&str> = graph
        .names
        .iter()
        .copied()
        .filter(|name| !depth.contains_key(name))
        .collect();
    lost.sort_unstable();
    if !lost.is_empty() {
        rows.push(lost);
    }
    rows
}

/// Where a state's arrows go, in order.
fn successors<'a>(graph: &Graph<'a>, name: &str) -> impl Iterator<Item = &'a str> {
    graph
        .arrows
        .iter()
        .filter(move |(from, _)| *from == name)
        .map(|(_, to)| *to)
}

/// A depth-first walk from the start: the states it reaches in a
/// topological order (reverse postorder) of the arrows left once those
/// closing a loop (to a state still on the walk's path) are cut, and those
/// loop-closing arrows.
fn walk<'a>(graph: &Graph<'a>) -> (Vec<&'a str>, HashSet<(&'a str, &'a str)>) {
    let mut postorder = Vec::new();
    let mut loops = HashSet::new();
    let Some(start) = graph.names.iter().copied().find(|n| *n == graph.start) else {
        return (postorder, loops);
    };
    let mut seen = HashSet::from([start]);
    let mut path = HashSet::from([start]);
    let mut stack = vec![(start, successors(graph, start).collect::<Vec<_>>(), 0)];
    while let Some(top) = stack.last_mut() {
        let name = top.0;
        let next = top.1.get(top.2).copied();
        top.2 += 1;
        match next {
            Some(to) if path.contains(to) => {
                loops.insert((name, to));
            }
            Some(to) if seen.insert(to) => {
                path.insert(to);
                stack.push((to, successors(graph, to).collect(), 0));
            }
            Some(_) => {}
            None => {
                path.remove(name);
                postorder.push(name);
                stack.pop();
            }
        }
    }
    postorder.reverse();
    (postorder, loops)
}

/// The states the start reaches, breadth first.
fn breadth_first<'a>(graph: &Graph<'a>) -> Vec<&'a str> {
    let mut order = Vec::new();
    let Some(start) = graph.names.iter().copied().find(|n| *n == graph.start) else {
        return order;
    };
    let mut seen = HashSet::from([start]);
    let mut queue = VecDeque::from([start]);
    while let Some(name) = queue.pop_front() {
        order.push(name);
        for to in successors(graph, name) {
            if seen.insert(to) {
                queue.push_back(to);
            }
        }
    }
    order
}

/// The rows' slots: the states, then a passage for each arrow that
/// crosses the row.
fn slots<'a>(
    graph: &Graph<'a>,
    rows: &[Vec<&'a str>],
    row_of: &HashMap<&str, usize>,
) -> Vec<Vec<Slot<'a>>> {
    let mut slots: Vec<Vec<Slot<'a>>> = rows
        .iter()
        .map(|names| names.iter().map(|n| Slot::State(n)).collect())
        .collect();
    for (i, (from, to)) in graph.arrows.iter().enumerate() {
        for row in slots.iter_mut().take(row_of[to]).skip(row_of[from] + 1) {
            row.push(Slot::Passage(i));
        }
    }
    slots
}

/// Orders row `r` by the mean position of what leads into each slot from
/// the row above; a slot that nothing above leads into keeps its place.
fn order_row(
    slots: &mut [Vec<Slot<'_>>],
    r: usize,
    graph: &Graph<'_>,
    row_of: &HashMap<&str, usize>,
) {
    let above: HashMap<Slot<'_>, usize> = slots[r - 1]
        .iter()
        .enumerate()
        .map(|(i, s)| (*s, i))
        .collect();
    let mut keyed: Vec<(f64, Slot<'_>)> = slots[r]
        .iter()
        .enumerate()
        .map(|(i, slot)| {
            let inputs: Vec<usize> = inputs(*slot, r, graph, row_of)
                .iter()
                .filter_map(|s| above.get(s).copied())
                .collect();
            let key = if inputs.is_empty() {
                i as f64
            } else {
                inputs.iter().sum::<usize>() as f64 / inputs.len() as f64
            };
            (key, *slot)
        })
        .collect();
    // A stable sort, so ties keep the breadth-first order.
    keyed.sort_by(|a, b| a.0.total_cmp(&b.0));
    slots[r] = keyed.into_iter().map(|(_, slot)| slot).collect();
}

/// The slots of the row above row `r` that arrows into `slot` come from.
fn inputs<'a>(
    slot: Slot<'a>,
    r: usize,
    graph: &Graph<'a>,
    row_of: &HashMap<&str, usize>,
) -> Vec<Slot<'a>> {
    let upper = |i: usize, from: &'a str| {
        if row_of[from] + 1 == r {
            Slot::State(from)
        } else {
            Slot::Passage(i)
        }
    };
    match slot {
        Slot::State(name) => graph
            .arrows
            .iter()
            .enumerate()
            .filter(|(_, (from, to))| *to == name && row_of[from] < r)
            .map(|(i, (from, _))| upper(i, from))
            .collect(),
        Slot::Passage(i) => vec![upper(i, graph.arrows[i].0)],
    }
}

/// Positions: each row centred on the widest.
fn place<'a>(graph: &Graph<'a>, slots: &[Vec<Slot<'a>>]) -> Layout<'a> {
    let width_of = |slot: &Slot<'_>| match slot {
        Slot::State(_) => graph.box_width,
        Slot::Passage(_) => PASSAGE_WIDTH,
    };
    let gap = |a: &Slot<'_>, b: &Slot<'_>| match (a, b) {
        (Slot::State(_), Slot::State(_)) => COLUMN_GAP,
        _ => PASSAGE_GAP,
    };
    let row_width = |row: &[Slot<'_>]| {
        row.iter().map(width_of).sum::<f64>()
            + row.windows(2).map(|w| gap(&w[0], &w[1])).sum::<f64>()
    };
    let widest = slots.iter().map(|r| row_width(r)).fold(0.0, f64::max);
    let mut layout = Layout {
        boxes: HashMap::new(),
        passages: HashMap::new(),
        order: Vec::new(),
        width: widest + MARGIN * 2.0 + LOOP_ROOM,
        height: MARGIN * 2.0 + START_ROOM + slots.len() as f64 * (BOX_HEIGHT + ROW_GAP) - ROW_GAP,
    };
    for (row, row_slots) in slots.iter().enumerate() {
        let mut x = MARGIN + (widest - row_width(row_slots)) / 2.0;
        let y = MARGIN + START_ROOM + row as f64 * (BOX_HEIGHT + ROW_GAP);
        for (i, slot) in row_slots.iter().enumerate() {
            match slot {
                Slot::State(name) => {
                    let width = graph.box_width;
                    layout.boxes.insert(name, Placed { x, y, width, row });
                    layout.order.push(name);
                }
                Slot::Passage(arrow) => {
                    let top = Point {
                        x: x + PASSAGE_WIDTH / 2.0,
                        y,
                    };
                    layout.passages.entry(*arrow).or_default().push(top);
                }
            }
            x += width_of(slot) + row_slots.get(i + 1).map_or(0.0, |next| gap(slot, next));
        }
    }
    layout
}

#[cfg(test)]
mod tests {
    use super::*;

    fn graph<'a>(start: &'a str, arrows: &[(&'a str, &'a str)]) -> Graph<'a> {
        let mut names: Vec<&str> = arrows.iter().flat_map(|(a, b)| [*a, *b]).collect();
        names.sort_unstable();
        names.dedup();
        Graph {
            start,
            names,
            arrows: arrows.to_vec(),
            box_width: 100.0,
        }
    }

    #[test]
    fn rows_are_longest_paths_with_loops_cut() {
        let g = graph(
            "A",
            &[
                ("A", "Route"),
                ("Route", "A"),
                ("Route", "Try"),
                ("Route", "Done"),
                ("Try", "Done"),
            ],
        );
        assert_eq!(
            rows(&g),
            vec![vec!["A"], vec!["Route"], vec!["Try"], vec!["Done"]]
        );
        assert_eq!(walk(&g).1, HashSet::from([("Route", "A")]));
    }

    #[test]
    fn a_row_keeps_the_order_of_the_arrows_that_lead_to_it() {
        let g = graph("R", &[("R", "First"), ("R", "Second"), ("R", "Third")]);
        assert_eq!(rows(&g), vec![vec!["R"], vec!["First", "Second", "Third"]]);
    }

    #[test]
    fn an_arrow_across_rows_passes_between_the_boxes() {
        // R -> Far skips the row of Near, so it gets a passage there.
        let g = graph("R", &[("R", "Near"), ("R", "Far"), ("Near", "Far")]);
        let layout = layout(&g);
        let passage = layout.passages[&1][0];
        let near = layout.boxes["Near"];
        assert_eq!(passage.y, near.y);
        assert!(
            passage.x < near.x || passage.x > near.x + near.width,
            "{passage:?} is behind {near:?}"
        );
        assert_eq!(layout.order, ["R", "Near", "Far"]);
    }

    #[test]
    fn states_the_start_does_not_reach_are_in_a_last_row() {
        let mut g = graph("A", &[("A", "B")]);
        g.names.push("Lost");
        assert_eq!(rows(&g), vec![vec!["A"], vec!["B"], vec!["Lost"]]);
    }
}
