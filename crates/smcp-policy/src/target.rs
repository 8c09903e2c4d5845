//! What a JSON-RPC request asks for, as a policy sees it: a tool (`tools/call`, by
//! `params.name`), a prompt (`prompts/get`, by `params.name`), a resource (`resources/read`, by
//! `params.uri`), or, for every other method, the method itself.

use std::borrow::Cow;

use serde::Deserialize;

/// The thing a request would use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target<'a> {
    /// `tools/call` of this tool.
    Tool(Cow<'a, str>),
    /// `prompts/get` of this prompt.
    Prompt(Cow<'a, str>),
    /// `resources/read` of this URI.
    Resource(Cow<'a, str>),
    /// Any other method (including a `tools/call`, `prompts/get` or `resources/read` that names
    /// nothing: the backend answers it as invalid).
    Method(&'a str),
}

/// A request whose `params` could not be read: not valid JSON-RPC params for its method (a
/// name that is not a string, a member given twice). Refused rather than guessed at: the
/// backend might read such a message differently from smcp.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the request's params cannot be read: {0}")]
pub struct TargetError(String);

#[derive(Deserialize)]
struct Envelope<'a> {
    #[serde(borrow, default)]
    params: Option<Params<'a>>,
}

#[derive(Deserialize)]
struct Params<'a> {
    #[serde(borrow, default)]
    name: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    uri: Option<Cow<'a, str>>,
}

impl<'a> Target<'a> {
    /// The target of a request with `method`, whose whole message is `message` (a JSON object;
    /// only `params.name` or `params.uri` is read, and only for the three methods that name
    /// something).
    ///
    /// # Errors
    ///
    /// [`TargetError`] when `params` of such a method is not an object with string members.
    pub fn of(method: &'a str, message: &'a [u8]) -> Result<Self, TargetError> {
        let member = match method {
            "tools/call" | "prompts/get" => Member::Name,
            "resources/read" => Member::Uri,
            _ => return Ok(Target::Method(method)),
        };
        let envelope: Envelope<'a> =
            serde_json::from_slice(message).map_err(|e| TargetError(e.to_string()))?;
        let params = envelope.params;
        let named = match member {
            Member::Name => params.and_then(|p| p.name),
            Member::Uri => params.and_then(|p| p.uri),
        };
        Ok(match (method, named) {
            (_, None) => Target::Method(method),
            ("tools/call", Some(name)) => Target::Tool(name),
            ("prompts/get", Some(name)) => Target::Prompt(name),
            (_, Some(uri)) => Target::Resource(uri),
        })
    }

    /// The JSON-RPC method this target comes from.
    pub fn method(&self) -> &str {
        match self {
            Target::Tool(_) => "tools/call",
            Target::Prompt(_) => "prompts/get",
            Target::Resource(_) => "resources/read",
            Target::Method(method) => method,
        }
    }
}

enum Member {
    Name,
    Uri,
}

#[cfg(test)]
mod tests {
    use super::Target;

    #[test]
    fn tools_prompts_and_resources_are_named_and_the_rest_is_the_method() {
        let call = br#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"ec\u0068o","arguments":{"name":"x"}}}"#;
        assert_eq!(
            Target::of("tools/call", call).unwrap(),
            Target::Tool("echo".into())
        );
        let prompt = br#"{"jsonrpc":"2.0","id":1,"method":"prompts/get","params":{"name":"p"}}"#;
        assert_eq!(
            Target::of("prompts/get", prompt).unwrap(),
            Target::Prompt("p".into())
        );
        let read =
            br#"{"jsonrpc":"2.0","id":1,"method":"resources/read","params":{"uri":"file:///a"}}"#;
        assert_eq!(
            Target::of("resources/read", read).unwrap(),
            Target::Resource("file:///a".into())
        );
        let ping = br#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#;
        assert_eq!(Target::of("ping", ping).unwrap(), Target::Method("ping"));
        let nameless = br#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{}}"#;
        assert_eq!(
            Target::of("tools/call", nameless).unwrap(),
            Target::Method("tools/call")
        );
    }

    #[test]
    fn params_that_could_be_read_two_ways_are_refused() {
        let twice = br#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","name":"admin"}}"#;
        assert!(Target::of("tools/call", twice).is_err());
        let number = br#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":7}}"#;
        assert!(Target::of("tools/call", number).is_err());
        let params_twice = br#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo"},"params":{"name":"admin"}}"#;
        assert!(Target::of("tools/call", params_twice).is_err());
    }
}
