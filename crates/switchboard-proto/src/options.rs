//! Typed views of the Options and Details dictionaries (wamp-spec §1.3).
//!
//! Each type wraps a [`Dict`], so keys this crate does not know survive a round trip, and adds an
//! accessor per key the spec defines. Decoding a message checks the type of every known key
//! ([`Kind`]); a wrong type is a protocol violation.

use std::ops::{Deref, DerefMut};

use crate::Id;
use crate::value::{Dict, Value};

/// The type a known key must have.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// `true` or `false` (never an integer).
    Bool,
    /// A non-negative integer.
    UInt,
    /// An id in `1..=2^53`.
    Id,
    /// A string.
    Str,
    /// A list of strings.
    Strs,
    /// A list of ids.
    Ids,
    /// A dictionary.
    Dict,
    /// A list of dictionaries.
    Dicts,
    /// Any value.
    Any,
    /// One of the given strings.
    OneOf(&'static [&'static str]),
}

impl Kind {
    /// Whether `v` has this kind.
    pub fn admits(self, v: &Value) -> bool {
        match self {
            Kind::Bool => matches!(v, Value::Bool(_)),
            Kind::UInt => v.as_u64().is_some(),
            Kind::Id => v.as_id().is_some(),
            Kind::Str => v.as_str().is_some(),
            Kind::Strs => v
                .as_list()
                .is_some_and(|l| l.iter().all(|x| x.as_str().is_some())),
            Kind::Ids => v
                .as_list()
                .is_some_and(|l| l.iter().all(|x| x.as_id().is_some())),
            Kind::Dict => v.as_dict().is_some(),
            Kind::Dicts => v
                .as_list()
                .is_some_and(|l| l.iter().all(|x| x.as_dict().is_some())),
            Kind::Any => true,
            Kind::OneOf(choices) => v.as_str().is_some_and(|s| choices.contains(&s)),
        }
    }

    fn describe(self) -> String {
        match self {
            Kind::Bool => "a bool".into(),
            Kind::UInt => "a non-negative integer".into(),
            Kind::Id => "an id (1..2^53)".into(),
            Kind::Str => "a string".into(),
            Kind::Strs => "a list of strings".into(),
            Kind::Ids => "a list of ids".into(),
            Kind::Dict => "a dict".into(),
            Kind::Dicts => "a list of dicts".into(),
            Kind::Any => "any value".into(),
            Kind::OneOf(c) => format!("one of {}", c.join(", ")),
        }
    }
}

/// A known key with a value of the wrong type.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{key} must be {expected}, got {got}")]
pub struct BadKey {
    /// The key.
    pub key: &'static str,
    /// What it must be.
    pub expected: String,
    /// The type it had.
    pub got: &'static str,
}

