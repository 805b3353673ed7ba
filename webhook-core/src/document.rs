//! The document a request body carries, read after verification.
//!
//! A body is a JSON document, unless the request's `content-type` is
//! `application/x-www-form-urlencoded` and the body is not JSON: then the value of its `payload` field
//! is the JSON document (GitHub hooks with `content_type: form`, Slack
//! interactivity), or, without such a field, the form's fields themselves are
//! the document (Slack slash commands: `command`, `team_id`, `trigger_id`...).
//!
//! JSON values are looked up by pointer on the raw text, so a number keeps
//! its exact digits (`98765432109876543210001` stays that, and `2.0` is not
//! `2.00000000000000001`); only the pointed-to value is taken.

use std::borrow::Cow;
use std::fmt;

use serde::de::{Deserializer as _, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::value::RawValue;

/// The media type of form-encoded bodies.
pub(crate) const FORM: &str = "application/x-www-form-urlencoded";

/// The form field whose value is the JSON document, when present.
pub(crate) const PAYLOAD_FIELD: &str = "payload";

/// Whether a `content-type` value is the form media type (parameters such
/// as `; charset=utf-8` aside, any case).
pub(crate) fn is_form(content_type: Option<&str>) -> bool {
    content_type.is_some_and(|value| {
        value
            .split(';')
            .next()
            .is_some_and(|media| media.trim().eq_ignore_ascii_case(FORM))
    })
}

/// Whether a body is read as a form: its `content-type` says so and it is
/// not itself a JSON document. (`curl -d` and many senders label JSON as a
/// form; a real form body, `payload=...` or `command=...`, is never JSON.)
pub(crate) fn reads_as_form(content_type: Option<&str>, body: &[u8]) -> bool {
    is_form(content_type) && serde_json::from_slice::<IgnoredAny>(body).is_err()
}

/// A body's document.
pub(crate) enum Document<'a> {
    /// JSON text, validated.
    Json(Cow<'a, str>),
    /// The decoded fields of a form without a `payload` field, in order.
    Form(Vec<(String, String)>),
}

/// A scalar read from a document.
pub(crate) enum Scalar {
    /// A string (unescaped) or the exact text of a number.
    Text(String),
    /// Nothing there, or `null`.
    Missing,
    /// Something that is neither a string nor a number.
    Unusable,
}

impl<'a> Document<'a> {
    /// Reads the document of `body`; `form` says whether the request was
    /// form-encoded. The error is the JSON parser's message (position and
    /// kind of problem, never the content).
    pub(crate) fn read(body: &'a [u8], form: bool) -> Result<Self, String> {
        if !form {
            let raw: &RawValue = serde_json::from_slice(body).map_err(|e| e.to_string())?;
            return Ok(Self::Json(Cow::Borrowed(raw.get())));
        }
        let mut fields: Vec<(String, String)> = form_urlencoded::parse(body).into_owned().collect();
        match fields.iter().position(|(name, _)| name == PAYLOAD_FIELD) {
            Some(at) => {
                let (_, payload) = fields.swap_remove(at);
                serde_json::from_str::<&RawValue>(&payload)
                    .map_err(|e| format!("the form field `{PAYLOAD_FIELD}`: {e}"))?;
                Ok(Self::Json(Cow::Owned(payload)))
            }
            None => Ok(Self::Form(fields)),
        }
    }

    /// The value at a JSON pointer (`/id`, `/event/type`); a form's fields
    /// are one level deep (`/command`).
    pub(crate) fn pointer(&self, pointer: &str) -> Scalar {
        match self {
            Self::Json(text) => match json_pointer(text, pointer) {
                None => Scalar::Missing,
                Some(raw) => scalar(raw),
            },
            Self::Form(fields) => {
                let mut tokens = tokens(pointer);
                match (tokens.next(), tokens.next()) {
                    (Some(Some(name)), None) => fields
                        .iter()
                        .find(|(field, _)| *field == name)
                        .map_or(Scalar::Missing, |(_, value)| Scalar::Text(value.clone())),
                    _ => Scalar::Missing,
                }
            }
        }
    }
}

/// The tokens of a JSON pointer, unescaped (`~1` is `/`, `~0` is `~`); a
/// pointer that does not start with `/` has one token, `None`.
fn tokens(pointer: &str) -> impl Iterator<Item = Option<String>> + '_ {
    let valid = pointer.starts_with('/');
    let invalid = (!valid && !pointer.is_empty()).then_some(None);
    pointer
        .split('/')
        .skip(1)
        .filter(move |_| valid)
        .map(|token| Some(token.replace("~1", "/").replace("~0", "~")))
        .chain(invalid)
}

