//! The spec's fixed tables, each written once: message codes, predefined error and close URIs
//! (wamp-spec §2.3) and feature flags (§3.4).

use std::fmt;

/// Declares an enum whose variants map to fixed strings, with parsing and `Display`.
macro_rules! string_table {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident = $text:literal,)* }) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        #[non_exhaustive]
        pub enum $name {
            $($(#[$vmeta])* #[doc = concat!("`", $text, "`")] $variant,)*
        }

        impl $name {
            /// Every entry of the table.
            pub const ALL: &'static [$name] = &[$($name::$variant,)*];

            /// The wire string.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text,)*
                }
            }

            /// The entry for a wire string, if it is in the table.
            pub fn parse(text: &str) -> Option<$name> {
                match text {
                    $($text => Some($name::$variant),)*
                    _ => None,
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                self.as_str()
            }
        }
    };
}

string_table! {
    /// Predefined error URIs (`wamp.error.*`).
    ErrorUri {
        InvalidUri = "wamp.error.invalid_uri",
        NoSuchProcedure = "wamp.error.no_such_procedure",
        ProcedureAlreadyExists = "wamp.error.procedure_already_exists",
        NoSuchRegistration = "wamp.error.no_such_registration",
        NoSuchSubscription = "wamp.error.no_such_subscription",
        InvalidArgument = "wamp.error.invalid_argument",
        Canceled = "wamp.error.canceled",
        PayloadSizeExceeded = "wamp.error.payload_size_exceeded",
        ProtocolViolation = "wamp.error.protocol_violation",
        NotAuthorized = "wamp.error.not_authorized",
        AuthorizationFailed = "wamp.error.authorization_failed",
        NoSuchRealm = "wamp.error.no_such_realm",
        NoSuchRole = "wamp.error.no_such_role",
        NoMatchingAuthMethod = "wamp.error.no_matching_auth_method",
        NoSuchPrincipal = "wamp.error.no_such_principal",
        AuthenticationDenied = "wamp.error.authentication_denied",
        AuthenticationFailed = "wamp.error.authentication_failed",
        AuthenticationRequired = "wamp.error.authentication_required",
        AuthorizationDenied = "wamp.error.authorization_denied",
        AuthorizationRequired = "wamp.error.authorization_required",
        Timeout = "wamp.error.timeout",
        OptionNotAllowed = "wamp.error.option_not_allowed",
        OptionDisallowedDiscloseMe = "wamp.error.option_disallowed.disclose_me",
        NetworkFailure = "wamp.error.network_failure",
        Unavailable = "wamp.error.unavailable",
        NoAvailableCallee = "wamp.error.no_available_callee",
        FeatureNotSupported = "wamp.error.feature_not_supported",
        NoSuchSession = "wamp.error.no_such_session",
    }
}

impl ErrorUri {
    /// Parses an error URI, also accepting the spellings other implementations send
    /// (`wamp.error.cancelled`); [`ErrorUri::as_str`] always gives the spec's.
    pub fn parse_lenient(text: &str) -> Option<ErrorUri> {
        match text {
            "wamp.error.cancelled" => Some(ErrorUri::Canceled),
            _ => ErrorUri::parse(text),
        }
    }
}

string_table! {
    /// Predefined close reasons for GOODBYE and ABORT (`wamp.close.*`).
    CloseReason {
        SystemShutdown = "wamp.close.system_shutdown",
        CloseRealm = "wamp.close.close_realm",
        GoodbyeAndOut = "wamp.close.goodbye_and_out",
        Killed = "wamp.close.killed",
        Normal = "wamp.close.normal",
    }
}

string_table! {
    /// Feature flags announced under `roles.<role>.features` in HELLO and WELCOME.
    Feature {
        ProgressiveCallResults = "progressive_call_results",
        ProgressiveCallInvocations = "progressive_call_invocations",
        CallTimeout = "call_timeout",
        CallCanceling = "call_canceling",
        CallerIdentification = "caller_identification",
        CallTrustlevels = "call_trustlevels",
        PatternBasedRegistration = "pattern_based_registration",
        SharedRegistration = "shared_registration",
        ShardedRegistration = "sharded_registration",
        RegistrationRevocation = "registration_revocation",
        CallReroute = "call_reroute",
        RegistrationMetaApi = "registration_meta_api",
        SubscriberBlackwhiteListing = "subscriber_blackwhite_listing",
        PublisherExclusion = "publisher_exclusion",
        PublisherIdentification = "publisher_identification",
        PublicationTrustlevels = "publication_trustlevels",
        PatternBasedSubscription = "pattern_based_subscription",
        ShardedSubscriptions = "shareded_subscriptions",
        EventHistory = "event_history",
        EventRetention = "event_retention",
        SubscriptionRevocation = "subscription_revocation",
        SubscriptionMetaApi = "subscription_meta_api",
        SessionMetaApi = "session_meta_api",
        TestamentMetaApi = "testament_meta_api",
        PayloadPassthruMode = "payload_passthru_mode",
        AcknowledgedEventDelivery = "x_acknowledged_event_delivery",
    }
}

