//! Pages as HTML text: one frame for every page, every value escaped on the way in, and the
//! headers that keep a page from being framed, sniffed, cached or made to run a script.
//!
//! The pages carry no script and no inline style: the Content-Security-Policy allows the
//! console's own stylesheet and nothing else to load, and forms to post only back here.

use http::{HeaderValue, Response, StatusCode, header};

/// No script, no inline style, no frames, forms back to this origin only.
pub const CSP: &str = "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; \
                       frame-ancestors 'none'; base-uri 'none'";

/// The console's stylesheet, compiled in.
pub const STYLE: &str = include_str!("style.css");

/// `text` with `&`, `<`, `>`, `"` and `'` written as entities: safe in text and in a quoted
/// attribute.
pub fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A whole page: `title` (escaped here) and `body` (HTML the caller escaped), with who is
/// signed in and a sign-out form when someone is.
pub fn page(title: &str, signed_in: Option<(&str, &str)>, body: &str) -> String {
    let who = match signed_in {
        Some((user, csrf)) => format!(
            "<form method=\"post\" action=\"/console/sign-out\" class=\"who\">Signed in as <b>{}</b> \
             <input type=\"hidden\" name=\"csrf\" value=\"{}\"><button>Sign out</button></form>",
            esc(user),
            esc(csrf)
        ),
        None => String::new(),
    };
    format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{} · Portcullis</title>\
         <link rel=\"stylesheet\" href=\"/console/style.css\"></head>\n<body><header><a href=\"/console/orgs\" \
         class=\"brand\">Portcullis</a>{who}</header>\n<main><h1>{}</h1>\n{body}</main></body></html>\n",
        esc(title),
        esc(title)
    )
}

/// A response with the console's headers: no caching, no framing, no sniffing, the CSP.
pub fn respond(status: StatusCode, content_type: &'static str, body: Vec<u8>) -> Response<Vec<u8>> {
    let mut r = Response::new(body);
    *r.status_mut() = status;
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("same-origin"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

/// An HTML page with `status`.
pub fn html(status: StatusCode, text: String) -> Response<Vec<u8>> {
    respond(status, "text/html; charset=utf-8", text.into_bytes())
}

/// `303 See Other` to `to` (a path of the console), with `cookie` set if given.
pub fn redirect(to: &str, cookie: Option<&str>) -> Response<Vec<u8>> {
    let mut r = respond(StatusCode::SEE_OTHER, "text/plain; charset=utf-8", Vec::new());
    if let Ok(v) = HeaderValue::from_str(to) {
        r.headers_mut().insert(header::LOCATION, v);
    }
    if let Some(v) = cookie.and_then(|c| HeaderValue::from_str(c).ok()) {
        r.headers_mut().append(header::SET_COOKIE, v);
    }
    r
}

/// The hidden input that carries the session's CSRF token (every form has one).
pub fn csrf(token: &str) -> String {
    format!("<input type=\"hidden\" name=\"csrf\" value=\"{}\">", esc(token))
}

/// A form of hidden `fields` and one button: a row's "Remove", "Confirm", "Revoke".
pub fn button(action: &str, token: &str, fields: &[(&str, &str)], label: &str) -> String {
    let mut out = format!("<form method=\"post\" action=\"{}\" class=\"inline\">{}", esc(action), csrf(token));
    for (k, v) in fields {
        out.push_str(&format!("<input type=\"hidden\" name=\"{}\" value=\"{}\">", esc(k), esc(v)));
    }
    out.push_str(&format!("<button>{}</button></form>", esc(label)));
    out
}

/// A `<select>` named `name` of `options` (value, label), with `selected` chosen.
pub fn select<'o>(name: &str, options: impl IntoIterator<Item = (&'o str, &'o str)>, selected: &str) -> String {
    let mut out = format!("<select name=\"{}\" id=\"{}\">", esc(name), esc(name));
    for (value, label) in options {
        let on = if value == selected { " selected" } else { "" };
        out.push_str(&format!("<option value=\"{}\"{on}>{}</option>", esc(value), esc(label)));
    }
    out.push_str("</select>");
    out
}

/// A message above a page's forms: what a change was refused with, or what it gave.
pub fn said(message: &str, error: bool) -> String {
    format!("<p class=\"{}\" role=\"status\">{}</p>\n", if error { "error" } else { "done" }, esc(message))
}

/// `text` written for a URL's query or path segment.
pub fn url(text: &str) -> String {
    percent_encoding::utf8_percent_encode(text, percent_encoding::NON_ALPHANUMERIC).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_cannot_break_out_of_text_or_attributes() {
        assert_eq!(
            esc(r#"<a href="x" onclick='y'>&</a>"#),
            "&lt;a href=&quot;x&quot; onclick=&#39;y&#39;&gt;&amp;&lt;/a&gt;"
        );
        let p = page("<script>", Some(("\"dave\"", "t")), "");
        assert!(!p.contains("<script>") && p.contains("&lt;script&gt;") && p.contains("&quot;dave&quot;"));
    }
}