/// The raw text of the value at `pointer` in the JSON text `text` (already
/// validated), as `serde_json::Value::pointer` would find it; each step
/// scans only the object or array it is in.
fn json_pointer<'t>(text: &'t str, pointer: &str) -> Option<&'t str> {
    let mut current: &'t str = text;
    for token in tokens(pointer) {
        let token = token?;
        let mut deserializer = serde_json::Deserializer::from_str(current);
        let found: &'t RawValue = match current.trim_start().as_bytes().first() {
            Some(b'{') => deserializer.deserialize_map(Member(&token)).ok()??,
            Some(b'[') => {
                // As serde_json: no sign, no leading zero.
                if token.starts_with('+') || (token.starts_with('0') && token.len() != 1) {
                    return None;
                }
                let index: usize = token.parse().ok()?;
                deserializer.deserialize_seq(Element(index)).ok()??
            }
            _ => return None,
        };
        current = found.get();
    }
    Some(current)
}

/// Why [`insert_member`] cannot add a value.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum InsertError {
    /// The text is not JSON.
    NotJson,
    /// The value at this pointer prefix is there but not an object.
    NotAnObject(String),
    /// The pointer is empty or not a JSON pointer.
    BadPointer,
    /// Something is already at the pointer (`null`, say).
    Present,
}

/// `text` (a JSON document) with the string `value` added at `pointer`,
/// creating the objects on the way that are missing; every byte of `text`
/// is kept, the new member is inserted right after its object's `{`.
pub(crate) fn insert_member(text: &str, pointer: &str, value: &str) -> Result<String, InsertError> {
    if serde_json::from_str::<IgnoredAny>(text).is_err() {
        return Err(InsertError::NotJson);
    }
    let tokens: Vec<String> = tokens(pointer)
        .map(|token| token.ok_or(InsertError::BadPointer))
        .collect::<Result<_, _>>()?;
    if tokens.is_empty() {
        return Err(InsertError::BadPointer);
    }
    let mut current: &str = text;
    for (depth, token) in tokens.iter().enumerate() {
        let trimmed = current.trim_start();
        if !trimmed.starts_with('{') {
            let at: String = tokens[..depth].iter().map(|t| format!("/{t}")).collect();
            return Err(InsertError::NotAnObject(at));
        }
        let mut deserializer = serde_json::Deserializer::from_str(current);
        let found: Option<&RawValue> = deserializer
            .deserialize_map(Member(token))
            .map_err(|_| InsertError::NotJson)?;
        match found {
            Some(raw) => current = raw.get(),
            None => {
                // Where this object's `{` is in `text` (`trimmed` is a part of it).
                let open = trimmed.as_ptr() as usize - text.as_ptr() as usize;
                let empty = trimmed[1..].trim_start().starts_with('}');
                let quote = |t: &str| serde_json::to_string(t).map_err(|_| InsertError::NotJson);
                let mut member = quote(value)?;
                for name in tokens[depth + 1..].iter().rev() {
                    member = format!("{{{}:{member}}}", quote(name)?);
                }
                member = format!("{}:{member}", quote(token)?);
                let mut out = String::with_capacity(text.len() + member.len() + 1);
                out.push_str(&text[..=open]);
                out.push_str(&member);
                if !empty {
                    out.push(',');
                }
                out.push_str(&text[open + 1..]);
                return Ok(out);
            }
        }
    }
    Err(InsertError::Present)
}

fn scalar(raw: &str) -> Scalar {
    let text = raw.trim();
    match text.as_bytes().first() {
        Some(b'"') => serde_json::from_str(text).map_or(Scalar::Unusable, Scalar::Text),
        Some(b'-' | b'0'..=b'9') => Scalar::Text(text.to_owned()),
        Some(b'n') => Scalar::Missing,
        _ => Scalar::Unusable,
    }
}

/// Finds one member of a JSON object (the last, when a name repeats, as
/// `serde_json::Value` keeps it), skipping the others without building them.
struct Member<'k>(&'k str);

impl<'de> Visitor<'de> for Member<'_> {
    type Value = Option<&'de RawValue>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut found = None;
        while let Some(name) = map.next_key::<Cow<'de, str>>()? {
            if name == self.0 {
                found = Some(map.next_value::<&'de RawValue>()?);
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(found)
    }
}

/// Finds one element of a JSON array, skipping the others.
struct Element(usize);