impl Feature {
    /// Parses a feature flag, also accepting known misspellings (`call_cancelling`).
    pub fn parse_lenient(text: &str) -> Option<Feature> {
        match text {
            "call_cancelling" => Some(Feature::CallCanceling),
            _ => Feature::parse(text),
        }
    }
}

string_table! {
    /// Client roles (in HELLO) and router roles (in WELCOME).
    Role {
        Caller = "caller",
        Callee = "callee",
        Publisher = "publisher",
        Subscriber = "subscriber",
        Dealer = "dealer",
        Broker = "broker",
    }
}

/// Declares the message-type table: variant, code, name.
macro_rules! message_types {
    ($($variant:ident = $code:literal, $name:literal;)*) => {
        /// A WAMP message type and its code (wamp-spec §1.2).
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        #[non_exhaustive]
        pub enum MessageType {
            $(#[doc = concat!("`", $name, "` (", stringify!($code), ")")] $variant,)*
        }

        impl MessageType {
            /// Every message type.
            pub const ALL: &'static [MessageType] = &[$(MessageType::$variant,)*];

            /// The numeric code.
            pub const fn code(self) -> u64 {
                match self {
                    $(MessageType::$variant => $code,)*
                }
            }

            /// The message type for a code, if it is one.
            pub const fn from_code(code: u64) -> Option<MessageType> {
                match code {
                    $($code => Some(MessageType::$variant),)*
                    _ => None,
                }
            }

            /// The spec's upper-case name, e.g. `PUBLISH`.
            pub const fn name(self) -> &'static str {
                match self {
                    $(MessageType::$variant => $name,)*
                }
            }
        }

        impl fmt::Display for MessageType {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.name())
            }
        }
    };
}

message_types! {
    Hello = 1, "HELLO";
    Welcome = 2, "WELCOME";
    Abort = 3, "ABORT";
    Challenge = 4, "CHALLENGE";
    Authenticate = 5, "AUTHENTICATE";
    Goodbye = 6, "GOODBYE";
    Error = 8, "ERROR";
    Publish = 16, "PUBLISH";
    Published = 17, "PUBLISHED";
    Subscribe = 32, "SUBSCRIBE";
    Subscribed = 33, "SUBSCRIBED";
    Unsubscribe = 34, "UNSUBSCRIBE";
    Unsubscribed = 35, "UNSUBSCRIBED";
    Event = 36, "EVENT";
    Call = 48, "CALL";
    Cancel = 49, "CANCEL";
    Result = 50, "RESULT";
    Register = 64, "REGISTER";
    Registered = 65, "REGISTERED";
    Unregister = 66, "UNREGISTER";
    Unregistered = 67, "UNREGISTERED";
    Invocation = 68, "INVOCATION";
    Interrupt = 69, "INTERRUPT";
    Yield = 70, "YIELD";
    EventReceived = 337, "EVENT_RECEIVED";
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_round_trip_through_their_strings() {
        for e in ErrorUri::ALL {
            assert_eq!(ErrorUri::parse(e.as_str()), Some(*e));
        }
        for f in Feature::ALL {
            assert_eq!(Feature::parse(f.as_str()), Some(*f));
        }
        for t in MessageType::ALL {
            assert_eq!(MessageType::from_code(t.code()), Some(*t));
        }
    }

    #[test]
    fn both_cancel_spellings_are_accepted_and_the_spec_one_is_sent() {
        assert_eq!(
            ErrorUri::parse_lenient("wamp.error.cancelled"),
            Some(ErrorUri::Canceled)
        );
        assert_eq!(ErrorUri::Canceled.as_str(), "wamp.error.canceled");
        assert_eq!(
            Feature::parse_lenient("call_cancelling"),
            Some(Feature::CallCanceling)
        );
    }

    #[test]
    fn heartbeat_is_not_a_message_type() {
        assert_eq!(MessageType::from_code(7), None);
        assert_eq!(MessageType::Event.code(), 36);
        assert_eq!(MessageType::EventReceived.name(), "EVENT_RECEIVED");
    }
}
