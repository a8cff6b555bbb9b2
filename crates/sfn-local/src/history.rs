//! Execution history in the shape of `GetExecutionHistory`: numbered events
//! with `previousEventId`, a timestamp, a type such as `TaskStateEntered`,
//! and the matching `*EventDetails` object.
//!
//! Events from Parallel branches and Map iterations interleave in one
//! history, as in AWS; each thread links its events through
//! `previousEventId` to its own previous event.

use std::sync::Mutex;

use chrono::{DateTime, SecondsFormat, Utc};
use serde::ser::{Serialize, SerializeMap, Serializer};
use serde_json::Value;

/// One history event.
#[derive(Debug, Clone, PartialEq)]
pub struct HistoryEvent {
    /// The event's id, from 1.
    pub id: u64,
    /// The id of the event before it in the same thread; 0 for the first.
    pub previous_event_id: u64,
    /// When it happened (on the execution's clock).
    pub timestamp: DateTime<Utc>,
    /// `ExecutionStarted`, `PassStateEntered`, `LambdaFunctionFailed`, ...
    pub event_type: String,
    /// The `*EventDetails` object, if the type has one.
    pub details: Option<Value>,
}

impl HistoryEvent {
    /// The name of the details field for this event type, following the
    /// API's naming (`stateEnteredEventDetails` for every `*StateEntered`).
    pub(crate) fn details_key(&self) -> String {
        let t = self.event_type.as_str();
        if t.ends_with("StateEntered") {
            return "stateEnteredEventDetails".to_owned();
        }
        if t.ends_with("StateExited") {
            return "stateExitedEventDetails".to_owned();
        }
        let mut chars = t.chars();
        let first = chars.next().map(|c| c.to_ascii_lowercase()).into_iter();
        first.chain(chars).collect::<String>() + "EventDetails"
    }
}

impl Serialize for HistoryEvent {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(None)?;
        map.serialize_entry(
            "timestamp",
            &self.timestamp.to_rfc3339_opts(SecondsFormat::Millis, true),
        )?;
        map.serialize_entry("type", &self.event_type)?;
        map.serialize_entry("id", &self.id)?;
        map.serialize_entry("previousEventId", &self.previous_event_id)?;
        if let Some(details) = &self.details {
            map.serialize_entry(&self.details_key(), details)?;
        }
        map.end()
    }
}

/// Step Functions' quota of history events per Standard execution: an
/// execution that reaches it fails, so a definition that loops forever
/// stops here, with its memory bounded.
pub const MAX_HISTORY_EVENTS: usize = 25_000;

/// The growing history of one execution, shared by its threads.
#[derive(Debug, Default)]
pub(crate) struct History {
    events: Mutex<Vec<HistoryEvent>>,
}

impl History {
    /// Appends an event and returns its id.
    pub(crate) fn record(
        &self,
        previous: u64,
        timestamp: DateTime<Utc>,
        event_type: &str,
        details: Option<Value>,
    ) -> u64 {
        let mut events = self.events.lock().unwrap_or_else(|e| e.into_inner());
        let id = events.len() as u64 + 1;
        events.push(HistoryEvent {
            id,
            previous_event_id: previous,
            timestamp,
            event_type: event_type.to_owned(),
            details,
        });
        id
    }

    /// How many events there are so far.
    pub(crate) fn len(&self) -> usize {
        self.events.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    /// A copy of the events so far.
    pub(crate) fn events(&self) -> Vec<HistoryEvent> {
        self.events
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn details_keys_follow_the_api_names() {
        let event = |t: &str| HistoryEvent {
            id: 1,
            previous_event_id: 0,
            timestamp: Utc::now(),
            event_type: t.to_owned(),
            details: Some(json!({})),
        };
        assert_eq!(
            event("TaskStateEntered").details_key(),
            "stateEnteredEventDetails"
        );
        assert_eq!(
            event("MapStateExited").details_key(),
            "stateExitedEventDetails"
        );
        assert_eq!(
            event("LambdaFunctionScheduled").details_key(),
            "lambdaFunctionScheduledEventDetails"
        );
        assert_eq!(
            event("MapIterationStarted").details_key(),
            "mapIterationStartedEventDetails"
        );
        assert_eq!(
            event("ExecutionFailed").details_key(),
            "executionFailedEventDetails"
        );
        let json = serde_json::to_value(event("TaskScheduled")).unwrap();
        assert_eq!(json["type"], "TaskScheduled");
        assert_eq!(json["previousEventId"], 0);
        assert!(json["taskScheduledEventDetails"].is_object());
    }
}
