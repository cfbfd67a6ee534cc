//! Server URLs: `http://host:port[/base]`, or `host:port` alone. Parsed once, when a
//! transport is made, into what each call needs: the address to connect to, the `Host`
//! header and the call path.

use super::{CALL_PATH, HttpError};
use hyper::Uri;

/// Where a server is.
#[derive(Clone, Debug)]
pub(super) struct Endpoint {
    /// The URL as the user gave it, for messages.
    pub url: String,
    /// `host:port`, to connect to.
    pub address: String,
    /// The `Host` header: the URL's authority as given.
    pub host: String,
    /// The path calls are posted to: the URL's path, then [`CALL_PATH`].
    pub call_path: String,
}

impl Endpoint {
    /// Parses `url`. Only plain HTTP: TLS belongs to a proxy in front of the server.
    pub fn parse(url: &str) -> Result<Endpoint, HttpError> {
        let invalid = |reason: &str| HttpError::InvalidUrl {
            url: url.to_owned(),
            reason: reason.to_owned(),
        };
        let uri: Uri = url
            .parse()
            .map_err(|e: hyper::http::uri::InvalidUri| invalid(&e.to_string()))?;
        match uri.scheme_str() {
            None | Some("http") => {}
            Some(other) => {
                return Err(invalid(&format!(
                    "the scheme is `{other}`, and only `http` is supported (terminate TLS in a proxy in front of the server)"
                )));
            }
        }
        let authority = uri.authority().ok_or_else(|| invalid("it names no host"))?;
        if uri.query().is_some() {
            return Err(invalid("a server URL takes no query string"));
        }
        let port = authority.port_u16().unwrap_or(80);
        let base = uri.path().trim_end_matches('/');
        Ok(Endpoint {
            url: url.to_owned(),
            address: format!("{}:{port}", authority.host()),
            host: authority.as_str().to_owned(),
            call_path: format!("{base}{CALL_PATH}"),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_with_and_without_scheme_port_and_base_path() {
        let e = Endpoint::parse("http://127.0.0.1:7233").unwrap();
        assert_eq!(
            (e.address.as_str(), e.host.as_str()),
            ("127.0.0.1:7233", "127.0.0.1:7233")
        );
        assert_eq!(e.call_path, "/v1/call");
        let e = Endpoint::parse("localhost:9000").unwrap();
        assert_eq!(e.address, "localhost:9000");
        let e = Endpoint::parse("http://engine.internal/warpflow/").unwrap();
        assert_eq!(
            (e.address.as_str(), e.call_path.as_str()),
            ("engine.internal:80", "/warpflow/v1/call")
        );
        let e = Endpoint::parse("http://[::1]:7233").unwrap();
        assert_eq!(e.address, "[::1]:7233");
    }

    #[test]
    fn unusable_urls_say_why() {
        for (url, expected) in [
            ("https://example.com", "only `http` is supported"),
            ("/just/a/path", "names no host"),
            ("http://h:1/?x=1", "no query string"),
            ("http://bad host", "invalid"),
        ] {
            let message = Endpoint::parse(url).unwrap_err().to_string();
            assert!(
                message.starts_with(&format!("invalid server URL `{url}`")),
                "{message}"
            );
            assert!(message.contains(expected), "{url}: {message}");
        }
    }
}
