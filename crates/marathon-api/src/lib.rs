//! Marathon's REST API v2 as JSON: app definitions and how they are read, validated, normalized
//! and written back, task and instance ids, query parameters, and the response bodies clients
//! parse.
//!
//! This crate is the only place that knows these shapes on the wire. It is pure: no IO, no HTTP
//! framework, no clock (times are passed in). Field names are Marathon's camelCase; unknown
//! fields are ignored on input.
//!
//! Request flow for an app body:
//! 1. [`parse_app`] / [`parse_app_update`]: JSON syntax and types ([`ParseError`], 400/422);
//! 2. [`normalize()`] (or [`apply_update`] then [`normalize()`]): canonical ids, deprecated fields
//!    migrated, defaults applied, validated ([`ValidationError`], 422);
//! 3. [`app_json`]: the response shape, within the keys strict clients (marathon-python 0.13)
//!    accept.
//!
//! Pods (`/v2/pods`, module [`pod`]) go through [`parse_pod`], [`normalize_pod`] and [`pod_json`];
//! their status shapes are [`PodStatus`] and [`PodInstanceStatus`].

pub mod app;
pub mod endpoints;
pub mod error;
pub mod events;
pub mod group;
pub mod ids;
pub mod normalize;
pub mod output;
pub mod parse;
pub mod path;
pub mod pod;
pub mod query;
pub mod time;
pub mod update;
pub mod visible;

pub use app::AppDefinition;
pub use error::{ParseError, ValidationError, Violation};
pub use group::{GroupPatch, GroupUpdate, group_json, parse_group_patch, parse_group_update};
pub use ids::{IdError, InstanceId, TaskId};
pub use normalize::{NormalizeConfig, normalize, normalize_with};
pub use output::{
    AppExtras, DeploymentAction, DeploymentInfo, RenderedApp, TaskArray, TaskJson, TaskView, app_json, app_locked_json,
    deployment_json, deployment_result, error_json, parse_error_json, queue_item_json, validation_error_json,
    write_app_json, write_app_json_with_tasks, write_tasks,
};
pub use parse::{parse_app, parse_app_update, parse_app_updates};
pub use path::{PathId, PathIdError};
pub use pod::{
    ContainerEndpointStatus, ContainerStatus, Pod, PodContainer, PodInstanceState, PodInstanceStatus, PodState,
    PodStatus, StatusCondition, normalize_pod, parse_pod, pod_json, pod_path_mismatch, spec_reference,
};
pub use query::{Embed, GroupEmbed, LabelSelector, QueryError, parse_bool, query_bool};
pub use time::{Timestamp, format_timestamp, parse_timestamp};
pub use update::{AppUpdate, apply_update};
