//! What a page is sent: an `application/x-www-form-urlencoded` body (bounded, and checked
//! against the session's CSRF token before anything in it is used), or a query string.

use http::{Response, StatusCode};
use http_body_util::BodyExt as _;

use super::html::{self, page};
use super::session::{Session, same};
use super::{MAX_FORM, signed_in};

/// A form's or a query's pairs, in order, decoded.
pub type Fields = Vec<(String, String)>;

/// The first value of `name`, if it is there and not empty.
pub fn field<'f>(fields: &'f [(String, String)], name: &str) -> Option<&'f str> {
    fields.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str()).filter(|v| !v.is_empty())
}

/// Every value of `name` (a group of checkboxes).
pub fn all<'f>(fields: &'f [(String, String)], name: &'f str) -> impl Iterator<Item = &'f str> + 'f {
    fields.iter().filter(move |(k, _)| k == name).map(|(_, v)| v.as_str())
}

/// `a=1&b=2`, decoded (`+` is a space).
pub fn pairs(text: &str) -> Fields {
    let decode = |s: &str| percent_encoding::percent_decode_str(&s.replace('+', " ")).decode_utf8_lossy().into_owned();
    text.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| match p.split_once('=') {
            Some((k, v)) => (decode(k), decode(v)),
            None => (decode(p), String::new()),
        })
        .collect()
}

/// A form body, at most [`MAX_FORM`] bytes.
pub async fn read(body: hyper::body::Incoming) -> Result<Fields, Response<Vec<u8>>> {
    match http_body_util::Limited::new(body, MAX_FORM).collect().await {
        Ok(c) => Ok(pairs(&String::from_utf8_lossy(&c.to_bytes()))),
        Err(_) => {
            let text = format!("<p>The form is over {MAX_FORM} bytes or could not be read.</p>");
            Err(html::html(StatusCode::BAD_REQUEST, page("Bad request", None, &text)))
        }
    }
}

/// A session's form: read as [`read`] does, refused unless it carries the session's CSRF
/// token.
pub async fn checked(body: hyper::body::Incoming, session: &Session) -> Result<Fields, Response<Vec<u8>>> {
    let fields = read(body).await?;
    match field(&fields, "csrf").is_some_and(|t| same(t, &session.csrf)) {
        true => Ok(fields),
        false => Err(refused(session)),
    }
}

fn refused(session: &Session) -> Response<Vec<u8>> {
    let body = "<p class=\"error\">That form was not from this session (its CSRF token is missing or wrong): \
                reload the page and try again.</p>";
    html::html(StatusCode::FORBIDDEN, page("Refused", signed_in(session), body))
}

/// The form's `until` field: when a grant stops counting, an RFC 3339 instant after `now`;
/// `None` when the field is empty (a grant that does not end).
pub fn until(fields: &[(String, String)], now: i64) -> Result<Option<i64>, String> {
    let Some(text) = field(fields, "until").map(str::trim).filter(|t| !t.is_empty()) else { return Ok(None) };
    let at = crate::instant::parse(text).map_err(|e| format!("'until': {e} (for example 2027-01-31T00:00:00Z)"))?;
    if at <= now {
        return Err(format!(
            "'until': {} is not in the future: give a later instant, or none for a grant that does not end",
            crate::instant::render(at)
        ));
    }
    Ok(Some(at))
}

/// What the audit log records of a console change: the form as sent, without its CSRF token,
/// and that it came through the console.
pub fn detail(fields: &[(String, String)]) -> String {
    let mut out = serde_json::Map::new();
    out.insert("via".into(), "console".into());
    for (k, v) in fields.iter().filter(|(k, _)| k != "csrf") {
        match out.get_mut(k) {
            Some(serde_json::Value::Array(list)) => list.push(v.as_str().into()),
            Some(first) => *first = serde_json::Value::Array(vec![first.take(), v.as_str().into()]),
            None => {
                out.insert(k.clone(), v.as_str().into());
            }
        }
    }
    serde_json::Value::Object(out).to_string()
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing, reason = "tests")]
mod tests {
    use super::*;

    #[test]
    fn a_form_is_decoded_and_its_audit_detail_drops_the_csrf_token() {
        let f =
            pairs("csrf=t0k&create=Deployer&project%3Acontainers=create&project%3Acontainers=update&x=a+b%26c&flag");
        assert_eq!(field(&f, "x"), Some("a b&c"));
        assert_eq!(field(&f, "flag"), None, "an empty value is no value");
        assert_eq!(all(&f, "project:containers").collect::<Vec<_>>(), ["create", "update"]);
        let d: serde_json::Value = serde_json::from_str(&detail(&f)).unwrap();
        assert_eq!(
            d,
            serde_json::json!({ "via": "console", "create": "Deployer", "project:containers": ["create", "update"],
                                "x": "a b&c", "flag": "" })
        );
    }

    #[test]
    fn until_is_an_instant_after_now_or_nothing() {
        let f = |v: &str| vec![("until".to_string(), v.to_string())];
        assert_eq!(until(&f(""), 100), Ok(None));
        assert_eq!(until(&f("1970-01-01T00:10:00Z"), 100), Ok(Some(600)));
        assert!(until(&f("1970-01-01T00:00:10Z"), 100).unwrap_err().contains("not in the future"));
        assert!(until(&f("soon"), 100).unwrap_err().contains("2027-01-31T00:00:00Z"));
    }
}