impl<'de> Visitor<'de> for Element {
    type Value = Option<&'de RawValue>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON array")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        for _ in 0..self.0 {
            if seq.next_element::<IgnoredAny>()?.is_none() {
                return Ok(None);
            }
        }
        let found = seq.next_element::<&'de RawValue>()?;
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(found)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(document: &Document<'_>, pointer: &str) -> Option<String> {
        match document.pointer(pointer) {
            Scalar::Text(text) => Some(text),
            Scalar::Missing => None,
            Scalar::Unusable => Some("<unusable>".into()),
        }
    }

    #[test]
    fn pointers_find_what_serde_json_finds() {
        let body = br#"{"a":{"b":[10,{"c":"x"},3.5],"a/b":1,"m~n":2},"a":{"b":[1,2]},"n":null,"s":"t\"u"}"#;
        let document = Document::read(body, false).unwrap();
        let value: serde_json::Value = serde_json::from_slice(body).unwrap();
        for pointer in [
            "", "/a", "/a/b", "/a/b/0", "/a/b/1", "/a/b/2", "/a/b/01", "/a/b/+1", "/n", "/s", "/x",
            "a", "/a/a~1b", "/a/m~0n",
        ] {
            let expected = match value.pointer(pointer) {
                None | Some(serde_json::Value::Null) => None,
                Some(serde_json::Value::String(s)) => Some(s.clone()),
                Some(serde_json::Value::Number(n)) => Some(n.to_string()),
                Some(_) => Some("<unusable>".into()),
            };
            assert_eq!(text(&document, pointer), expected, "{pointer}");
        }
        let exact =
            Document::read(br#"{"big":[1e400, 123456789012345678901234567890]}"#, false).unwrap();
        assert_eq!(text(&exact, "/big/0").as_deref(), Some("1e400"));
        assert_eq!(
            text(&exact, "/big/1").as_deref(),
            Some("123456789012345678901234567890")
        );
    }

    #[test]
    fn inserts_members_keeping_every_byte() {
        assert_eq!(
            insert_member("{}", "/id", "evt_1").unwrap(),
            r#"{"id":"evt_1"}"#
        );
        assert_eq!(
            insert_member(" { \"n\" : 1 } ", "/type", "a\"b").unwrap(),
            r#" {"type":"a\"b", "n" : 1 } "#
        );
        assert_eq!(
            insert_member(r#"{"type":"event_callback"}"#, "/event/type", "app_mention").unwrap(),
            r#"{"event":{"type":"app_mention"},"type":"event_callback"}"#
        );
        assert_eq!(
            insert_member(r#"{"event":{ },"a":[1]}"#, "/event/a~1b", "x").unwrap(),
            r#"{"event":{"a/b":"x" },"a":[1]}"#
        );
        assert_eq!(
            insert_member("[1]", "/id", "x"),
            Err(InsertError::NotAnObject(String::new()))
        );
        assert_eq!(
            insert_member(r#"{"event":3}"#, "/event/type", "x"),
            Err(InsertError::NotAnObject("/event".into()))
        );
        assert_eq!(
            insert_member(r#"{"id":null}"#, "/id", "x"),
            Err(InsertError::Present)
        );
        assert_eq!(insert_member("{", "/id", "x"), Err(InsertError::NotJson));
        assert_eq!(insert_member("{}", "", "x"), Err(InsertError::BadPointer));
        let inserted = insert_member(r#"{"a":{"b":1}}"#, "/a/c", "2").unwrap();
        let document = Document::read(inserted.as_bytes(), false).unwrap();
        assert_eq!(text(&document, "/a/c").as_deref(), Some("2"));
        assert_eq!(text(&document, "/a/b").as_deref(), Some("1"));
    }

    #[test]
    fn forms_carry_json_in_payload_or_are_the_document() {
        let document =
            Document::read(b"payload=%7B%22action%22%3A%22opened%22%7D&x=1", true).unwrap();
        assert_eq!(text(&document, "/action").as_deref(), Some("opened"));
        assert_eq!(text(&document, "/x"), None);

        let document = Document::read(b"command=%2Fdeploy&text=a+b&team_id=T1", true).unwrap();
        assert_eq!(text(&document, "/command").as_deref(), Some("/deploy"));
        assert_eq!(text(&document, "/text").as_deref(), Some("a b"));
        assert_eq!(text(&document, "/team_id/x"), None);

        assert!(Document::read(b"payload=%7Bnot", true).is_err());
        assert!(reads_as_form(Some(FORM), b"payload=%7B%7D"));
        assert!(!reads_as_form(Some(FORM), br#"{"type":"a"}"#));
        assert!(!reads_as_form(Some("application/json"), b"a=b"));
        assert!(is_form(Some(
            "Application/X-WWW-Form-Urlencoded; charset=utf-8"
        )));
        assert!(!is_form(Some("application/json")));
        assert!(!is_form(None));
    }
}
