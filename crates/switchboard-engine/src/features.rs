//! What the router announces in WELCOME: exactly the features that work end to end.

use switchboard_proto::names::Feature;
use switchboard_proto::{Dict, Value};

/// Broker features announced in WELCOME.
pub const BROKER_FEATURES: &[Feature] = &[
    Feature::PublisherExclusion,
    Feature::PublisherIdentification,
    Feature::SubscriberBlackwhiteListing,
    Feature::PatternBasedSubscription,
    Feature::SubscriptionRevocation,
    Feature::EventRetention,
    Feature::EventHistory,
    Feature::SubscriptionMetaApi,
    Feature::SessionMetaApi,
    Feature::PayloadPassthruMode,
];

/// Dealer features announced in WELCOME.
pub const DEALER_FEATURES: &[Feature] = &[
    Feature::ProgressiveCallResults,
    Feature::ProgressiveCallInvocations,
    Feature::CallTimeout,
    Feature::CallCanceling,
    Feature::CallerIdentification,
    Feature::PatternBasedRegistration,
    Feature::SharedRegistration,
    Feature::RegistrationRevocation,
    Feature::RegistrationMetaApi,
    Feature::SessionMetaApi,
    Feature::TestamentMetaApi,
    Feature::PayloadPassthruMode,
];

fn role(features: &[Feature]) -> Value {
    let flags: Dict = features
        .iter()
        .map(|f| (f.as_str().to_owned(), Value::Bool(true)))
        .collect();
    let mut role = Dict::new();
    if !flags.is_empty() {
        role.insert("features".into(), Value::Dict(flags));
    }
    Value::Dict(role)
}

/// `WELCOME.Details.roles`.
pub fn router_roles() -> Dict {
    let mut roles = Dict::new();
    roles.insert("broker".into(), role(BROKER_FEATURES));
    roles.insert("dealer".into(), role(DEALER_FEATURES));
    roles
}
