//! What happened to each state of an execution, read from its history
//! alone: every visit of a state (its `*StateEntered` event, its
//! `*StateExited` event once it left) and how the visit ended, so the
//! console can colour the diagram and list each step's input and output.
//!
//! The history links each event to the one before it in the same thread
//! (`previousEventId`), and a state's own events (`TaskScheduled`,
//! `ParallelStateFailed`, ...) chain back to the state's entered event, so
//! following the links tells which visit an event belongs to, even while
//! Parallel branches and Map iterations interleave.

use std::collections::HashMap;

use crate::history::HistoryEvent;

/// How a state's visit ended, or how its visits ended taken together.
/// The order is the precedence when one state was visited more than once:
/// a state that is running now, or that failed once, shows that.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum Outcome {
    /// Never entered.
    NotRun,
    /// Left normally.
    Succeeded,
    /// Failed, and a Catcher took the failure to another state.
    Caught,
    /// Failed without being caught, or ended with the execution.
    Failed,
    /// Entered and not yet left while the execution goes on.
    Running,
}

impl Outcome {
    /// The CSS class the page colours it with, which the tests read too.
    pub(super) fn class(self) -> &'static str {
        match self {
            Self::NotRun => "not-run",
            Self::Succeeded => "succeeded",
            Self::Caught => "caught",
            Self::Failed => "failed",
            Self::Running => "running",
        }
    }

    /// How the legend and the step table name it.
    pub(super) fn label(self) -> &'static str {
        match self {
            Self::NotRun => "never ran",
            Self::Succeeded => "succeeded",
            Self::Caught => "caught",
            Self::Failed => "failed",
            Self::Running => "running",
        }
    }

    /// Every outcome, in the order the legend lists them.
    pub(super) const ALL: [Self; 5] = [
        Self::Succeeded,
        Self::Failed,
        Self::Caught,
        Self::Running,
        Self::NotRun,
    ];
}

/// One visit of one state.
#[derive(Debug)]
pub(super) struct Visit<'a> {
    /// The state's name.
    pub name: &'a str,
    /// The state's type as the event names spell it (`Pass`, `Task`, ...).
    pub kind: &'a str,
    pub entered: &'a HistoryEvent,
    pub exited: Option<&'a HistoryEvent>,
    pub outcome: Outcome,
}

/// The events of one execution, each with the visit it belongs to.
pub(super) struct Reading<'a> {
    events: &'a [HistoryEvent],
    by_id: HashMap<u64, &'a HistoryEvent>,
    /// For each event that belongs to a visit, the id of the visit's
    /// entered event. Execution events and the events between states
    /// belong to none.
    owner: HashMap<u64, u64>,
    /// For each visit (by its entered event's id), its other events in
    /// order.
    own: HashMap<u64, Vec<&'a HistoryEvent>>,
}

impl<'a> Reading<'a> {
    pub(super) fn new(events: &'a [HistoryEvent]) -> Self {
        let mut reading = Self {
            events,
            by_id: events.iter().map(|e| (e.id, e)).collect(),
            owner: HashMap::with_capacity(events.len()),
            own: HashMap::new(),
        };
        // An event's previous event always has a smaller id, so in id
        // order each event finds its predecessor's owner already known.
        for event in events {
            if let Some(entered) = reading.owner_of(event) {
                reading.owner.insert(event.id, entered);
                if entered != event.id {
                    reading.own.entry(entered).or_default().push(event);
                }
            }
        }
        reading
    }

    /// The visit an event belongs to, given the owners of the events
    /// before it.
    fn owner_of(&self, event: &HistoryEvent) -> Option<u64> {
        let t = event.event_type.as_str();
        if t.ends_with("StateEntered") {
            return Some(event.id);
        }
        if t.starts_with("Execution") {
            return None;
        }
        let previous = self.by_id.get(&event.previous_event_id)?;
        // An exit closes its visit: what follows it in the thread (a Map
        // iteration's end, say) belongs to no state, while the exit itself
        // belongs to the visit its predecessor does.
        if previous.event_type.ends_with("StateExited") {
            return None;
        }
        self.owner.get(&previous.id).copied()
    }

    /// The name of the state an event belongs to, if it belongs to one.
    /// An event after an exit that names a state itself (a Map
    /// iteration's end names its Map) belongs to that state.
    pub(super) fn state_of(&self, event: &'a HistoryEvent) -> Option<&'a str> {
        match self.owner.get(&event.id) {
            Some(entered) => detail(self.by_id.get(entered)?, "name"),
            None if event.event_type.starts_with("Execution") => None,
            None => detail(event, "name"),
        }
    }

    /// Every visit, in the order the states were entered.
    pub(super) fn visits(&self) -> Vec<Visit<'a>> {
        let ended_at = self.events.iter().rev().find(|e| ends_execution(e));
        self.events
            .iter()
            .filter(|e| e.event_type.ends_with("StateEntered"))
            .map(|entered| self.visit(entered, ended_at.map(|e| e.id)))
            .collect()
    }