/// Checks every key of `keys` present in `dict` against its kind.
pub fn check_keys(dict: &Dict, keys: &[(&'static str, Kind)]) -> Result<(), BadKey> {
    for &(key, kind) in keys {
        if let Some(v) = dict.get(key)
            && !kind.admits(v)
        {
            return Err(BadKey {
                key,
                expected: kind.describe(),
                got: v.type_name(),
            });
        }
    }
    Ok(())
}

macro_rules! getter_ty {
    (bool) => { Option<bool> };
    (uint) => { Option<u64> };
    (id) => { Option<Id> };
    (str) => { Option<&str> };
    (strs) => { Option<Vec<&str>> };
    (ids) => { Option<Vec<Id>> };
    (dict) => { Option<&Dict> };
    (dicts) => { Option<&[Value]> };
    (any) => { Option<&Value> };
    (oneof [$($c:literal),*]) => { Option<&str> };
}

macro_rules! getter_body {
    ($v:ident, bool) => {
        $v.as_bool()
    };
    ($v:ident, uint) => {
        $v.as_u64()
    };
    ($v:ident, id) => {
        $v.as_id()
    };
    ($v:ident, str) => {
        $v.as_str()
    };
    ($v:ident, strs) => {
        $v.as_list()
            .map(|l| l.iter().filter_map(Value::as_str).collect())
    };
    ($v:ident, ids) => {
        $v.as_list()
            .map(|l| l.iter().filter_map(Value::as_id).collect())
    };
    ($v:ident, dict) => {
        $v.as_dict()
    };
    ($v:ident, dicts) => {
        $v.as_list()
    };
    ($v:ident, any) => {
        Some($v)
    };
    ($v:ident, oneof [$($c:literal),*]) => {
        $v.as_str()
    };
}

macro_rules! kind_of {
    (bool) => { Kind::Bool };
    (uint) => { Kind::UInt };
    (id) => { Kind::Id };
    (str) => { Kind::Str };
    (strs) => { Kind::Strs };
    (ids) => { Kind::Ids };
    (dict) => { Kind::Dict };
    (dicts) => { Kind::Dicts };
    (any) => { Kind::Any };
    (oneof [$($c:literal),*]) => { Kind::OneOf(&[$($c),*]) };
}

macro_rules! dict_type {
    ($(#[$meta:meta])* $name:ident { $($getter:ident : $key:literal => $kind:ident $([$($c:literal),*])?,)* }) => {
        $(#[$meta])*
        #[derive(Clone, Debug, Default, PartialEq)]
        pub struct $name(pub Dict);

        impl $name {
            /// The keys the spec defines here, with the type each must have.
            pub const KEYS: &'static [(&'static str, Kind)] = &[$(($key, kind_of!($kind $([$($c),*])?)),)*];

            /// Wraps a dictionary after checking the type of every known key.
            pub fn from_dict(dict: Dict) -> Result<$name, BadKey> {
                check_keys(&dict, Self::KEYS)?;
                Ok($name(dict))
            }

            /// Sets a key, builder style.
            pub fn with(mut self, key: &str, value: impl Into<Value>) -> Self {
                self.0.insert(key.to_owned(), value.into());
                self
            }

            /// The dictionary.
            pub fn into_inner(self) -> Dict {
                self.0
            }

            $(
                #[doc = concat!("`", $key, "`, if present and well-typed.")]
                pub fn $getter(&self) -> getter_ty!($kind $([$($c),*])?) {
                    let v = self.0.get($key)?;
                    getter_body!(v, $kind $([$($c),*])?)
                }
            )*
        }

        impl Deref for $name {
            type Target = Dict;
            fn deref(&self) -> &Dict {
                &self.0
            }
        }

        impl DerefMut for $name {
            fn deref_mut(&mut self) -> &mut Dict {
                &mut self.0
            }
        }

        impl From<Dict> for $name {
            /// Wraps without checking; use [`Self::from_dict`] for peer input.
            fn from(d: Dict) -> $name {
                $name(d)
            }
        }
    };
}

dict_type! {
    /// `HELLO.Details`.
    HelloDetails {
        roles: "roles" => dict,
        agent: "agent" => str,
        authmethods: "authmethods" => strs,
        authid: "authid" => str,
        authextra: "authextra" => dict,
    }
}

dict_type! {
    /// `WELCOME.Details`.
    WelcomeDetails {
        roles: "roles" => dict,
        agent: "agent" => str,
        realm: "realm" => str,
        authid: "authid" => str,
        authrole: "authrole" => str,
        authmethod: "authmethod" => str,
        authprovider: "authprovider" => str,
        authextra: "authextra" => dict,
    }
}

dict_type! {
    /// `ABORT.Details` and `GOODBYE.Details`.
    CloseDetails {
        message: "message" => str,
    }
}

dict_type! {
    /// `ERROR.Details`.
    ErrorDetails {
        ppt_scheme: "ppt_scheme" => str,
        ppt_serializer: "ppt_serializer" => str,
        ppt_cipher: "ppt_cipher" => str,
        ppt_keyid: "ppt_keyid" => str,
    }
}

dict_type! {
    /// `PUBLISH.Options`.
    PublishOptions {
        acknowledge: "acknowledge" => bool,
        exclude_me: "exclude_me" => bool,
        exclude: "exclude" => ids,
        exclude_authid: "exclude_authid" => strs,
        exclude_authrole: "exclude_authrole" => strs,
        eligible: "eligible" => ids,
        eligible_authid: "eligible_authid" => strs,
        eligible_authrole: "eligible_authrole" => strs,
        disclose_me: "disclose_me" => bool,
        retain: "retain" => bool,
        rkey: "rkey" => str,
        transaction_hash: "transaction_hash" => str,
        forward_for: "forward_for" => dicts,
        x_acknowledged_delivery: "x_acknowledged_delivery" => bool,
        enc_algo: "enc_algo" => oneof["cryptobox", "mqtt", "xbr"],
        enc_serializer: "enc_serializer" => oneof["json", "msgpack", "cbor", "ubjson", "flatbuffers"],
        ppt_scheme: "ppt_scheme" => str,
        ppt_serializer: "ppt_serializer" => str,
        ppt_cipher: "ppt_cipher" => str,
        ppt_keyid: "ppt_keyid" => str,
    }
}

dict_type! {
    /// `SUBSCRIBE.Options`.
    SubscribeOptions {
        match_policy: "match" => oneof["exact", "prefix", "wildcard"],
        get_retained: "get_retained" => bool,
        nkey: "nkey" => str,
        forward_for: "forward_for" => dicts,
    }
}

dict_type! {
    /// `EVENT.Details`.
    EventDetails {
        publisher: "publisher" => id,
        publisher_authid: "publisher_authid" => str,
        publisher_authrole: "publisher_authrole" => str,
        topic: "topic" => str,
        trustlevel: "trustlevel" => uint,
        retained: "retained" => bool,
        transaction_hash: "transaction_hash" => str,
        x_acknowledged_delivery: "x_acknowledged_delivery" => bool,
        forward_for: "forward_for" => dicts,
        enc_algo: "enc_algo" => oneof["cryptobox", "mqtt", "xbr"],
        enc_serializer: "enc_serializer" => oneof["json", "msgpack", "cbor", "ubjson", "flatbuffers"],
        ppt_scheme: "ppt_scheme" => str,
        ppt_serializer: "ppt_serializer" => str,
        ppt_cipher: "ppt_cipher" => str,
        ppt_keyid: "ppt_keyid" => str,
    }
}

dict_type! {
    /// `CALL.Options`.
    CallOptions {
        receive_progress: "receive_progress" => bool,
        progress: "progress" => bool,
        timeout: "timeout" => uint,
        disclose_me: "disclose_me" => bool,
        runmode: "runmode" => str,
        rkey: "rkey" => str,
        forward_for: "forward_for" => dicts,
        ppt_scheme: "ppt_scheme" => str,
        ppt_serializer: "ppt_serializer" => str,
        ppt_cipher: "ppt_cipher" => str,
        ppt_keyid: "ppt_keyid" => str,
    }
}

dict_type! {
    /// `CANCEL.Options`.
    CancelOptions {
        mode: "mode" => oneof["skip", "kill", "killnowait"],
    }
}

dict_type! {
    /// `INTERRUPT.Options`.
    InterruptOptions {
        mode: "mode" => oneof["skip", "kill", "killnowait"],
        reason: "reason" => str,
    }
}

dict_type! {
    /// `RESULT.Details`.
    ResultDetails {
        progress: "progress" => bool,
        callee: "callee" => id,
        callee_authid: "callee_authid" => str,
        callee_authrole: "callee_authrole" => str,
        ppt_scheme: "ppt_scheme" => str,
        ppt_serializer: "ppt_serializer" => str,
        ppt_cipher: "ppt_cipher" => str,
        ppt_keyid: "ppt_keyid" => str,
    }
}

dict_type! {
    /// `REGISTER.Options`.
    RegisterOptions {
        match_policy: "match" => oneof["exact", "prefix", "wildcard"],
        invoke: "invoke" => oneof["single", "roundrobin", "random", "first", "last"],
        disclose_caller: "disclose_caller" => bool,
        forward_timeout: "forward_timeout" => bool,
        concurrency: "concurrency" => uint,
        force_reregister: "force_reregister" => bool,
        forward_for: "forward_for" => dicts,
    }
}

dict_type! {
    /// `INVOCATION.Details`.
    InvocationDetails {
        caller: "caller" => id,
        caller_authid: "caller_authid" => str,
        caller_authrole: "caller_authrole" => str,
        procedure: "procedure" => str,
        receive_progress: "receive_progress" => bool,
        progress: "progress" => bool,
        timeout: "timeout" => uint,
        trustlevel: "trustlevel" => uint,
        forward_for: "forward_for" => dicts,
        ppt_scheme: "ppt_scheme" => str,
        ppt_serializer: "ppt_serializer" => str,
        ppt_cipher: "ppt_cipher" => str,
        ppt_keyid: "ppt_keyid" => str,
    }
}

dict_type! {
    /// `YIELD.Options`.
    YieldOptions {
        progress: "progress" => bool,
        ppt_scheme: "ppt_scheme" => str,
        ppt_serializer: "ppt_serializer" => str,
        ppt_cipher: "ppt_cipher" => str,
        ppt_keyid: "ppt_keyid" => str,
    }
}

dict_type! {
    /// `UNSUBSCRIBED.Details` (subscription revocation).
    UnsubscribedDetails {
        subscription: "subscription" => id,
        reason: "reason" => str,
    }
}

dict_type! {
    /// `UNREGISTERED.Details` (registration revocation).
    UnregisteredDetails {
        registration: "registration" => id,
        reason: "reason" => str,
    }
}

/// Whether a dict marks an end-to-end encrypted or passthru payload, which may stand in the
/// `Arguments` position as a single non-list value (wamp-spec §1.2, Autobahn E2EE).
pub(crate) fn marks_opaque_payload(d: &Dict) -> bool {
    d.contains_key("enc_algo") || d.contains_key("ppt_scheme")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dict;

    #[test]
    fn accessors_read_known_keys_and_unknown_keys_survive() {
        let opts = PublishOptions::from_dict(dict! {
            "acknowledge" => true,
            "exclude" => vec![Value::UInt(5), Value::UInt(6)],
            "_x_custom" => "kept",
        })
        .unwrap();
        assert_eq!(opts.acknowledge(), Some(true));
        assert_eq!(opts.exclude_me(), None);
        assert_eq!(
            opts.exclude(),
            Some(vec![Id::new(5).unwrap(), Id::new(6).unwrap()])
        );
        assert_eq!(opts.get("_x_custom").and_then(Value::as_str), Some("kept"));
    }

    #[test]
    fn wrong_types_are_refused_with_the_key_named() {
        let err = PublishOptions::from_dict(dict! { "acknowledge" => 1u64 }).unwrap_err();
        assert_eq!(err.key, "acknowledge");
        assert!(err.to_string().contains("acknowledge"));
        assert!(SubscribeOptions::from_dict(dict! { "match" => "regex" }).is_err());
        assert!(RegisterOptions::from_dict(dict! { "invoke" => "roundrobin" }).is_ok());
        assert!(EventDetails::from_dict(dict! { "publisher" => "x" }).is_err());
    }
}
