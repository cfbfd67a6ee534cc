//! The registry of workflow and activity types a worker (or a replayer) knows, by name.
//!
//! Typed definitions are erased here into payload-in, payload-out functions, so the executor
//! and the engine handle every type the same way.

use crate::activity::{Activity, ActivityCtx};
use crate::failure::{ActivityError, WorkflowError};
use crate::payload::{self, Payload, PayloadError};
use crate::workflow::{Workflow, WorkflowCtx};
use futures::future::{BoxFuture, LocalBoxFuture};
use std::collections::BTreeMap;
use std::marker::PhantomData;
use std::sync::Arc;

/// A running workflow's code, erased to payloads.
pub type WorkflowFuture = LocalBoxFuture<'static, Result<Payload, WorkflowError>>;

/// A workflow type, erased to payloads.
pub trait WorkflowDefinition: Send + Sync {
    /// The type name.
    fn workflow_type(&self) -> &'static str;
    /// Decodes `input` and starts the workflow's code.
    fn start(&self, ctx: WorkflowCtx, input: &Payload) -> Result<WorkflowFuture, PayloadError>;
}

struct TypedWorkflow<W>(PhantomData<fn() -> W>);

impl<W: Workflow> WorkflowDefinition for TypedWorkflow<W> {
    fn workflow_type(&self) -> &'static str {
        W::NAME
    }

    fn start(&self, ctx: WorkflowCtx, input: &Payload) -> Result<WorkflowFuture, PayloadError> {
        let input: W::Input = payload::decode(input, || format!("input of workflow `{}`", W::NAME))?;
        Ok(Box::pin(async move {
            let output = W::run(ctx, input).await?;
            Ok(payload::encode(&output, || {
                format!("result of workflow `{}`", W::NAME)
            })?)
        }))
    }
}

/// An activity type, erased to payloads.
pub trait ActivityDefinition: Send + Sync {
    /// The type name.
    fn activity_type(&self) -> &'static str;
    /// Decodes `input` and runs one attempt.
    fn run(&self, ctx: ActivityCtx, input: Payload) -> BoxFuture<'static, Result<Payload, ActivityError>>;
}

struct TypedActivity<A>(Arc<A>);

impl<A: Activity> ActivityDefinition for TypedActivity<A> {
    fn activity_type(&self) -> &'static str {
        A::NAME
    }

    fn run(&self, ctx: ActivityCtx, input: Payload) -> BoxFuture<'static, Result<Payload, ActivityError>> {
        let activity = self.0.clone();
        Box::pin(async move {
            // A payload that does not fit will not fit on a retry either.
            let bad_payload = |e: PayloadError| ActivityError::non_retryable("PayloadError", e.to_string());
            let input: A::Input = payload::decode_owned(input, || format!("input of activity `{}`", A::NAME))
                .map_err(bad_payload)?;
            let output = activity.run(ctx, input).await?;
            payload::encode(&output, || format!("result of activity `{}`", A::NAME)).map_err(bad_payload)
        })
    }
}

/// A type name the registry does not know.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("unknown {kind} type `{name}` (registered: {})", if .known.is_empty() { "none".to_owned() } else { .known.join(", ") })]
pub struct UnknownType {
    /// "workflow" or "activity".
    pub kind: &'static str,
    /// The name asked for.
    pub name: String,
    /// The names registered.
    pub known: Vec<String>,
}

/// Workflow and activity types by name. Cheap to clone: clones share the maps (every replay,
/// worker and test environment holds one), and registering copies them only if they are
/// shared.
#[derive(Clone, Default)]
pub struct Registry {
    workflows: Arc<BTreeMap<&'static str, Arc<dyn WorkflowDefinition>>>,
    activities: Arc<BTreeMap<&'static str, Arc<dyn ActivityDefinition>>>,
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registry")
            .field("workflows", &self.workflows.keys().collect::<Vec<_>>())
            .field("activities", &self.activities.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl Registry {
    /// An empty registry.
    pub fn new() -> Registry {
        Registry::default()
    }

    /// Registers workflow type `W` (replacing one of the same name).
    pub fn register_workflow<W: Workflow>(&mut self) -> &mut Self {
        Arc::make_mut(&mut self.workflows).insert(W::NAME, Arc::new(TypedWorkflow::<W>(PhantomData)));
        self
    }

    /// Registers an activity implementation (replacing one of the same name).
    pub fn register_activity<A: Activity>(&mut self, activity: A) -> &mut Self {
        Arc::make_mut(&mut self.activities).insert(A::NAME, Arc::new(TypedActivity(Arc::new(activity))));
        self
    }

    /// Registers an activity given as an erased definition (a test kit's mock, say), under
    /// its `activity_type()`, replacing one of the same name.
    pub fn register_activity_definition(&mut self, definition: Arc<dyn ActivityDefinition>) -> &mut Self {
        Arc::make_mut(&mut self.activities).insert(definition.activity_type(), definition);
        self
    }

    /// This registry with workflow type `W`.
    pub fn with_workflow<W: Workflow>(mut self) -> Self {
        self.register_workflow::<W>();
        self
    }

    /// This registry with an activity implementation.
    pub fn with_activity<A: Activity>(mut self, activity: A) -> Self {
        self.register_activity(activity);
        self
    }

    /// The workflow type named `name`.
    pub fn workflow(&self, name: &str) -> Result<Arc<dyn WorkflowDefinition>, UnknownType> {
        self.workflows.get(name).cloned().ok_or_else(|| UnknownType {
            kind: "workflow",
            name: name.to_owned(),
            known: self.workflows.keys().map(|k| (*k).to_owned()).collect(),
        })
    }

    /// The activity type named `name`.
    pub fn activity(&self, name: &str) -> Result<Arc<dyn ActivityDefinition>, UnknownType> {
        self.activities.get(name).cloned().ok_or_else(|| UnknownType {
            kind: "activity",
            name: name.to_owned(),
            known: self.activities.keys().map(|k| (*k).to_owned()).collect(),
        })
    }

    /// Registered workflow type names, sorted.
    pub fn workflow_types(&self) -> Vec<&'static str> {
        self.workflows.keys().copied().collect()
    }

    /// Registered activity type names, sorted.
    pub fn activity_types(&self) -> Vec<&'static str> {
        self.activities.keys().copied().collect()
    }
}