    fn visit(&self, entered: &'a HistoryEvent, ended_at: Option<u64>) -> Visit<'a> {
        let own = self.own.get(&entered.id).map_or(&[][..], Vec::as_slice);
        let exited = own
            .iter()
            .copied()
            .find(|e| e.event_type.ends_with("StateExited"));
        let kind = entered.event_type.trim_end_matches("StateEntered");
        let outcome = match exited {
            Some(exited) if self.follows_failure(exited) => Outcome::Caught,
            Some(_) => Outcome::Succeeded,
            None if kind == "Fail" => Outcome::Failed,
            None if own.last().is_some_and(|e| is_failure(&e.event_type)) => Outcome::Failed,
            None if ended_at.is_some_and(|end| end > entered.id) => Outcome::Failed,
            None => Outcome::Running,
        };
        Visit {
            name: detail(entered, "name").unwrap_or_default(),
            kind,
            entered,
            exited,
            outcome,
        }
    }

    /// Whether the event just before an exit in its thread is a failure:
    /// a state that leaves right after failing left through a Catcher.
    fn follows_failure(&self, exited: &HistoryEvent) -> bool {
        self.by_id
            .get(&exited.previous_event_id)
            .is_some_and(|e| is_failure(&e.event_type))
    }
}

/// The outcome of each state that ran, over all its visits.
pub(super) fn by_state<'a>(visits: &[Visit<'a>]) -> HashMap<&'a str, Outcome> {
    let mut outcomes: HashMap<&str, Outcome> = HashMap::new();
    for visit in visits {
        let outcome = outcomes.entry(visit.name).or_insert(visit.outcome);
        *outcome = (*outcome).max(visit.outcome);
    }
    outcomes
}

/// A string member of an event's details.
fn detail<'a>(event: &'a HistoryEvent, key: &str) -> Option<&'a str> {
    event.details.as_ref()?.get(key)?.as_str()
}

/// `TaskFailed`, `LambdaFunctionTimedOut`, `ParallelStateFailed`, ...
fn is_failure(event_type: &str) -> bool {
    event_type.ends_with("Failed") || event_type.ends_with("TimedOut")
}

/// The events after which nothing of the execution runs, until a redrive.
fn ends_execution(event: &HistoryEvent) -> bool {
    matches!(
        event.event_type.as_str(),
        "ExecutionSucceeded" | "ExecutionFailed" | "ExecutionAborted" | "ExecutionTimedOut"
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Utc;
    use serde_json::json;

    /// An event whose details, when it has a state name, name `name`.
    fn event(id: u64, previous: u64, event_type: &str, name: Option<&str>) -> HistoryEvent {
        HistoryEvent {
            id,
            previous_event_id: previous,
            timestamp: Utc::now(),
            event_type: event_type.to_owned(),
            details: name.map(|n| json!({"name": n})),
        }
    }

    /// A Pass, then a Parallel whose only branch fails and whose Catcher
    /// goes on to a Wait that is still waiting.
    fn caught_then_waiting() -> Vec<HistoryEvent> {
        vec![
            event(1, 0, "ExecutionStarted", None),
            event(2, 1, "PassStateEntered", Some("Prepare")),
            event(3, 2, "PassStateExited", Some("Prepare")),
            event(4, 3, "ParallelStateEntered", Some("Attempt")),
            event(5, 4, "ParallelStateStarted", None),
            event(6, 5, "FailStateEntered", Some("Explode")),
            event(7, 5, "ParallelStateFailed", None),
            event(8, 7, "ParallelStateExited", Some("Attempt")),
            event(9, 8, "WaitStateEntered", Some("Hold")),
        ]
    }

    #[test]
    fn each_visit_ends_as_its_events_say() {
        let events = caught_then_waiting();
        let reading = Reading::new(&events);
        let outcomes: Vec<(&str, Outcome)> = reading
            .visits()
            .iter()
            .map(|v| (v.name, v.outcome))
            .collect();
        assert_eq!(
            outcomes,
            [
                ("Prepare", Outcome::Succeeded),
                ("Attempt", Outcome::Caught),
                ("Explode", Outcome::Failed),
                ("Hold", Outcome::Running),
            ]
        );
    }

    #[test]
    fn a_state_left_open_when_the_execution_ended_failed() {
        let mut events = caught_then_waiting();
        events.push(event(10, 9, "ExecutionAborted", None));
        let reading = Reading::new(&events);
        let outcomes = by_state(&reading.visits());
        assert_eq!(outcomes["Hold"], Outcome::Failed);
        assert_eq!(outcomes["Attempt"], Outcome::Caught);
    }

    #[test]
    fn events_belong_to_the_visit_they_chain_back_to() {
        let events = caught_then_waiting();
        let reading = Reading::new(&events);
        let state = |id: usize| reading.state_of(&events[id - 1]);
        assert_eq!(state(1), None);
        assert_eq!(state(5), Some("Attempt"));
        assert_eq!(state(6), Some("Explode"));
        assert_eq!(state(7), Some("Attempt"));
        assert_eq!(state(8), Some("Attempt"));
        let after_an_exit = HistoryEvent {
            details: Some(json!({"name": "Each", "index": 0})),
            ..event(10, 3, "MapIterationSucceeded", None)
        };
        assert_eq!(reading.state_of(&after_an_exit), Some("Each"));
    }

    #[test]
    fn a_retried_task_that_succeeds_is_not_caught() {
        let events = vec![
            event(1, 0, "ExecutionStarted", None),
            event(2, 1, "TaskStateEntered", Some("Call")),
            event(3, 2, "TaskScheduled", None),
            event(4, 3, "TaskFailed", None),
            event(5, 4, "TaskScheduled", None),
            event(6, 5, "TaskSucceeded", None),
            event(7, 6, "TaskStateExited", Some("Call")),
            event(8, 7, "ExecutionSucceeded", None),
        ];
        let reading = Reading::new(&events);
        assert_eq!(by_state(&reading.visits())["Call"], Outcome::Succeeded);
    }
}
