//! Application payloads (`Arguments|list`, `ArgumentsKw|dict`) without decoding what is only
//! forwarded (ARCHITECTURE.md, decision 2).
//!
//! A decoded message keeps its payload as slices of the received frame, tagged with the format
//! they are in. Written back in the same format, those bytes are copied as they are; written in
//! another format, they are decoded to [`Value`]s and encoded again (transcoding, which applies
//! the JSON binary convention both ways). A payload built by a program holds values.

use bytes::Bytes;

use crate::codec::{CodecError, Format, Shape, Writer};
use crate::value::{Dict, Value};

/// The payload of a PUBLISH, EVENT, CALL, INVOCATION, YIELD, RESULT, ERROR or ABORT.
#[derive(Clone, Debug, Default)]
pub struct Payload(Repr);

#[derive(Clone, Debug, Default)]
enum Repr {
    #[default]
    Empty,
    /// Encoded elements as received. `args` is a list, or a single opaque value where the
    /// message marks an end-to-end encrypted / passthru payload.
    Raw {
        format: Format,
        args: Option<Bytes>,
        kwargs: Option<Bytes>,
    },
    Values {
        args: Vec<Value>,
        kwargs: Dict,
    },
    /// A single non-list value in the `Arguments` position (E2EE / passthru).
    Opaque(Value),
}

/// A payload decoded into values.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PayloadValues {
    /// Positional arguments.
    pub args: Vec<Value>,
    /// Keyword arguments.
    pub kwargs: Dict,
    /// The opaque value in the `Arguments` position, for E2EE / passthru payloads.
    pub opaque: Option<Value>,
}

impl Payload {
    /// No arguments.
    pub fn empty() -> Payload {
        Payload(Repr::Empty)
    }

    /// Positional and keyword arguments.
    pub fn new(args: Vec<Value>, kwargs: Dict) -> Payload {
        if args.is_empty() && kwargs.is_empty() {
            Payload::empty()
        } else {
            Payload(Repr::Values { args, kwargs })
        }
    }

    /// Positional arguments only.
    pub fn args(args: Vec<Value>) -> Payload {
        Payload::new(args, Dict::new())
    }

    /// A single opaque value in the `Arguments` position (end-to-end encrypted or passthru).
    pub fn opaque(value: Value) -> Payload {
        Payload(Repr::Opaque(value))
    }

    /// Raw elements received in `format`; `shape` checks were done by the caller.
    pub(crate) fn raw(format: Format, args: Option<Bytes>, kwargs: Option<Bytes>) -> Payload {
        if args.is_none() && kwargs.is_none() {
            Payload::empty()
        } else {
            Payload(Repr::Raw {
                format,
                args,
                kwargs,
            })
        }
    }

    /// Whether there is nothing to carry.
    pub fn is_empty(&self) -> bool {
        matches!(self.0, Repr::Empty)
    }

    /// The format of the raw bytes this payload holds, if it holds any (it was received and
    /// not decoded).
    pub fn raw_format(&self) -> Option<Format> {
        match self.0 {
            Repr::Raw { format, .. } => Some(format),
            _ => None,
        }
    }

    /// The raw encoded `args` and `kwargs` elements, if this payload holds raw bytes.
    pub fn raw_parts(&self) -> Option<(Format, Option<&Bytes>, Option<&Bytes>)> {
        match &self.0 {
            Repr::Raw {
                format,
                args,
                kwargs,
            } => Some((*format, args.as_ref(), kwargs.as_ref())),
            _ => None,
        }
    }

    /// Decodes the payload into values.
    pub fn to_values(&self) -> Result<PayloadValues, CodecError> {
        match &self.0 {
            Repr::Empty => Ok(PayloadValues::default()),
            Repr::Values { args, kwargs } => Ok(PayloadValues {
                args: args.clone(),
                kwargs: kwargs.clone(),
                opaque: None,
            }),
            Repr::Opaque(v) => Ok(PayloadValues {
                opaque: Some(v.clone()),
                ..PayloadValues::default()
            }),
            Repr::Raw {
                format,
                args,
                kwargs,
            } => {
                let mut out = PayloadValues::default();
                if let Some(a) = args {
                    match format.decode_value(a)? {
                        Value::List(items) => out.args = items,
                        other => out.opaque = Some(other),
                    }
                }
                if let Some(k) = kwargs {
                    match format.decode_value(k)? {
                        Value::Dict(d) => out.kwargs = d,
                        other => {
                            return Err(CodecError::new(
                                *format,
                                format_args!("kwargs must be a dict, got {}", other.type_name()),
                            ));
                        }
                    }
                }
                Ok(out)
            }
        }
    }

    /// A payload holding decoded values (decodes raw bytes once).
    pub fn into_values(self) -> Result<Payload, CodecError> {
        match self.0 {
            Repr::Raw { .. } => {
                let v = self.to_values()?;
                Ok(match v.opaque {
                    Some(o) => Payload::opaque(o),
                    None => Payload::new(v.args, v.kwargs),
                })
            }
            _ => Ok(self),
        }
    }

    /// How many array elements this payload takes when written in `format`.
    pub(crate) fn element_count(&self) -> usize {
        match &self.0 {
            Repr::Empty => 0,
            Repr::Raw { kwargs, .. } => 1 + usize::from(kwargs.is_some()),
            Repr::Values { kwargs, .. } => 1 + usize::from(!kwargs.is_empty()),
            Repr::Opaque(_) => 1,
        }
    }

    /// Writes the payload elements: raw bytes when the formats agree, values otherwise.
    pub(crate) fn write(&self, w: &mut Writer) -> Result<(), CodecError> {
        match &self.0 {
            Repr::Empty => Ok(()),
            Repr::Raw {
                format,
                args,
                kwargs,
            } if *format == w.format() => {
                match args {
                    Some(a) => w.raw(a),
                    // kwargs without args: the spec wants an empty list in front
                    None => w.value(&Value::List(Vec::new()))?,
                }
                if let Some(k) = kwargs {
                    w.raw(k);
                }
                Ok(())
            }
            Repr::Raw {
                format,
                args,
                kwargs,
            } => {
                match args {
                    Some(a) => w.value(&format.decode_value(a)?)?,
                    None => w.value(&Value::List(Vec::new()))?,
                }
                if let Some(k) = kwargs {
                    w.value(&format.decode_value(k)?)?;
                }
                Ok(())
            }
            Repr::Values { args, kwargs } => {
                w.list(args)?;
                if !kwargs.is_empty() {
                    w.dict(kwargs)?;
                }
                Ok(())
            }
            Repr::Opaque(v) => w.value(v),
        }
    }
}

/// Payloads are equal when their values are, however they are held.
impl PartialEq for Payload {
    fn eq(&self, other: &Payload) -> bool {
        match (self.to_values(), other.to_values()) {
            (Ok(a), Ok(b)) => a == b,
            _ => false,
        }
    }
}

/// Checks that raw payload elements have the shapes the spec allows.
pub(crate) fn check_raw_shapes(
    format: Format,
    args: Option<&Bytes>,
    kwargs: Option<&Bytes>,
    opaque_allowed: bool,
) -> Result<(), &'static str> {
    if let Some(a) = args
        && format.shape_of(a) != Shape::List
        && !opaque_allowed
    {
        return Err("Arguments must be a list");
    }
    if let Some(k) = kwargs
        && format.shape_of(k) != Shape::Dict
    {
        return Err("ArgumentsKw must be a dict");
    }
    Ok(())
}
