//! Header names and values of a [`Response`](crate::Response): a static string, an owned
//! one, or one shared with a cache entry, so that a cached answer is built without
//! copying (or allocating) its fields.

use std::borrow::Borrow;
use std::fmt;
use std::ops::Deref;
use std::sync::Arc;

/// A header name or value. Dereferences to `str`; cloning a static or shared one does not
/// allocate.
///
/// ```
/// use std::sync::Arc;
/// use reactor::response::HeaderValue;
///
/// let etag: HeaderValue = Arc::<str>::from("\"abc\"").into();
/// let copy = etag.clone(); // a reference count, not a copy of the string
/// assert_eq!(&*copy, "\"abc\"");
/// assert_eq!(HeaderValue::from("text/plain"), "text/plain");
/// ```
#[derive(Clone)]
pub struct HeaderValue(Repr);

#[derive(Clone)]
enum Repr {
    Static(&'static str),
    Owned(String),
    Shared(Arc<str>),
}

impl HeaderValue {
    /// The value as a string slice.
    pub fn as_str(&self) -> &str {
        match &self.0 {
            Repr::Static(s) => s,
            Repr::Owned(s) => s,
            Repr::Shared(s) => s,
        }
    }

    /// A value meant to be cloned into many responses: the text is moved into an `Arc`
    /// once, and every clone after that only counts a reference.
    pub fn shared(s: impl Into<Arc<str>>) -> Self {
        HeaderValue(Repr::Shared(s.into()))
    }

    /// An owned `String` with the same text (moves an owned one, copies the others).
    pub fn into_owned(self) -> String {
        match self.0 {
            Repr::Owned(s) => s,
            other => HeaderValue(other).as_str().to_owned(),
        }
    }
}

impl Deref for HeaderValue {
    type Target = str;
    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl AsRef<str> for HeaderValue {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

impl Borrow<str> for HeaderValue {
    fn borrow(&self) -> &str {
        self.as_str()
    }
}

impl From<&'static str> for HeaderValue {
    fn from(s: &'static str) -> Self {
        HeaderValue(Repr::Static(s))
    }
}

impl From<String> for HeaderValue {
    fn from(s: String) -> Self {
        HeaderValue(Repr::Owned(s))
    }
}

impl From<Arc<str>> for HeaderValue {
    fn from(s: Arc<str>) -> Self {
        HeaderValue(Repr::Shared(s))
    }
}

impl From<std::borrow::Cow<'static, str>> for HeaderValue {
    fn from(s: std::borrow::Cow<'static, str>) -> Self {
        match s {
            std::borrow::Cow::Borrowed(s) => s.into(),
            std::borrow::Cow::Owned(s) => s.into(),
        }
    }
}

impl fmt::Debug for HeaderValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl fmt::Display for HeaderValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl PartialEq for HeaderValue {
    fn eq(&self, other: &Self) -> bool {
        self.as_str() == other.as_str()
    }
}

impl Eq for HeaderValue {}

impl PartialEq<str> for HeaderValue {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for HeaderValue {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl PartialEq<HeaderValue> for &str {
    fn eq(&self, other: &HeaderValue) -> bool {
        *self == other.as_str()
    }
}
