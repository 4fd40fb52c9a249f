//! Label values with a bound. Namespaces are bounded by the namespaces that
//! exist (a name nobody registered never becomes a label value); task-queue
//! names are chosen by tenants, so at most [`MAX_TASK_QUEUE_LABELS`] of them
//! become label values per process and the rest share one.
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

/// Temporal's value for a namespace or task queue that is missing or cannot
/// be named (a request for a namespace that does not exist, an RPC that
/// names none).
pub const UNKNOWN: &str = "_unknown_";
/// The task-queue label value of every queue past the cap.
pub const OVERFLOW_TASK_QUEUE: &str = "__other__";
/// The task-queue label value of every sticky queue (one per worker
/// process, named by the worker: never worth a series each).
pub const STICKY_TASK_QUEUE: &str = "__sticky__";
/// Distinct (namespace, task queue) pairs that become label values in one
/// process. Once admitted a pair keeps its label until the process restarts,
/// so its counters stay cumulative.
pub const MAX_TASK_QUEUE_LABELS: usize = 1000;

/// Namespace ids and names, both ways.
#[derive(Default)]
pub(crate) struct Names {
    by_name: HashMap<String, Arc<str>>,
    by_id: HashMap<Arc<str>, String>,
}

impl Names {
    pub(crate) fn id_of(&self, name: &str) -> Option<Arc<str>> {
        self.by_name.get(name).cloned()
    }

    pub(crate) fn name_of(&self, id: &str) -> Option<&str> {
        self.by_id.get(id).map(String::as_str)
    }

    pub(crate) fn contains_id(&self, id: &str) -> bool {
        self.by_id.contains_key(id)
    }

    pub(crate) fn knows(&self, id: &str, name: &str) -> bool {
        self.by_id.get(id).is_some_and(|n| n == name)
    }

    pub(crate) fn insert(&mut self, id: &str, name: &str) {
        let id: Arc<str> = Arc::from(id);
        if let Some(old) = self.by_id.insert(id.clone(), name.to_string()) {
            self.by_name.remove(&old);
        }
        // A name reused by a new namespace: the old id loses it.
        if let Some(old_id) = self.by_name.insert(name.to_string(), id.clone())
            && old_id != id
        {
            self.by_id.remove(&old_id);
        }
    }

    pub(crate) fn replace(pairs: impl IntoIterator<Item = (String, String)>) -> Self {
        let mut names = Self::default();
        for (id, name) in pairs {
            names.insert(&id, &name);
        }
        names
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.by_id.len()
    }
}

/// The task-queue label values admitted so far.
#[derive(Default)]
pub(crate) struct TaskQueueLabels {
    admitted: HashSet<(Arc<str>, Arc<str>)>,
    cap: Option<usize>,
}

impl TaskQueueLabels {
    #[cfg(test)]
    pub(crate) fn with_cap(cap: usize) -> Self {
        Self {
            admitted: HashSet::new(),
            cap: Some(cap),
        }
    }

    /// The label value of `task_queue` in namespace `namespace_id`.
    pub(crate) fn label(&mut self, namespace_id: &str, task_queue: &str, sticky: bool) -> Arc<str> {
        if sticky {
            return Arc::from(STICKY_TASK_QUEUE);
        }
        if task_queue.is_empty() {
            return Arc::from(UNKNOWN);
        }
        let key: (Arc<str>, Arc<str>) = (Arc::from(namespace_id), Arc::from(task_queue));
        if self.admitted.contains(&key) {
            return key.1;
        }
        if self.admitted.len() >= self.cap.unwrap_or(MAX_TASK_QUEUE_LABELS) {
            return Arc::from(OVERFLOW_TASK_QUEUE);
        }
        self.admitted.insert(key.clone());
        key.1
    }

    /// The label value of an admitted queue, without admitting one: for
    /// queues seen only empty (a worker's sticky queue polled before any
    /// task is known to be sticky), which must not use up the cap.
    pub(crate) fn existing(&self, namespace_id: &str, task_queue: &str) -> Option<Arc<str>> {
        let key: (Arc<str>, Arc<str>) = (Arc::from(namespace_id), Arc::from(task_queue));
        self.admitted.get(&key).map(|(_, q)| q.clone())
    }

    #[cfg(test)]
    pub(crate) fn admitted(&self) -> usize {
        self.admitted.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn task_queue_labels_stop_growing_at_the_cap_and_keep_those_admitted() {
        let mut labels = TaskQueueLabels::with_cap(3);
        for i in 0..3 {
            assert_eq!(
                &*labels.label("ns", &format!("q{i}"), false),
                format!("q{i}")
            );
        }
        // A tenant inventing queue names gets one shared value past the cap.
        for i in 3..1000 {
            assert_eq!(
                &*labels.label("ns", &format!("q{i}"), false),
                OVERFLOW_TASK_QUEUE
            );
        }
        assert_eq!(labels.admitted(), 3);
        assert_eq!(
            &*labels.label("ns", "q1", false),
            "q1",
            "admitted before the cap"
        );
        assert_eq!(
            &*labels.label("other", "q1", false),
            OVERFLOW_TASK_QUEUE,
            "the cap counts (namespace, queue) pairs"
        );
    }

    #[test]
    fn sticky_and_unnamed_queues_take_fixed_values_without_using_the_cap() {
        let mut labels = TaskQueueLabels::with_cap(1);
        assert_eq!(
            &*labels.label("ns", "worker-7f3a-sticky", true),
            STICKY_TASK_QUEUE
        );
        assert_eq!(&*labels.label("ns", "", false), UNKNOWN);
        assert_eq!(labels.admitted(), 0);
        assert_eq!(&*labels.label("ns", "orders", false), "orders");
    }

    #[test]
    fn the_default_cap_is_the_documented_one() {
        let mut labels = TaskQueueLabels::default();
        for i in 0..MAX_TASK_QUEUE_LABELS + 50 {
            labels.label("ns", &format!("q{i}"), false);
        }
        assert_eq!(labels.admitted(), MAX_TASK_QUEUE_LABELS);
    }

    #[test]
    fn names_follow_renames_and_reuse() {
        let mut names = Names::default();
        names.insert("id1", "orders");
        assert_eq!(names.id_of("orders").as_deref(), Some("id1"));
        // The name is taken by another namespace (the first was deleted).
        names.insert("id2", "orders");
        assert_eq!(names.id_of("orders").as_deref(), Some("id2"));
        assert!(!names.contains_id("id1"));
        names.insert("id2", "billing");
        assert_eq!(names.id_of("orders"), None);
        assert_eq!(names.name_of("id2"), Some("billing"));
        assert_eq!(names.len(), 1);
    }
}
